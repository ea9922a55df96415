"""The first vertical slice through real daphne, Celery, Redis and the database."""

from __future__ import annotations

import asyncio
import json

import jsonschema
import pytest
import websockets
from channels.db import database_sync_to_async

from conversations import contracts
from conversations.models import ChatMessage, ConversationEvent
from tests.support.live import frames_until

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


BUTTON_TRACK = {contracts.MESSAGE_CREATED, contracts.THINKING, contracts.BUTTONS_START, contracts.BUTTON_READY,
                contracts.BUTTONS_COMPLETE, contracts.BUTTONS_ERROR}
DONE = {contracts.BUTTONS_COMPLETE, contracts.BUTTONS_ERROR, contracts.ANSWER_COMPLETE}


async def _exchange(ws, text: str) -> list[dict]:
    """Send a message and read until both its buttons and its answer are done."""
    await ws.send(json.dumps({"type": "chat.message", "message": text}))
    return await frames_until(ws, DONE, count=2)


def _validate(frame: dict) -> None:
    jsonschema.validate(frame, contracts.SERVER_FRAME_SCHEMA)
    jsonschema.validate(frame["data"], contracts.DATA_SCHEMAS[frame["event"]])


async def test_explicit_code_message_streams_three_buttons_then_complete(chat_client):
    conversation_id = chat_client.conversation_create()
    async with chat_client.connect(conversation_id) as ws:
        frames = await _exchange(ws, "8517.13 관세율 알려줘")

    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    for frame in frames:
        _validate(frame)
    events = [f["event"] for f in frames if f["event"] in BUTTON_TRACK]
    assert events == [contracts.MESSAGE_CREATED, contracts.THINKING, contracts.BUTTONS_START,
                      *[contracts.BUTTON_READY] * 3, contracts.BUTTONS_COMPLETE]
    assert frames[0]["event"] == contracts.MESSAGE_CREATED and frames[1]["event"] == contracts.THINKING
    buttons = {f["data"]["buttonType"]: f["data"] for f in frames if f["event"] == contracts.BUTTON_READY}
    assert set(buttons) == {"HS_CODE", "REGULATION", "STATISTICS"}
    assert buttons["HS_CODE"]["metadata"]["hscode"] == "8517.13"
    assert buttons["HS_CODE"]["metadata"]["analysisSource"] == "explicit"
    # tariff_rate intent keeps the HS code page first
    assert buttons["HS_CODE"]["priority"] == 1
    complete = next(f["data"] for f in frames if f["event"] == contracts.BUTTONS_COMPLETE)
    assert complete["summary"]["hscode_detected"] == "8517.13"
    assert complete["buttonsGenerated"] == 3

    message_id = frames[0]["message_id"]
    stored = await database_sync_to_async(ChatMessage.objects.get)(pk=message_id)
    assert stored.status == ChatMessage.Status.COMPLETED
    assert stored.hscode_analysis["detected_hscode"] == "8517.13"
    assert stored.hscode_analysis["classification_confidence"] == 1.0
    assert {b["type"] for b in stored.hscode_analysis["detail_buttons"]} == set(buttons)
    assert stored.hscode_analysis["intent_detection"]["primary_intent"] == "tariff_rate"
    assert stored.detail_page_processing_time is not None
    stored_events = database_sync_to_async(ConversationEvent.objects.filter(conversation_id=conversation_id).count)
    assert await stored_events() == len(frames)

    for data in buttons.values():  # every button leads to a real page
        response = await asyncio.to_thread(chat_client.http.get, data["url"])
        assert response.status_code == 200, data["url"]


# A bare digit run beside a product name is only a hint weighed against the text (tests/hscode/
# test_typed_code_cues.py); with a cue, or alone, it is the code.
@pytest.mark.parametrize("text", ["HS 851713 스마트폰", "8517130000 수입 요건", "HS 8517 규제", "8517.13.00"])
async def test_every_common_notation_drives_the_buttons(chat_client, text):
    conversation_id = chat_client.conversation_create()
    async with chat_client.connect(conversation_id) as ws:
        frames = await _exchange(ws, text)
    complete = [f for f in frames if f["event"] == contracts.BUTTONS_COMPLETE]
    assert complete and complete[0]["data"]["summary"]["hscode_detected"].startswith("8517")


async def test_message_without_code_gets_no_hscode_detected_with_suggestions(chat_client):
    conversation_id = chat_client.conversation_create()
    async with chat_client.connect(conversation_id) as ws:
        frames = await _exchange(ws, "안녕하세요, 반갑습니다")
    error = next(f for f in frames if f["event"] == contracts.BUTTONS_ERROR)
    assert error["event"] == contracts.BUTTONS_ERROR
    _validate(error)
    assert error["data"]["errorCode"] == "NO_HSCODE_DETECTED"
    assert set(contracts.NO_HSCODE_SUGGESTIONS) <= set(error["data"]["suggestions"])
    stored = await database_sync_to_async(ChatMessage.objects.get)(pk=error["message_id"])
    assert stored.status == ChatMessage.Status.FAILED
    assert stored.hscode_analysis["detected_hscode"] is None


async def test_stranger_is_refused_at_connect(make_chat_client):
    owner, stranger = make_chat_client(), make_chat_client()
    conversation_id = owner.conversation_create()
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with stranger.connect(conversation_id):
            pass
    assert refused.value.response.status_code == 403


