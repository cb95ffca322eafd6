"""``Ephemail``: the client for synchronous code.

It runs an :class:`AsyncEphemail` on an event loop of its own, in a background thread, so that
it works the same inside and outside code that already runs an event loop (pytest-asyncio,
Jupyter)."""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager
from typing import Any, AsyncIterator, Awaitable, Iterator, Optional, TypeVar

from .client import AsyncEphemail, Inbox, Message, Webhook
from .errors import EphemailError

T = TypeVar("T")


class Ephemail:
    """The ephemail client. ``url`` and ``api_key`` default to ``EPHEMAIL_URL`` and
    ``EPHEMAIL_API_KEY``; the methods are those of :class:`AsyncEphemail`, without ``await``."""

    def __init__(self, url: Optional[str] = None, api_key: Optional[str] = None, *, max_retries: int = 3):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ephemail", daemon=True)
        self._thread.start()
        self._client = self._run(self._build(url, api_key, max_retries))

    @staticmethod
    async def _build(url: Optional[str], api_key: Optional[str], max_retries: int) -> AsyncEphemail:
        return AsyncEphemail(url, api_key, max_retries=max_retries)

    def _run(self, operation: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(operation, self._loop).result()  # type: ignore[arg-type]

    def _iterate(self, stream: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self._run(stream.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._run(stream.aclose())  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        return self._client.url

    def close(self) -> None:
        self._run(self._client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Ephemail:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def create_inbox(self, **options: Any) -> Inbox:
        """``create_inbox(domain=, local_part=, ttl_seconds=, tags=)``"""
        return self._run(self._client.create_inbox(**options))

    def wait_for_message(self, **options: Any) -> Message:
        """``wait_for_message(inbox_id= | address=, timeout_ms=, filter=, mark_seen=)``"""
        return self._run(self._client.wait_for_message(**options))

    def wait_for_code(self, **options: Any) -> str:
        """``wait_for_code(inbox_id= | address=, timeout_ms=, filter=, mark_seen=)``"""
        return self._run(self._client.wait_for_code(**options))

    def wait_for_link(self, **options: Any) -> str:
        """``wait_for_link(inbox_id= | address=, match=, timeout_ms=, filter=, mark_seen=)``"""
        return self._run(self._client.wait_for_link(**options))

    def messages(self, **options: Any) -> Iterator[Message]:
        """``messages(inbox_id=, filter=, page_size=)``: every message, newest first."""
        return self._iterate(self._client.messages(**options))

    def message(self, id: str) -> Message:
        return self._run(self._client.message(id))

    def raw(self, message_id: str) -> bytes:
        return self._run(self._client.raw(message_id))

    def attachment(self, attachment_id: str) -> bytes:
        return self._run(self._client.attachment(attachment_id))

    def delete_inbox(self, id: str) -> None:
        self._run(self._client.delete_inbox(id))

    def delete_message(self, id: str) -> None:
        self._run(self._client.delete_message(id))

    def extend_inbox(self, *, id: str, ttl_seconds: int) -> Inbox:
        return self._run(self._client.extend_inbox(id=id, ttl_seconds=ttl_seconds))

    def create_webhook(self, **options: Any) -> tuple[Webhook, str]:
        """``create_webhook(url=, events=, inbox_id=)``: the webhook and its secret."""
        return self._run(self._client.create_webhook(**options))

    def webhooks(self) -> list[Webhook]:
        return self._run(self._client.webhooks())

    def delete_webhook(self, id: str) -> None:
        self._run(self._client.delete_webhook(id))

    def test_webhook(self, id: str) -> str:
        return self._run(self._client.test_webhook(id))

    def subscribe(self, **options: Any) -> Iterator[Message]:
        """``subscribe(inbox_id= | address=, after=, filter=)``: messages as they arrive."""
        return self._iterate(self._client.subscribe(**options))

    @contextmanager
    def with_inbox(self, **options: Any) -> Iterator[Inbox]:
        """``with mail.with_inbox() as inbox:`` a fresh inbox, deleted afterwards."""
        inbox = self.create_inbox(**options)
        try:
            yield inbox
        finally:
            try:
                self.delete_inbox(inbox.id)
            except EphemailError as error:
                if error.code != "NOT_FOUND":
                    raise
