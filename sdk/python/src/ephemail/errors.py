"""The one error type of the client."""

from __future__ import annotations

from typing import Any, Optional

import httpx

from ._generated.exceptions import GraphQLClientGraphQLMultiError, GraphQLClientHttpError

CODES = frozenset(
    {"BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "QUOTA_EXCEEDED", "TIMEOUT", "INTERNAL"}
)

_CODES_BY_STATUS = {400: "BAD_USER_INPUT", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND", 429: "QUOTA_EXCEEDED"}


class EphemailError(Exception):
    """A GraphQL error, a refused download or an unexpected answer.

    ``code`` is one of the server's fixed ``extensions.code`` values; ``retry_after`` (seconds)
    comes with ``QUOTA_EXCEEDED``; ``status`` is a mutation payload's other outcome
    (``ADDRESS_TAKEN``).
    """

    def __init__(self, code: str, message: str, *, retry_after: Optional[int] = None, status: Optional[str] = None):
        super().__init__(message)
        self.code = code if code in CODES else "INTERNAL"
        self.message = message
        self.retry_after = retry_after
        self.status = status

    def __repr__(self) -> str:
        return f"EphemailError({self.code!r}, {self.message!r})"

    @classmethod
    def from_graphql(cls, error: dict[str, Any]) -> EphemailError:
        extensions = error.get("extensions") or {}
        retry_after = extensions.get("retryAfter")
        return cls(
            str(extensions.get("code", "INTERNAL")),
            str(error.get("message", "")),
            retry_after=retry_after if isinstance(retry_after, int) else None,
        )

    @classmethod
    def from_response(cls, response: httpx.Response, what: str) -> EphemailError:
        """From an answer that is not a success: its GraphQL error if it has one, else its status."""
        try:
            errors = response.json().get("errors")
        except (ValueError, AttributeError):
            errors = None
        if errors:
            return cls.from_graphql(errors[0])
        retry_after = response.headers.get("retry-after")
        return cls(
            _CODES_BY_STATUS.get(response.status_code, "INTERNAL"),
            f"{what}: HTTP {response.status_code}",
            retry_after=int(retry_after) if retry_after and retry_after.isdigit() else None,
        )


def translated(error: Exception) -> Exception:
    """The generated client's exception as an :class:`EphemailError` (others unchanged)."""
    if isinstance(error, GraphQLClientGraphQLMultiError) and error.errors:
        first = error.errors[0]
        return EphemailError.from_graphql({"message": first.message, "extensions": first.extensions})
    if isinstance(error, GraphQLClientHttpError) and isinstance(error.response, httpx.Response):
        return EphemailError.from_response(error.response, "POST /graphql")
    return error
