"""``AsyncEphemail``: the asyncio client. ``Ephemail`` (sync.py) runs it for synchronous code."""

from __future__ import annotations

import asyncio
import os
import re
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, Optional, TypeVar, Union
from urllib.parse import quote

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ._generated.client import Client
from ._generated.exceptions import GraphQLClientError
from ._generated.enums import WebhookEvent
from ._generated.fragments import InboxFields, MessageFields, WebhookFields
from ._generated.input_types import CreateInboxInput, CreateWebhookInput, ExtendInboxInput, MessageFilter
from ._transport import RetryOn429
from .errors import EphemailError, translated

Message = MessageFields
# An endpoint that receives the tenant's events, signed (see docs/webhooks.md).
Webhook = WebhookFields
T = TypeVar("T")

DEFAULT_TIMEOUT_MS = 30_000
MAX_BACKOFF_SECONDS = 5.0
# A refused `connection_init` or subscribe: retrying cannot help.
FATAL_CLOSE_CODES = {4400: "BAD_USER_INPUT", 4401: "UNAUTHENTICATED", 4403: "FORBIDDEN"}


class Inbox(InboxFields):
    """An inbox; ``token`` (from ``create_inbox``) reads and deletes this inbox only."""

    token: Optional[str] = None


FilterLike = Union[MessageFilter, dict, None]


def _filter(value: FilterLike) -> Optional[MessageFilter]:
    return MessageFilter.model_validate(value) if isinstance(value, dict) else value


