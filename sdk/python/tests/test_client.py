from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from ephemail import AsyncEphemail, Ephemail, EphemailError


@pytest.fixture
def mail(server) -> Ephemail:
    with Ephemail(server.url, server.api_key) as client:
        yield client


def later(seconds: float, action) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()))
    thread.start()
    return thread


def test_create_inbox_defaults_to_the_first_served_domain(mail):
    inbox = mail.create_inbox(ttl_seconds=600, tags=["signup"])
    assert inbox.address.endswith("@localhost")
    assert inbox.token
    assert isinstance(inbox.expires_at, datetime)
    assert (inbox.expires_at - datetime.now(timezone.utc)).total_seconds() > 590
    assert inbox.tags == ["signup"]
    extended = mail.extend_inbox(id=inbox.id, ttl_seconds=1200)
    assert extended.expires_at > inbox.expires_at
    assert extended.token, "a fresh token, valid until the new expiry"
    mail.delete_inbox(inbox.id)
    with pytest.raises(EphemailError) as error:
        mail.delete_inbox(inbox.id)
    assert error.value.code == "NOT_FOUND"


def test_a_wait_started_before_the_mail_arrives_returns_it_with_code_and_link(server, mail):
    inbox = mail.create_inbox(domain="localhost", ttl_seconds=600)
    later(0.3, lambda: server.send(inbox.address, "Verify your email", "Your verification code is 482-913."))
    message = mail.wait_for_message(inbox_id=inbox.id, timeout_ms=30000)
    assert message.subject == "Verify your email"
    assert message.codes[0] == "482913"
    assert isinstance(message.received_at, datetime)

    later(0.3, lambda: server.send(inbox.address, "Your code", "Your code: 4 8 2 9 1 3"))
    assert mail.wait_for_code(inbox_id=inbox.id, timeout_ms=30000) == "482913"

    later(0.3, lambda: server.send(inbox.address, "Links",
                                   "Help: https://app.example/help\nConfirm: https://app.example/verify?t=xyz"))
    assert mail.wait_for_link(address=inbox.address, match="verify") == "https://app.example/verify?t=xyz"


def test_two_waits_in_a_row_return_two_mails_in_order(server, mail):
    with mail.with_inbox() as inbox:
        server.send(inbox.address, "first")
        server.send(inbox.address, "second")
        assert mail.wait_for_message(inbox_id=inbox.id).subject == "first"
        assert mail.wait_for_message(inbox_id=inbox.id).subject == "second"
        with pytest.raises(EphemailError) as error:
            mail.wait_for_message(inbox_id=inbox.id, timeout_ms=300)
        assert error.value.code == "TIMEOUT"
    with pytest.raises(EphemailError):
        mail.delete_inbox(inbox.id)


def test_messages_pages_through_every_message(server, mail):
    inbox = mail.create_inbox()
    for index in range(5):
        server.send(inbox.address, f"page mail {index}")
    mail.wait_for_message(inbox_id=inbox.id, filter={"subject": "page mail 4"})
    subjects = [message.subject for message in mail.messages(inbox_id=inbox.id, page_size=2)]
    assert subjects == [f"page mail {index}" for index in (4, 3, 2, 1, 0)]


def test_raw_is_byte_identical_and_attachments_download(server, mail):
    inbox = mail.create_inbox()
    sent = (f"From: a@example.com\r\nTo: {inbox.address}\r\nSubject: raw\r\n\r\n"
            "body line\r\n.dot line\r\n\u00e9 8bit\r\n").encode()
    server.send_raw(inbox.address, sent)
    message = mail.wait_for_message(inbox_id=inbox.id)
    raw = mail.raw(message.id)
    # The server puts its own `Received:` header in front of the bytes it received.
    assert raw.startswith(b"Received: ")
    assert raw.endswith(sent)

    content = bytes([0, 1, 2, 250, 251, 252, 13, 10])
    server.send(inbox.address, "file", attachment=("a.bin", content))
    with_file = mail.wait_for_message(inbox_id=inbox.id)
    assert with_file.attachments[0].filename == "a.bin"
    assert mail.attachment(with_file.attachments[0].id) == content
    mail.delete_message(with_file.id)
    for gone in (lambda: mail.message(with_file.id), lambda: mail.raw(with_file.id)):
        with pytest.raises(EphemailError) as error:
            gone()
        assert error.value.code == "NOT_FOUND"


