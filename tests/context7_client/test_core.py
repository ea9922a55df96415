"""The sans-IO core on its own: error mapping, Retry-After, cache keys, records (no network)."""

from __future__ import annotations

import json
import re
from email.utils import formatdate

import pytest

from context7_client import Context7Config, Context7LibraryNotFoundError, utc_timestamp
from context7_client.core import Context7Core, counts_as_breaker_failure, http_error, interpret, retry_after_seconds

CORE = Context7Core(Context7Config(base_url="http://127.0.0.1:9/api"))
DOCS = CORE.docs_spec("/wco/hs-nomenclature-2022", "smartphone")
SEARCH = CORE.search_spec("HS Nomenclature", "smartphone")


def _body(error: str | None = None, message: str = "m", **extra) -> bytes:
    data = {"message": message, **extra}
    if error:
        data["error"] = error
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable"),
    [
        (500, _body("internal_error"), "CONTEXT7_API_FAILURE", True),
        (502, b"<html>Bad Gateway</html>", "CONTEXT7_API_FAILURE", True),
        (503, _body("search_failed"), "CONTEXT7_API_FAILURE", True),
        (429, _body("rate_limit_exceeded"), "CONTEXT7_RATE_LIMITED", True),
        (429, b"Too many requests", "CONTEXT7_RATE_LIMITED", True),
        (402, _body("spending_limit_exceeded"), "CONTEXT7_RATE_LIMITED", False),
        (401, _body("invalid_api_key"), "CONTEXT7_UNAUTHORIZED", False),
        (403, _body("access_denied"), "CONTEXT7_UNAUTHORIZED", False),
        (404, _body("library_not_found"), "CONTEXT7_LIBRARY_NOT_FOUND", False),
        (404, _body("tag_not_found"), "CONTEXT7_LIBRARY_NOT_FOUND", False),
        (404, b"Not Found", "CONTEXT7_API_FAILURE", False),
        (301, _body("library_redirected", redirectUrl="/reactjs/react.dev"), "CONTEXT7_LIBRARY_NOT_FOUND", False),
        (400, _body("validation_error"), "CONTEXT7_API_FAILURE", False),
        (422, _body("no_code_found"), "CONTEXT7_API_FAILURE", False),
        (408, b"", "CONTEXT7_TIMEOUT", True),
    ],
)
def test_http_status_and_body_map_to_error_code_and_retryability(status, body, code, retryable):
    error = http_error(DOCS, status, {}, body)
    assert error is not None
    assert (error.code, error.retryable, error.http_status) == (code, retryable, status)
    assert error.endpoint == "get_library_docs"


@pytest.mark.parametrize("api_error", ["no_relevant_snippets", "no_snippets_found", "no_libraries_found"])
def test_404_nothing_matched_is_an_empty_result_not_an_error(api_error):
    assert http_error(DOCS, 404, {}, _body(api_error)) is None
    result = interpret(DOCS, 404, {}, _body(api_error))
    assert result.value.snippets == ()
    assert result.cache_kind == "empty"


def test_redirect_error_carries_the_new_library_id():
    error = http_error(DOCS, 301, {}, _body("library_redirected", redirectUrl="/reactjs/react.dev"))
    assert error.redirect_url == "/reactjs/react.dev"


def test_retry_after_is_read_from_seconds_http_date_ratelimit_reset_or_body():
    now = 1_800_000_000.0
    assert retry_after_seconds({"retry-after": "7"}, {}, now) == 7.0
    assert retry_after_seconds({"retry-after": formatdate(now + 30, usegmt=True)}, {}, now) == pytest.approx(30, abs=1)
    assert retry_after_seconds({"ratelimit-reset": str(int(now) + 12)}, {}, now) == 12.0
    assert retry_after_seconds({}, {"retryAfterSeconds": 60}, now) == 60.0
    assert retry_after_seconds({"retry-after": "soon"}, {}, now) is None
    assert retry_after_seconds({}, {}, now) is None


def test_breaker_counts_service_health_failures_but_not_client_errors():
    def err(status, body=b""):
        return http_error(DOCS, status, {}, body)

    assert counts_as_breaker_failure(err(500))
    assert counts_as_breaker_failure(err(429))
    assert not counts_as_breaker_failure(err(401))
    assert not counts_as_breaker_failure(err(404, _body("library_not_found")))
    assert not counts_as_breaker_failure(err(400))


def test_cache_key_is_a_hash_of_normalised_library_and_query():
    same = CORE.docs_spec("/wco/hs-nomenclature-2022", "  SMARTPHONE\t")
    other = CORE.docs_spec("/wco/hs-nomenclature-2022", "laptop")
    as_json = CORE.docs_spec("/wco/hs-nomenclature-2022", "smartphone", response_type="json")
    key = CORE.cache_key(DOCS)
    assert key == CORE.cache_key(same)
    assert key != CORE.cache_key(other)
    assert key != CORE.cache_key(as_json)
    assert re.fullmatch(r"context7:cache:get_library_docs:[0-9a-f]{64}", key)
    assert "smartphone" not in key


def test_malformed_library_id_is_rejected_before_any_request():
    with pytest.raises(Context7LibraryNotFoundError):
        CORE.docs_spec("tiangolo/fastapi", "x")


def test_request_parameters_follow_the_current_api():
    assert SEARCH.path == "/v2/libs/search"
    assert dict(SEARCH.params) == {"libraryName": "HS Nomenclature", "query": "smartphone"}
    assert DOCS.path == "/v2/context"
    assert dict(DOCS.params) == {"libraryId": "/wco/hs-nomenclature-2022", "query": "smartphone"}
    assert ("type", "json") in CORE.docs_spec("/a/b", "q", response_type="json").params
    long = CORE.docs_spec("/a/b", "x" * 900)
    assert len(dict(long.params)["query"]) == 500


def test_identification_headers_and_bearer_key():
    core = Context7Core(Context7Config(api_key="ctx7sk-abc", source="tradechat"))
    assert core.headers["Authorization"] == "Bearer ctx7sk-abc"
    assert core.headers["X-Context7-Source"] == "tradechat"
    for name in (
        "X-Context7-Server-Version",
        "X-Context7-Client-IDE",
        "X-Context7-Client-Version",
        "X-Context7-Transport",
    ):
        assert core.headers[name]
    assert "Authorization" not in Context7Core(Context7Config()).headers


def test_timestamps_are_iso_utc_with_milliseconds_and_z():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", utc_timestamp())
