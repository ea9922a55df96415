"""Schemathesis drives every operation of the OpenAPI schema against the live stack: no 500s.

Its pytest plugin does not run on pytest 9, so the operations' Hypothesis strategies are used directly.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.live import ChatClient

pytestmark = [pytest.mark.faults, pytest.mark.integration]

EXAMPLES_PER_OPERATION = 30


def test_no_operation_answers_with_a_server_error(live, transactional_db):
    client = ChatClient(live.base_url)
    client.conversation_create()  # the session owns something, so owner paths are reachable too
    headers = {"Cookie": client.cookie_header, "X-CSRFToken": client.http.cookies.get("csrftoken", ""),
               "Origin": live.base_url}
    schema = schemathesis.openapi.from_url(f"{live.base_url}/api/schema/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5
    calls = 0

    for operation in operations:
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def no_server_error(case):
            nonlocal calls
            response = case.call(base_url=live.base_url, headers=headers)
            calls += 1
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                                 response.text[:300])

        no_server_error()
    assert calls >= len(operations)
    client.close()