def expect_code(code: str, action) -> None:
    with pytest.raises(EphemailError) as error:
        action()
    assert error.value.code == code, error.value


def test_each_error_code(server, mail):
    with Ephemail(server.url, "ek_wrong") as stranger:
        expect_code("UNAUTHENTICATED", lambda: stranger.create_inbox(domain="localhost"))
    inbox = mail.create_inbox()
    # An inbox token may read its own inbox but not create inboxes.
    with Ephemail(server.url, inbox.token) as token_client:
        expect_code("FORBIDDEN", lambda: token_client.create_inbox(domain="localhost"))
    expect_code("NOT_FOUND", lambda: mail.message("00000000-0000-4000-8000-000000000000"))
    expect_code("BAD_USER_INPUT", lambda: mail.message("not-an-id"))
    mail.create_inbox(local_part="taken-py")
    expect_code("BAD_USER_INPUT", lambda: mail.create_inbox(local_part="taken-py"))
    expect_code("BAD_USER_INPUT", lambda: mail.create_inbox(domain="not-served.example"))
    expect_code("TIMEOUT", lambda: mail.wait_for_message(inbox_id=inbox.id, timeout_ms=200))
    # Nothing listens on port 9: a transport failure is INTERNAL.
    with Ephemail("http://127.0.0.1:9", "x") as unreachable:
        expect_code("INTERNAL", lambda: unreachable.message(inbox.id))


async def test_async_subscription_cut_by_a_server_restart_resumes_without_loss_or_duplicate(server):
    import asyncio

    async with AsyncEphemail(server.url, server.api_key) as mail:
        inbox = await mail.create_inbox()
        received = []
        stream = mail.subscribe(inbox_id=inbox.id)
        server.send(inbox.address, "live 1")
        server.send(inbox.address, "live 2")
        async for message in stream:
            received.append(message.subject)
            if len(received) == 2:
                await asyncio.to_thread(server.restart)
                server.send(inbox.address, "live 3")
                server.send(inbox.address, "live 4")
            if len(received) == 4:
                break
        assert received == ["live 1", "live 2", "live 3", "live 4"]


def test_the_plugin_fixture_gives_a_fresh_inbox(server, ephemail_inbox, ephemail):
    server.send(ephemail_inbox.address, "Your code", "Your code is 123456")
    assert ephemail.wait_for_code(inbox_id=ephemail_inbox.id) == "123456"


def test_a_webhook_gets_a_test_event_and_each_new_mails_codes_then_is_deleted(server, mail):
    import json
    from http.server import BaseHTTPRequestHandler, HTTPServer

    deliveries: list[tuple[str, dict]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            deliveries.append((self.headers["webhook-id"], json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()

    def arrived(n: int) -> None:
        deadline = time.monotonic() + 30
        while len(deliveries) < n:
            assert time.monotonic() < deadline, deliveries
            time.sleep(0.05)

    try:
        inbox = mail.create_inbox()
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        webhook, secret = mail.create_webhook(url=url, inbox_id=inbox.id)
        assert secret.startswith("whsec_")
        assert webhook.inbox_id == inbox.id and webhook.enabled
        assert [event.value for event in webhook.events] == ["MESSAGE_RECEIVED"]
        assert webhook.id in [listed.id for listed in mail.webhooks()]

        delivery_id = mail.test_webhook(webhook.id)
        arrived(1)
        assert deliveries[0][0] == delivery_id
        assert deliveries[0][1]["type"] == "webhook.test"
        server.send(inbox.address, "Your code", "Your code is 482913")
        arrived(2)
        assert deliveries[1][1]["type"] == "message.received"
        assert deliveries[1][1]["data"]["codes"] == ["482913"]

        mail.delete_webhook(webhook.id)
        for gone in (lambda: mail.delete_webhook(webhook.id), lambda: mail.test_webhook(webhook.id)):
            with pytest.raises(EphemailError) as error:
                gone()
            assert error.value.code == "NOT_FOUND"
    finally:
        receiver.shutdown()
