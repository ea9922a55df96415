"""Errors raised by the Context7 client, each with a stable machine code.

Codes (the `errorCode` of a `detail_page_buttons_error` event):

==============================  =====================================================
CONTEXT7_TIMEOUT                connect/read timeout, or the lookup budget ran out
CONTEXT7_API_FAILURE            5xx, network error, truncated or malformed body, other 4xx
CONTEXT7_RATE_LIMITED           429 (and 402 spending limit)
CONTEXT7_UNAUTHORIZED           401 / 403
CONTEXT7_LIBRARY_NOT_FOUND      404 library_not_found / tag_not_found, 301 redirected,
                                or a library search with no result
CONTEXT7_CIRCUIT_OPEN           the shared circuit breaker refused the call
==============================  =====================================================

A 404 `no_relevant_snippets` / `no_snippets_found` is not an error: the
library exists and nothing matched, so the lookup returns an empty result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from .models import CallRecord

TIMEOUT = "CONTEXT7_TIMEOUT"
API_FAILURE = "CONTEXT7_API_FAILURE"
RATE_LIMITED = "CONTEXT7_RATE_LIMITED"
UNAUTHORIZED = "CONTEXT7_UNAUTHORIZED"
LIBRARY_NOT_FOUND = "CONTEXT7_LIBRARY_NOT_FOUND"
CIRCUIT_OPEN = "CONTEXT7_CIRCUIT_OPEN"

ERROR_CODES = (TIMEOUT, API_FAILURE, RATE_LIMITED, UNAUTHORIZED, LIBRARY_NOT_FOUND, CIRCUIT_OPEN)


class Context7Error(Exception):
    """Base class. Attributes:

    code         one of ERROR_CODES
    retryable    whether trying again later can help
    retry_after  seconds the server (or the breaker) asked us to wait, or None
    http_status  HTTP status of the failing response, None for network errors
    api_error    the `error` field of the API's JSON error body, when there was one
    endpoint     "resolve_library_id" or "get_library_docs" (the failing call)
    calls        call records made by the lookup before it failed (tuple of CallRecord)
    """

    code: ClassVar[str] = API_FAILURE
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after: float | None = None,
        http_status: int | None = None,
        api_error: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.http_status = http_status
        self.api_error = api_error
        self.endpoint = endpoint
        self.calls: tuple[CallRecord, ...] = ()

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code}, http_status={self.http_status}, "
            f"retryable={self.retryable}, retry_after={self.retry_after})"
        )

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
            "http_status": self.http_status,
            "api_error": self.api_error,
            "endpoint": self.endpoint,
        }


class Context7TimeoutError(Context7Error):
    code = TIMEOUT
    default_retryable = True


class Context7ApiError(Context7Error):
    """5xx, network failure, truncated or malformed body, unexpected 4xx."""

    code = API_FAILURE
    default_retryable = True


class Context7RateLimitedError(Context7Error):
    code = RATE_LIMITED
    default_retryable = True


class Context7UnauthorizedError(Context7Error):
    code = UNAUTHORIZED
    default_retryable = False


class Context7LibraryNotFoundError(Context7Error):
    code = LIBRARY_NOT_FOUND
    default_retryable = False

    def __init__(self, message: str, *, redirect_url: str | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.redirect_url = redirect_url


class Context7CircuitOpenError(Context7Error):
    code = CIRCUIT_OPEN
    default_retryable = True


ERROR_CLASSES: dict[str, type[Context7Error]] = {
    cls.code: cls
    for cls in (
        Context7TimeoutError,
        Context7ApiError,
        Context7RateLimitedError,
        Context7UnauthorizedError,
        Context7LibraryNotFoundError,
        Context7CircuitOpenError,
    )
}