class AsyncEphemail:
    """The ephemail client for asyncio code.

    ``url`` is the server's base URL and ``api_key`` an API key or an inbox token; they default
    to ``EPHEMAIL_URL`` and ``EPHEMAIL_API_KEY``. HTTP 429 is retried after its ``Retry-After``
    up to ``max_retries`` times.
    """

    def __init__(self, url: Optional[str] = None, api_key: Optional[str] = None, *, max_retries: int = 3):
        url = url or os.environ.get("EPHEMAIL_URL")
        if not url:
            raise EphemailError("BAD_USER_INPUT", "no server URL: pass url= or set EPHEMAIL_URL")
        self.url = url.rstrip("/")
        self.api_key = api_key or os.environ.get("EPHEMAIL_API_KEY")
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._http = httpx.AsyncClient(
            headers=headers, transport=RetryOn429(max_retries), timeout=httpx.Timeout(60.0, connect=10.0)
        )
        self._graphql = Client(
            url=f"{self.url}/graphql",
            http_client=self._http,
            ws_url=re.sub(r"^http", "ws", self.url) + "/graphql",
            ws_connection_init_payload={"apiKey": self.api_key} if self.api_key else None,
        )
        # Per inbox id or address: the cursor the next wait continues after.
        self._cursors: dict[str, str] = {}
        self._ids_by_address: dict[str, str] = {}
        self._default_domain: Optional[str] = None

    async def __aenter__(self) -> AsyncEphemail:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, operation: Awaitable[T]) -> T:
        try:
            return await operation
        except GraphQLClientError as error:
            raise translated(error) from None
        except httpx.HTTPError as error:
            raise EphemailError("INTERNAL", f"request failed: {error!r}") from error

    async def create_inbox(
        self,
        *,
        domain: Optional[str] = None,
        local_part: Optional[str] = None,
        ttl_seconds: Optional[int] = None,
        tags: Optional[list[str]] = None,
    ) -> Inbox:
        """A new inbox; any status but ``CREATED`` raises an error carrying that ``status``."""
        domain = domain or await self._first_domain()
        payload = (
            await self._call(
                self._graphql.create_inbox(
                    CreateInboxInput(domain=domain, localPart=local_part, ttlSeconds=ttl_seconds, tags=tags or [])
                )
            )
        ).create_inbox
        if payload.status != "CREATED" or payload.inbox is None:
            raise EphemailError("BAD_USER_INPUT", f"create_inbox: {payload.status.value}", status=payload.status.value)
        inbox = Inbox.model_validate({**payload.inbox.model_dump(), "token": payload.token})
        self._cursors[inbox.id] = inbox.latest_cursor
        self._ids_by_address[inbox.address] = inbox.id
        return inbox

    async def _first_domain(self) -> str:
        if self._default_domain is None:
            domains = (await self._call(self._graphql.domains())).domains
            if not domains:
                raise EphemailError("NOT_FOUND", "the server serves no domain this caller may use")
            self._default_domain = domains[0].name
        return self._default_domain

    def _cursor_key(self, inbox_id: Optional[str], address: Optional[str]) -> str:
        if inbox_id is not None:
            return inbox_id
        if address is None:
            raise EphemailError("BAD_USER_INPUT", "give inbox_id or address")
        return self._ids_by_address.get(address.lower(), address.lower())

    def known_cursor(self, inbox_id: Optional[str] = None, address: Optional[str] = None) -> Optional[str]:
        """The cursor the next wait on the inbox continues after, if this client holds one."""
        return self._cursors.get(self._cursor_key(inbox_id, address))

    async def wait_for_message(
        self,
        *,
        inbox_id: Optional[str] = None,
        address: Optional[str] = None,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        filter: FilterLike = None,
        mark_seen: Optional[bool] = None,
    ) -> Message:
        """The next message after the inbox's creation or after this client's previous wait on it
        (without either, the server's default); ``TIMEOUT`` when none arrives in time."""
        key = self._cursor_key(inbox_id, address)
        result = await self._call(
            self._graphql.wait_for_message(
                inbox_id=inbox_id,
                address=address,
                after=self._cursors.get(key),
                filter_=_filter(filter),
                mark_seen=mark_seen,
                timeout_ms=timeout_ms,
                timeout=timeout_ms / 1000 + 30,
            )
        )
        message = result.wait_for_message
        if message is None:
            raise EphemailError("TIMEOUT", "no message arrived in time")
        self._cursors[key] = message.cursor
        return message

    async def wait_for_code(self, *, timeout_ms: int = DEFAULT_TIMEOUT_MS, **wait: Any) -> str:
        """Waits for messages until one has a code, and returns its best code."""
        message = await self._wait_for_matching(lambda candidate: bool(candidate.codes), timeout_ms, wait)
        return message.codes[0]

    async def wait_for_link(
        self, *, match: Union[str, re.Pattern, None] = None, timeout_ms: int = DEFAULT_TIMEOUT_MS, **wait: Any
    ) -> str:
        """Waits for messages until one has a link (matching ``match``, if given); returns its href."""
        pattern = re.compile(match) if isinstance(match, str) else match

        def matching(message: Message) -> list[str]:
            return [link.href for link in message.links if pattern is None or pattern.search(link.href)]

        message = await self._wait_for_matching(lambda candidate: bool(matching(candidate)), timeout_ms, wait)
        return matching(message)[0]

    async def _wait_for_matching(
        self, accept: Callable[[Message], bool], timeout_ms: int, wait: dict[str, Any]
    ) -> Message:
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            remaining = max(int((deadline - time.monotonic()) * 1000), 1)
            message = await self.wait_for_message(timeout_ms=remaining, **wait)
            if accept(message):
                return message

    async def messages(
        self, *, inbox_id: str, filter: FilterLike = None, page_size: int = 50
    ) -> AsyncIterator[Message]:
        """Every matching message of the inbox, newest first, page after page."""
        after: Optional[str] = None
        while True:
            page = (
                await self._call(
                    self._graphql.messages(inbox_id=inbox_id, after=after, first=page_size, filter_=_filter(filter))
                )
            ).messages
            for message in page.nodes:
                yield message
            if not page.page_info.has_next_page or page.page_info.end_cursor is None:
                return
            after = page.page_info.end_cursor

    async def message(self, id: str) -> Message:
        message = (await self._call(self._graphql.message(id))).message
        if message is None:
            raise EphemailError("NOT_FOUND", f"no message {id}")
        return message

    async def raw(self, message_id: str) -> bytes:
        """The exact bytes the server received."""
        return await self._download(f"/messages/{quote(message_id, safe='')}/raw")

    async def attachment(self, attachment_id: str) -> bytes:
        """An attachment's decoded bytes."""
        return await self._download(f"/attachments/{quote(attachment_id, safe='')}")

    async def _download(self, path: str) -> bytes:
        response = await self._call(self._http.get(f"{self.url}{path}"))
        if response.status_code != 200:
            raise EphemailError.from_response(response, f"GET {path}")
        return response.content

    async def delete_inbox(self, id: str) -> None:
        """Deletes an inbox with its messages; ``NOT_FOUND`` if there is none."""
        status = (await self._call(self._graphql.delete_inbox(id))).delete_inbox.status.value
        if status != "DELETED":
            raise EphemailError("NOT_FOUND", f"no inbox {id}", status=status)

    async def delete_message(self, id: str) -> None:
        """Deletes a message; ``NOT_FOUND`` if there is none."""
        status = (await self._call(self._graphql.delete_message(id))).delete_message.status.value
        if status != "DELETED":
            raise EphemailError("NOT_FOUND", f"no message {id}", status=status)

    async def extend_inbox(self, *, id: str, ttl_seconds: int) -> Inbox:
        """Makes an inbox expire ``ttl_seconds`` from now; ``token`` is a fresh inbox token until then."""
        payload = (
            await self._call(self._graphql.extend_inbox(ExtendInboxInput(id=id, ttlSeconds=ttl_seconds)))
        ).extend_inbox
        if payload.status != "EXTENDED" or payload.inbox is None:
            code = "NOT_FOUND" if payload.status == "NOT_FOUND" else "BAD_USER_INPUT"
            raise EphemailError(code, f"extend_inbox: {payload.status.value}", status=payload.status.value)
        return Inbox.model_validate({**payload.inbox.model_dump(), "token": payload.token})

    async def create_webhook(
        self,
        *,
        url: str,
        events: Optional[list[Union[WebhookEvent, str]]] = None,
        inbox_id: Optional[str] = None,
    ) -> tuple[Webhook, str]:
        """Has ephemail POST the tenant's events (or one inbox's) to ``url``; returns the webhook
        and its signing secret, shown only now: verify deliveries with the ``standardwebhooks``
        package and it. ``events`` defaults to ``MESSAGE_RECEIVED``; any status but ``CREATED``
        raises an error carrying that ``status``."""
        wanted = [WebhookEvent(event) for event in events or [WebhookEvent.MESSAGE_RECEIVED]]
        payload = (
            await self._call(
                self._graphql.create_webhook(CreateWebhookInput(url=url, events=wanted, inboxId=inbox_id))
            )
        ).create_webhook
        if payload.status != "CREATED" or payload.webhook is None or payload.secret is None:
            code = "NOT_FOUND" if payload.status == "INBOX_NOT_FOUND" else "QUOTA_EXCEEDED"
            raise EphemailError(code, f"create_webhook: {payload.status.value}", status=payload.status.value)
        return Webhook.model_validate(payload.webhook.model_dump()), payload.secret

    async def webhooks(self) -> list[Webhook]:
        """The tenant's webhooks, oldest first."""
        listed = (await self._call(self._graphql.webhooks())).webhooks
        return [Webhook.model_validate(webhook.model_dump()) for webhook in listed]

    async def delete_webhook(self, id: str) -> None:
        """Deletes a webhook with its deliveries; ``NOT_FOUND`` if there is none."""
        status = (await self._call(self._graphql.delete_webhook(id))).delete_webhook.status.value
        if status != "DELETED":
            raise EphemailError("NOT_FOUND", f"no webhook {id}", status=status)

    async def test_webhook(self, id: str) -> str:
        """Sends a ``webhook.test`` event to the webhook now; returns its ``webhook-id``."""
        payload = (await self._call(self._graphql.test_webhook(id))).test_webhook
        if payload.status != "DONE" or payload.delivery_id is None:
            raise EphemailError("NOT_FOUND", f"no webhook {id}", status=payload.status.value)
        return payload.delivery_id

    async def subscribe(
        self,
        *,
        inbox_id: Optional[str] = None,
        address: Optional[str] = None,
        after: Optional[str] = None,
        filter: FilterLike = None,
        max_reconnects: int = 8,
    ) -> AsyncIterator[Message]:
        """Every message stored after ``after``, each exactly once, over a WebSocket that is
        reopened with backoff when it drops, resuming after the last delivered message.
        Without ``after``: after the cursor the next wait would use (an inbox this client
        created: from its creation), else from the moment of the call."""
        after = after or self.known_cursor(inbox_id, address) or await self._latest_cursor(inbox_id, address)
        failures = 0
        while True:
            try:
                stream = self._graphql.message_received(
                    inbox_id=inbox_id, address=address, after=after, filter_=_filter(filter)
                )
                async for event in stream:
                    failures = 0
                    after = event.message_received.cursor
                    yield event.message_received
                return
            except GraphQLClientError as error:
                raise translated(error) from None
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                if code in FATAL_CLOSE_CODES:
                    raise EphemailError(FATAL_CLOSE_CODES[code], f"subscription refused (close {code})") from None
                reason: Exception = closed
            except (OSError, InvalidStatus, asyncio.TimeoutError) as error:
                reason = error
            failures += 1
            if failures > max_reconnects:
                raise EphemailError("INTERNAL", f"subscription lost after {max_reconnects} reconnects: {reason}")
            await asyncio.sleep(min(0.25 * 2 ** (failures - 1), MAX_BACKOFF_SECONDS))

    async def _latest_cursor(self, inbox_id: Optional[str], address: Optional[str]) -> Optional[str]:
        try:
            inbox = (await self._call(self._graphql.inbox(id=inbox_id, address=address))).inbox
        except EphemailError as error:
            # A catch-all address before its first mail: the server starts with the next one.
            if error.code == "NOT_FOUND" and address is not None:
                return None
            raise
        return inbox.latest_cursor if inbox else None

    @asynccontextmanager
    async def with_inbox(self, **options: Any) -> AsyncIterator[Inbox]:
        """``async with mail.with_inbox() as inbox:`` a fresh inbox, deleted afterwards."""
        inbox = await self.create_inbox(**options)
        try:
            yield inbox
        finally:
            try:
                await self.delete_inbox(inbox.id)
            except EphemailError as error:
                if error.code != "NOT_FOUND":
                    raise