async def test_foreign_origin_is_refused_at_connect(chat_client):
    conversation_id = chat_client.conversation_create()
    with pytest.raises(websockets.InvalidStatus):
        async with chat_client.connect(conversation_id, origin="http://evil.example"):
            pass


BAD_FRAMES = {
    "empty_message": json.dumps({"type": "chat.message", "message": ""}),
    "whitespace": json.dumps({"type": "chat.message", "message": " \n\t "}),
    "message_too_long": json.dumps({"type": "chat.message", "message": "가" * 2001}),
    "invalid_json": "{not json",
    "deeply_nested": "[" * 100_000 + "]" * 100_000,
    "nested_object": json.dumps({"type": "chat.message", "message": "x", "a": [[[[[[[[[[1]]]]]]]]]]}),
    "lone_surrogate": '{"type": "chat.message", "message": "\\ud800 bad"}',
    "unknown_type": json.dumps({"type": "chat.delete_everything"}),
    "not_an_object": json.dumps(["chat.message", "hi"]),
    "message_not_string": json.dumps({"type": "chat.message", "message": {"$gt": ""}}),
    "nul_character": json.dumps({"type": "chat.message", "message": "a\u0000b"}),
}
EXPECTED_CODES = {
    "empty_message": "empty_message",
    "whitespace": "empty_message",
    "message_too_long": "message_too_long",
    "invalid_json": "invalid_json",
    "deeply_nested": "frame_too_large",
    "nested_object": "frame_too_deep",
    "lone_surrogate": "invalid_encoding",
    "unknown_type": "unknown_type",
    "not_an_object": "invalid_frame",
    "message_not_string": "invalid_message",
    "nul_character": "invalid_encoding",
}


async def test_bad_frames_get_error_frames_keep_the_socket_and_save_nothing(chat_client):
    conversation_id = chat_client.conversation_create()
    async with chat_client.connect(conversation_id) as ws:
        for name, raw in BAD_FRAMES.items():
            await ws.send(raw)
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            jsonschema.validate(frame, contracts.ERROR_FRAME_SCHEMA)
            assert frame["data"]["code"] == EXPECTED_CODES[name], name
        await ws.send(b"\x00\x01binary")
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["data"]["code"] == "binary_not_supported"
        assert await database_sync_to_async(ChatMessage.objects.filter(conversation_id=conversation_id).count)() == 0
        # The same socket still works for a good message.
        frames = await _exchange(ws, "HS 8517")
    assert contracts.BUTTONS_COMPLETE in {f["event"] for f in frames}
    user_messages = ChatMessage.objects.filter(conversation_id=conversation_id, role="user")
    assert await database_sync_to_async(user_messages.count)() == 1


async def test_deep_nesting_within_the_frame_size_is_refused_cleanly(chat_client):
    conversation_id = chat_client.conversation_create()
    nested = "[" * 5000 + "]" * 5000  # 10 kB: under the size limit, deep enough to hurt a naive parser
    async with chat_client.connect(conversation_id) as ws:
        await ws.send(nested)
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert frame["data"]["code"] == "frame_too_deep"


async def test_idle_socket_stays_open_for_30_seconds_then_still_delivers(chat_client):
    conversation_id = chat_client.conversation_create()
    async with chat_client.connect(conversation_id) as ws:
        await asyncio.sleep(30)
        frames = await _exchange(ws, "8517.13")
    assert contracts.BUTTONS_COMPLETE in {f["event"] for f in frames}


async def test_an_uncertain_product_gets_candidates_and_a_pick_over_the_socket_builds_that_codes_buttons(
    chat_client, hsk_table
):
    conversation_id = chat_client.conversation_create()
    async with chat_client.connect(conversation_id) as ws:
        frames = await _exchange(ws, "stainless steel bottle opener")
        for frame in frames:
            _validate(frame)
        message_id = frames[0]["message_id"]
        candidates = [f["data"]["metadata"] for f in frames if f["event"] == contracts.BUTTON_READY]
        assert "8205.51" in {c["hscode"] for c in candidates} and all(c["candidate"] for c in candidates)
        assert contracts.BUTTONS_ERROR not in {f["event"] for f in frames}

        # A code that was not offered: a clean refusal, the socket stays open.
        await ws.send(json.dumps({"type": "hscode.choose", "message_id": message_id, "hscode": "8517.13"}))
        refused = json.loads(await ws.recv())
        assert refused == contracts.error_frame("not_a_candidate", refused["data"]["message"])

        await ws.send(json.dumps({"type": "hscode.choose", "message_id": message_id, "hscode": "8205.51"}))
        picked = await frames_until(ws, {contracts.BUTTONS_COMPLETE})
    for frame in picked:
        _validate(frame)
    assert [f["event"] for f in picked] == [contracts.BUTTONS_START, *[contracts.BUTTON_READY] * 3,
                                            contracts.BUTTONS_COMPLETE]
    assert picked[-1]["data"]["summary"]["hscode_detected"] == "8205.51"
    assert picked[-1]["data"]["chosenBy"] == "person"
    stored = await database_sync_to_async(ChatMessage.objects.get)(pk=message_id)
    assert stored.person_choice["hscode"] == "8205.51"
