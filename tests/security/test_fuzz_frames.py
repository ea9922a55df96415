"""10,000 generated hostile frames against the real consumer: each gets a clean error, none crashes it."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from conversations import contracts
from tests.support.live import ChatClient

pytestmark = [pytest.mark.faults, pytest.mark.integration]

FRAMES = 10_000
ERROR_CODES = {
    "binary_not_supported", "frame_too_large", "frame_too_deep", "invalid_json", "invalid_frame", "unknown_type",
    "invalid_message", "invalid_encoding", "empty_message", "message_too_long",
    # a pick or a bookmark of a message this conversation does not have
    "not_found", "bookmark_unavailable",
    # a vote: not a vote, a reason that is not text, or an answer this conversation does not have
    "invalid_vote", "invalid_reason", "answer_not_found",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
hostile_objects = st.fixed_dictionaries(
    {"type": st.sampled_from(["chat.message", "chat.stop", "resync", "hscode.choose", "bookmark.save",
                              "answer.feedback", "x", "", "chat.message\x00"]) | st.text()},
    optional={"message": json_values, "after": json_values, "message_id": json_values, "hscode": json_values,
              "vote": st.sampled_from(["up", "down", None]) | json_values, "reason": json_values},
).filter(
    # A well-formed chat message would be saved and answered: that is not an attack frame.
    lambda d: not (d.get("type") == "chat.message" and isinstance(d.get("message"), str)
                   and d["message"].strip() and len(d["message"].strip()) <= 2000
                   and "\x00" not in d["message"])
    and d.get("type") not in ("chat.stop", "resync")
)
frames = st.one_of(
    hostile_objects.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n),
    st.text(alphabet="{}[]\":,\\u0", max_size=300),
)


@pytest.fixture
def socket(live, transactional_db):
    client = ChatClient(live.base_url)
    conversation_id = client.conversation_create()
    headers = {"Cookie": client.cookie_header, "Origin": live.base_url}
    with connect(client.ws_url(conversation_id), additional_headers=headers, max_size=2**22) as ws:
        yield ws, client, conversation_id
    client.close()


def test_ten_thousand_hostile_frames_each_get_a_clean_error(socket):
    ws, client, conversation_id = socket
    seen_codes: set[str] = set()
    sent = 0

    @settings(max_examples=FRAMES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(frames)
    def send_one(frame):
        nonlocal sent
        sent += 1
        ws.send(frame)
        reply = json.loads(ws.recv(timeout=10))
        assert reply["event"] == contracts.ERROR, (frame, reply)
        assert reply["data"]["code"] in ERROR_CODES, reply
        seen_codes.add(reply["data"]["code"])

    send_one()
    assert sent == FRAMES  # as documented (docs/reliability.md): every one of the 10,000 got its error frame
    assert len(seen_codes) >= 6  # the generator really reached the different refusals
    assert client.messages(conversation_id) == []  # nothing was saved

    # The same socket, after all that, still serves a well-behaved person.
    ws.send(json.dumps({"type": "chat.message", "message": "HS 8517"}))
    events = set()
    while not {contracts.BUTTONS_COMPLETE, contracts.ANSWER_COMPLETE} <= events:
        events.add(json.loads(ws.recv(timeout=30))["event"])
