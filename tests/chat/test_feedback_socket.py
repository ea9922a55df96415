"""Answer feedback over the chat WebSocket, through real daphne, Celery, Redis and the database: the owner votes,
changes and withdraws (each announced as `answer_feedback`), bad frames get clear error frames on an open socket,
and a stranger's vote on someone else's answer is refused exactly like a vote on no answer at all."""

from __future__ import annotations

import asyncio
import json

import jsonschema
import pytest
from channels.db import database_sync_to_async

from conversations import contracts
from conversations.models import AnswerFeedback, ConversationEvent
from tests.support.live import frames_until

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

DONE = {contracts.BUTTONS_COMPLETE, contracts.BUTTONS_ERROR, contracts.ANSWER_COMPLETE}


async def _answered(ws) -> tuple[int, int]:
    """Send a question; (the person's message id, the finished answer's id)."""
    await ws.send(json.dumps({"type": contracts.CLIENT_CHAT_MESSAGE, "message": "8517.13 관세율 알려줘"}))
    frames = await frames_until(ws, DONE, count=2, timeout=60)
    complete = next(f for f in frames if f["event"] == contracts.ANSWER_COMPLETE)
    return complete["message_id"], complete["data"]["assistant_message_id"]


async def _vote(ws, message_id: int, vote: str | None, reason: str | None = None) -> dict:
    frame = {"type": contracts.CLIENT_ANSWER_FEEDBACK, "message_id": message_id, "vote": vote}
    if reason is not None:
        frame["reason"] = reason
    await ws.send(json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), 15))


def _stored() -> list[tuple[int, str, str]]:
    return list(AnswerFeedback.objects.order_by("pk").values_list("message_id", "vote", "reason"))


async def test_the_owner_votes_changes_and_withdraws_over_the_socket(chat_client):
    conversation_id = chat_client.conversation_create()
    async with chat_client.connect(conversation_id) as ws:
        question_id, answer_id = await _answered(ws)
        announced = []
        for vote, reason in (("down", " 관세율이 달라요 "), ("up", None), (None, None)):
            frame = await _vote(ws, answer_id, vote, reason)
            jsonschema.validate(frame, contracts.SERVER_FRAME_SCHEMA)
            jsonschema.validate(frame["data"], contracts.DATA_SCHEMAS[contracts.ANSWER_FEEDBACK])
            assert frame["event"] == contracts.ANSWER_FEEDBACK and frame["message_id"] == question_id
            announced.append((frame["data"]["vote"], frame["data"]["reason"]))
            if vote == "down":
                assert await database_sync_to_async(_stored)() == [(answer_id, "down", "관세율이 달라요")]
        assert announced == [("down", "관세율이 달라요"), ("up", ""), (None, "")]
        assert await database_sync_to_async(_stored)() == []

        # The socket still carries the conversation: a fresh vote is stored and announced once.
        await _vote(ws, answer_id, "up", "정확해요")
    assert await database_sync_to_async(_stored)() == [(answer_id, "up", "정확해요")]


async def test_bad_feedback_frames_get_error_frames_and_the_socket_stays_open(chat_client):
    conversation_id = chat_client.conversation_create()
    async with chat_client.connect(conversation_id) as ws:
        question_id, answer_id = await _answered(ws)
        cases = [
            ({"type": "answer.feedback", "message_id": answer_id, "vote": "love"}, "invalid_vote"),
            ({"type": "answer.feedback", "message_id": answer_id}, "invalid_vote"),
            ({"type": "answer.feedback", "vote": "up"}, "invalid_frame"),
            ({"type": "answer.feedback", "message_id": answer_id, "vote": "up", "reason": "x" * 501},
             "reason_too_long"),
            ({"type": "answer.feedback", "message_id": answer_id, "vote": "up", "reason": {"$gt": ""}},
             "invalid_reason"),
            ({"type": "answer.feedback", "message_id": question_id, "vote": "up"}, "not_an_answer"),
        ]
        for payload, code in cases:
            await ws.send(json.dumps(payload))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
            jsonschema.validate(frame, contracts.ERROR_FRAME_SCHEMA)
            assert frame["data"]["code"] == code, payload
        assert await database_sync_to_async(_stored)() == []
        assert (await _vote(ws, answer_id, "down"))["event"] == contracts.ANSWER_FEEDBACK


async def test_a_stranger_cannot_vote_on_someone_elses_answer_and_learns_nothing(make_chat_client):
    owner, stranger = make_chat_client(), make_chat_client()
    async with owner.connect(owner.conversation_create()) as ws:
        _, answer_id = await _answered(ws)
    async with stranger.connect(stranger.conversation_create()) as ws:
        theirs = await _vote(ws, answer_id, "down", "악의적인 평가")
        missing = await _vote(ws, answer_id + 100_000, "down", "악의적인 평가")
    assert theirs == missing  # the same refusal whether the answer exists or not
    assert theirs["event"] == contracts.ERROR and theirs["data"]["code"] == "answer_not_found"
    assert await database_sync_to_async(_stored)() == []
    events = ConversationEvent.objects.filter(event=contracts.ANSWER_FEEDBACK)
    assert not await database_sync_to_async(events.exists)()
