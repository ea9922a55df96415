"""The SSE transport's own promises: heartbeats keep an idle stream open, and what it refuses it refuses clearly."""

from __future__ import annotations

import itertools
import time

import httpx
import pytest

from tests.conftest import side_stack
from tests.support.live import ChatClient

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def heartbeat_stack(live_stack, tmp_path_factory):
    """A daphne whose SSE heartbeat comes every second (the default is 15 s), on Redis database 14."""
    with side_stack(tmp_path_factory, "sse-heartbeat", 14, workers=0, SSE_HEARTBEAT_S="1") as stack:
        yield stack


def test_an_idle_stream_gets_a_heartbeat_every_sse_heartbeat_s(heartbeat_stack, transactional_db):
    client = ChatClient(heartbeat_stack.base_url)
    conversation_id = client.conversation_create()
    url = f"{heartbeat_stack.base_url}/api/conversations/{conversation_id}/events"
    beats: list[float] = []
    with httpx.stream("GET", url, cookies=dict(client.http.cookies), timeout=20) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line == ": heartbeat":
                beats.append(time.monotonic())
            if len(beats) == 3:
                break
    client.close()
    # Three heartbeats on a stream with no events: it is kept open by them, about a second apart (generous
    # bounds: a loaded machine delays timers, and the point is "seconds, not the 15 s default").
    assert all(0.3 < later - earlier < 8 for earlier, later in itertools.pairwise(beats))


def test_a_method_other_than_get_is_refused_with_405_and_allow(chat_client):
    conversation_id = chat_client.conversation_create()
    url = f"{chat_client.base_url}/api/conversations/{conversation_id}/events"
    for method in ("POST", "TRACE", "DELETE"):
        response = chat_client.http.request(method, url, headers={"X-CSRFToken": chat_client.http.cookies["csrftoken"]})
        assert response.status_code == 405 and response.headers["allow"] == "GET", method
        assert response.json() == {"detail": "Only GET is allowed."}


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "", "1" * 19])
def test_a_malformed_after_is_a_400_while_a_stale_last_event_id_is_ignored(chat_client, after):
    conversation_id = chat_client.conversation_create()
    url = f"{chat_client.base_url}/api/conversations/{conversation_id}/events"
    refused = chat_client.http.get(url, params={"after": after})
    assert refused.status_code == 400 and "after" in refused.json()["detail"]
    # A browser resends whatever Last-Event-ID it kept: that is not an error, the stream starts from scratch.
    with chat_client.http.stream("GET", url, headers={"Last-Event-ID": after or "x"}) as response:
        assert response.status_code == 200
        assert next(response.iter_lines()) == "retry: 3000"
