"""Strangers, hostile input and production settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels.db import database_sync_to_async

from conversations import contracts
from conversations.models import ChatMessage
from tests.conftest import side_stack
from tests.support.live import ChatClient, frames_until

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def test_deploy_check_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", DEBUG="0",
                     SECRET_KEY="x" * 20 + "-production-secret-from-the-environment-0123456789",
                     ALLOWED_HOSTS="chat.example.com")
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DEBUG="0", ALLOWED_HOSTS="chat.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.fixture(scope="module")
def limited_stack(live_stack, tmp_path_factory):
    with side_stack(tmp_path_factory, "limited-stack", 6, CHAT_RATE_LIMIT_SESSION="3/60",
                    CHAT_RATE_LIMIT_IP="5/60") as stack:
        yield stack


@pytest.mark.integration
@pytest.mark.asyncio
async def test_message_rate_limits_per_session_and_per_address(limited_stack, transactional_db):
    first, second = ChatClient(limited_stack.base_url), ChatClient(limited_stack.base_url)
    conversation_id = first.conversation_create()
    async with first.connect(conversation_id) as ws:
        for _ in range(3):
            await ws.send(json.dumps({"type": "chat.message", "message": "HS 8517"}))
            await frames_until(ws, {contracts.MESSAGE_CREATED})
        await ws.send(json.dumps({"type": "chat.message", "message": "HS 8517"}))
        refused = await frames_until(ws, {contracts.ERROR})
        assert refused[-1]["data"]["code"] == "rate_limited"
        await ws.send(json.dumps({"type": "resync"}))  # the socket stays open
        assert (await frames_until(ws, {contracts.SNAPSHOT}))[-1]["event"] == contracts.SNAPSHOT
    count = database_sync_to_async(ChatMessage.objects.filter(conversation_id=conversation_id, role="user").count)
    assert await count() == 3

    other = second.conversation_create()  # another session, same address: 2 more fit under 5 per address
    async with second.connect(other) as ws:
        codes = []
        for _ in range(3):
            await ws.send(json.dumps({"type": "chat.message", "message": "HS 8471"}))
            frame = (await frames_until(ws, {contracts.MESSAGE_CREATED, contracts.ERROR}))[-1]
            codes.append(frame["data"].get("code", frame["event"]))
    assert codes == [contracts.MESSAGE_CREATED, contracts.MESSAGE_CREATED, "rate_limited"]
    first.close()
    second.close()


def test_debug_is_off_by_default_and_then_a_secret_key_is_required():
    result = _manage("check", ALLOWED_HOSTS="chat.example.com")  # DEBUG not set at all
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_the_published_development_key_and_short_keys():
    for key in ("dev-only-insecure-key-change-me", "too-short-a-secret"):
        result = _manage("check", DEBUG="0", SECRET_KEY=key, ALLOWED_HOSTS="chat.example.com")
        assert result.returncode != 0, key
        assert "SECRET_KEY must be a real secret" in result.stderr
