"""pytest fixtures, registered through the ``pytest11`` entry point:

- ``ephemail``: an :class:`Ephemail` client from ``EPHEMAIL_URL`` / ``EPHEMAIL_API_KEY`` (one
  per test session);
- ``ephemail_inbox``: a fresh inbox, deleted after the test.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from .client import Inbox
from .sync import Ephemail


@pytest.fixture(scope="session")
def ephemail() -> Iterator[Ephemail]:
    with Ephemail() as client:
        yield client


@pytest.fixture
def ephemail_inbox(ephemail: Ephemail) -> Iterator[Inbox]:
    with ephemail.with_inbox() as inbox:
        yield inbox
