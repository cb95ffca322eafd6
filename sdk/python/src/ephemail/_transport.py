"""HTTP 429 retried after its ``Retry-After``, for every request of a client."""

from __future__ import annotations

import asyncio

import httpx


class RetryOn429(httpx.AsyncBaseTransport):
    def __init__(self, max_retries: int):
        self._inner = httpx.AsyncHTTPTransport()
        self._max_retries = max_retries

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            response = await self._inner.handle_async_request(request)
            if response.status_code != 429 or attempt >= self._max_retries:
                return response
            retry_after = response.headers.get("retry-after", "1")
            await response.aclose()
            await asyncio.sleep(float(retry_after) if retry_after.isdigit() else 1.0)
            attempt += 1

    async def aclose(self) -> None:
        await self._inner.aclose()
