"""The real client's address through nginx: a forged X-Forwarded-For does not escape the per-address limit.

In a module of its own, collected after test_production.py: it spends the address's budget for the rest of
the minute, which the tests there would otherwise share."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from conversations import contracts
from tests.production.conftest import OPERATOR_ENV
from tests.support.live import ChatClient, frames_until

pytestmark = [pytest.mark.production, pytest.mark.integration]


@pytest.mark.asyncio
async def test_forged_x_forwarded_for_does_not_escape_the_limit(live, transactional_db):
    """Through nginx every request counts against the address nginx saw, whatever X-Forwarded-For the client
    writes: first the address's message budget is spent honestly, then seven sockets with forged first entries
    (each a new session) are all refused."""
    limit, window = (int(part) for part in OPERATOR_ENV["CHAT_RATE_LIMIT_IP"].split("/"))
    if time.time() % window > window - 25:  # the fixed window must not roll over between the two halves
        await asyncio.sleep(window - time.time() % window + 0.5)
    forged = [f"203.0.113.{i}" for i in range(1, 8)]
    people = [await asyncio.to_thread(ChatClient, live.base_url, behind_tls=True) for _ in range(len(forged) + 1)]
    try:
        conversations = [await asyncio.to_thread(p.conversation_create) for p in people]
        honest, honest_conversation = people[0], conversations[0]
        accepted = 0
        async with honest.connect(honest_conversation) as ws:
            for _ in range(limit + 1):
                await ws.send(json.dumps({"type": "chat.message", "message": "HS 8517"}))
                frame = (await frames_until(ws, {contracts.MESSAGE_CREATED, contracts.ERROR}, timeout=30))[-1]
                if frame["event"] == contracts.ERROR:
                    assert frame["data"]["code"] == "rate_limited"
                    break
                accepted += 1
        assert accepted <= limit  # the budget of 127.0.0.1 is spent (others in this minute may have used some)
        codes = []
        for person, conversation_id, address in zip(people[1:], conversations[1:], forged, strict=True):
            url = person.ws_url(conversation_id)
            headers = {"Cookie": person.cookie_header, "Origin": person.origin, "X-Forwarded-Proto": "https",
                       "X-Forwarded-For": f"{address}, 198.51.100.1"}
            async with websockets.connect(url, additional_headers=headers, open_timeout=10) as ws:
                await ws.send(json.dumps({"type": "chat.message", "message": "HS 8517"}))
                frame = (await frames_until(ws, {contracts.MESSAGE_CREATED, contracts.ERROR}, timeout=30))[-1]
                codes.append(frame["data"].get("code", frame["event"]))
        assert codes == ["rate_limited"] * len(forged)
        with httpx.Client(base_url=live.base_url, timeout=10) as http:
            assert http.get("/healthz").status_code == 200  # the site still serves others
    finally:
        for person in people:
            person.close()
