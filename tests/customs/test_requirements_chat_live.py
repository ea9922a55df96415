"""Through the real chat (daphne, a Celery worker, Redis, the database) wired to the fake KCS services: the answer
to "냉동 삼겹살 수입 요건" lists the requirement rows."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from conversations import contracts
from tests.customs.kcs_fixtures import kcs_stack  # noqa: F401
from tests.support.live import ChatClient, frames_until

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


async def test_the_chat_answers_a_regulation_question_with_the_requirement_rows(kcs_stack, hsk_table):  # noqa: F811
    stack, fake = kcs_stack
    client = ChatClient(stack.base_url)
    try:
        conversation_id = await database_sync_to_async(client.conversation_create)()
        async with client.connect(conversation_id) as ws:
            await ws.send('{"type": "chat.message", "message": "냉동 삼겹살 수입 요건"}')
            # The answer is what this test reads: wait for it (button events may come before or after it).
            await frames_until(ws, {contracts.ANSWER_COMPLETE}, timeout=60)
        messages = await database_sync_to_async(client.messages)(conversation_id)
    finally:
        client.close()
    answer = next(m["content"] for m in messages if m["role"] == "assistant")
    assert "한국 세관장확인대상 수입 요건" in answer
    assert "가축전염병 예방법 / 농림축산검역본부 / 수입검역증명서" in answer
    assert "수입식품안전관리 특별법 / 식품의약품안전처 / 수입식품등의 신고확인증" in answer
    assert fake.request_count("ccct_gw") >= 1
