"""Errors of the live KCS services (UNI-PASS, data.go.kr), each failure form with its own stable code.

==================================  ===========================================================================
KCS_NOT_CONFIGURED                  no key for this service in the environment: nothing was called
KCS_TIMEOUT                         connect/read timeout, or the lookup budget ran out (a slow answer)
KCS_NETWORK                         connection refused or reset
KCS_UNIPASS_KEY_REFUSED             UNI-PASS HTTP 200, tCnt -1, ntceInfo about the key (unknown key, key issued
                                    for another API, key restricted)
KCS_UNIPASS_ERROR                   UNI-PASS HTTP 200, tCnt -1, any other ntceInfo (e.g. "…은 필수입력입니다.")
KCS_GATEWAY_KEY_NOT_REGISTERED      data.go.kr HTTP 403 or OpenAPI_ServiceResponse reason 20/30/31/32: key not
                                    subscribed to this service, expired, double-encoded or from the wrong IP
KCS_GATEWAY_QUOTA                   data.go.kr HTTP 429 or OpenAPI_ServiceResponse reason 22/23: quota used up
KCS_GATEWAY_ERROR                   any other OpenAPI_ServiceResponse
KCS_PROVIDER_ERROR                  data.go.kr envelope with resultCode other than 00 (01, 02, 03, 99, empty)
KCS_SPAN_TOO_LONG                   nitemtrade refused a span over 12 months ("1년이내 기간만 가능")
KCS_UNAVAILABLE                     HTTP 5xx or an HTML maintenance page instead of XML
KCS_MALFORMED                       a body that is not the documented XML (not XML, no tCnt, fewer rows than
                                    tCnt, unknown root)
KCS_CHECKSUM_MISMATCH               nitemtrade rows do not add up to the 총계 row (a truncated answer)
KCS_CIRCUIT_OPEN                    the shared circuit breaker of this service refused the call
==================================  ===========================================================================

Messages never contain a key: the client removes it from every text it builds.
"""

from __future__ import annotations

from typing import ClassVar

NOT_CONFIGURED = "KCS_NOT_CONFIGURED"
TIMEOUT = "KCS_TIMEOUT"
NETWORK = "KCS_NETWORK"
UNIPASS_KEY_REFUSED = "KCS_UNIPASS_KEY_REFUSED"
UNIPASS_ERROR = "KCS_UNIPASS_ERROR"
GATEWAY_KEY_NOT_REGISTERED = "KCS_GATEWAY_KEY_NOT_REGISTERED"
GATEWAY_QUOTA = "KCS_GATEWAY_QUOTA"
GATEWAY_ERROR = "KCS_GATEWAY_ERROR"
PROVIDER_ERROR = "KCS_PROVIDER_ERROR"
SPAN_TOO_LONG = "KCS_SPAN_TOO_LONG"
UNAVAILABLE = "KCS_UNAVAILABLE"
MALFORMED = "KCS_MALFORMED"
CHECKSUM_MISMATCH = "KCS_CHECKSUM_MISMATCH"
CIRCUIT_OPEN = "KCS_CIRCUIT_OPEN"

ERROR_CODES = (
    NOT_CONFIGURED,
    TIMEOUT,
    NETWORK,
    UNIPASS_KEY_REFUSED,
    UNIPASS_ERROR,
    GATEWAY_KEY_NOT_REGISTERED,
    GATEWAY_QUOTA,
    GATEWAY_ERROR,
    PROVIDER_ERROR,
    SPAN_TOO_LONG,
    UNAVAILABLE,
    MALFORMED,
    CHECKSUM_MISMATCH,
    CIRCUIT_OPEN,
)

# Retrying within one lookup can help only with these (a refused key or a used-up quota stays so for hours).
RETRYABLE = frozenset({TIMEOUT, NETWORK, UNAVAILABLE})
# What says the service itself is unhealthy (opens the breaker); a refused key means it answered.
BREAKER_FAILURES = frozenset({TIMEOUT, NETWORK, UNAVAILABLE, MALFORMED, GATEWAY_QUOTA})


class KcsServiceError(Exception):
    """`code` is one of ERROR_CODES; `service` the service name (e.g. "nitemtrade"); `detail` the service's own
    text (ntceInfo, resultMsg, returnAuthMsg), key-free; `http_status` of the failing answer when there was one."""

    code: str
    retryable: ClassVar[frozenset[str]] = RETRYABLE

    def __init__(
        self,
        code: str,
        message: str,
        *,
        service: str = "",
        detail: str = "",
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown KCS error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.service = service
        self.detail = detail
        self.http_status = http_status
        self.retry_after = retry_after

    @property
    def is_retryable(self) -> bool:
        return self.code in RETRYABLE

    @property
    def is_breaker_failure(self) -> bool:
        return self.code in BREAKER_FAILURES

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
