"""The runbook's backup and restore: pg_dump a populated database, restore it, serve the same data."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conversations import contracts
from devtools.redis_server import EmbeddedRedis
from tests.conftest import stack_env
from tests.support.live import ChatClient, LiveStack, frames_until
from tests.support.pgcluster import ThrowawayPostgres

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.asyncio, pytest.mark.postgres_cluster]


async def test_a_restored_dump_serves_the_same_conversations_and_analyses(tmp_path):
    postgres = ThrowawayPostgres().init()
    try:
        with EmbeddedRedis() as redis:
            stack = LiveStack(stack_env(REDIS_URL=redis.url, DATABASE_URL=postgres.url("app")), tmp_path)
            subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], env=stack.env, check=True,
                           capture_output=True)
            try:
                stack.start_daphne()
                stack.start_worker()
                client = ChatClient(stack.base_url)
                conversation_id = client.conversation_create()
                async with client.connect(conversation_id) as ws:
                    await ws.send(json.dumps({"type": "chat.message", "message": "8517.13 관세율 알려줘"}))
                    await frames_until(ws, {contracts.BUTTONS_COMPLETE, contracts.ANSWER_COMPLETE}, count=2)
                before = client.messages(conversation_id)
            finally:
                stack.stop()

            dump = postgres.root / "backup.dump"
            postgres.dump("app", dump)  # pg_dump -Fc, as docs/operations.md says
            postgres.restore("restored", dump)  # createdb + pg_restore into a fresh database

            restored = LiveStack(stack_env(REDIS_URL=redis.url, DATABASE_URL=postgres.url("restored")), tmp_path)
            try:
                restored.start_daphne()
                client.base_url = restored.base_url
                client.http.base_url = restored.base_url
                after = client.messages(conversation_id)  # the same session cookie: sessions are restored too
            finally:
                restored.stop()
        assert after == before
        assert after[0]["hscode_analysis"]["detected_hscode"] == "8517.13"
        assert {m["role"] for m in after} == {"user", "assistant"}
    finally:
        postgres.cleanup()
