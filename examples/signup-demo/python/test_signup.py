"""The pytest example: signs up through the demo and reads the code with the ``ephemail``
plugin's fixtures (``EPHEMAIL_URL``, ``EPHEMAIL_API_KEY`` and ``DEMO_URL`` from the environment)."""

import os
from urllib.parse import urlencode
from urllib.request import urlopen

DEMO_URL = os.environ["DEMO_URL"]


def post(path: str, **fields: str) -> str:
    with urlopen(f"{DEMO_URL}{path}", urlencode(fields).encode()) as response:
        return response.read().decode()


def test_signup_with_the_code_from_the_mail(ephemail, ephemail_inbox):
    post("/signup", email=ephemail_inbox.address)
    code = ephemail.wait_for_code(inbox_id=ephemail_inbox.id, timeout_ms=30000)
    assert f"Verified {ephemail_inbox.address}" in post("/verify", email=ephemail_inbox.address, code=code)


def test_signup_with_the_link_from_the_mail(ephemail, ephemail_inbox):
    post("/signup", email=ephemail_inbox.address)
    link = ephemail.wait_for_link(inbox_id=ephemail_inbox.id, match="/verify", timeout_ms=30000)
    with urlopen(link) as response:
        assert f"Verified {ephemail_inbox.address}" in response.read().decode()
