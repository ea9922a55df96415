"""The production shape on this machine: Debian's nginx with deploy/nginx.conf in front of two daphnes and two
Celery workers started as docker-compose.yml starts them (DEBUG=0), every compose healthcheck green, the chat
end to end through nginx, no redirect loop behind a TLS-terminating proxy, operator endpoints closed, the real
client's address keyed, and the delivery and security tests run through it (imported below)."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import websockets
import yaml

from conversations import contracts
from tests.chat.test_chat_flow import (  # noqa: F401  (collected here: run through nginx)
    test_bad_frames_get_error_frames_keep_the_socket_and_save_nothing,
    test_explicit_code_message_streams_three_buttons_then_complete,
    test_foreign_origin_is_refused_at_connect,
    test_message_without_code_gets_no_hscode_detected_with_suggestions,
    test_stranger_is_refused_at_connect,
)
from tests.conversations.test_delivery import (  # noqa: F401
    test_a_repeated_question_gets_its_buttons_from_the_cache,
    test_parallel_task_metrics_and_bookmark_are_stored_in_the_seed_shape,
    test_reconnecting_mid_flight_with_after_misses_nothing_and_repeats_nothing,
    test_replay_after_a_disconnect_at_any_point_yields_exactly_the_missed_events,
    test_resync_frame_replays_from_the_given_seq,
    test_sse_stream_resumes_after_last_event_id_and_refuses_strangers,
)
from tests.production.conftest import METRICS_TOKEN
from tests.support.live import ChatClient, frames_until

pytestmark = [pytest.mark.production, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
DONE = {contracts.BUTTONS_COMPLETE, contracts.BUTTONS_ERROR, contracts.ANSWER_COMPLETE}
BALANCER = {"X-Forwarded-Proto": "https"}  # what the TLS-terminating balancer adds to each request


def test_every_compose_healthcheck_goes_green(production_stack):
    """Every long-running service's healthcheck, run verbatim against the real process (docker-compose.yml: all
    but the one-shot migrate job), passes; a Celery check answers only for its own node, and beat's fails once beat
    is gone."""
    stack = production_stack
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert set(stack.healthchecks) == set(services) - {"migrate"}
    stack.service_start("beat")
    try:
        results = {service: stack.healthcheck(service) for service in sorted(stack.healthchecks)}
        failed = {service: (stack.healthcheck_argv(service), result.stdout + result.stderr)
                  for service, result in results.items() if result.returncode != 0}
        assert failed == {}
        # The commands were run as compose has them: each Celery ping names the node of compose's HOSTNAME, and
        # under another host name no node answers (so a green check was that process's own answer).
        celery = [service for service, test in stack.healthchecks.items() if "inspect ping" in " ".join(test)]
        assert sorted(celery) == ["beat", "worker", "worker-bulk", "worker-io"]
        assert all("$HOSTNAME" in stack.healthcheck_argv(service)[-1] for service in celery)
        with ThreadPoolExecutor(len(celery)) as pool:
            elsewhere = dict(zip(celery, pool.map(lambda s: stack.healthcheck(s, HOSTNAME="elsewhere"), celery),
                                 strict=True))
        unanswered = {service: result.returncode != 0 and "No nodes replied" in result.stdout + result.stderr
                      for service, result in elsewhere.items()}
        assert unanswered == dict.fromkeys(celery, True), elsewhere
    finally:
        stack.service_stop("beat")
    gone = stack.healthcheck("beat")  # beat stopped: its check fails
    assert gone.returncode != 0 and "No nodes replied" in gone.stdout + gone.stderr
    assert stack.env["DEBUG"] == "0"


def test_https_behind_a_tls_terminating_proxy_is_served_without_a_redirect_loop(production_stack):
    base = production_stack.base_url
    with httpx.Client(base_url=base, timeout=10) as http:
        page = http.get("/", headers=BALANCER)
        assert page.status_code == 200
        assert "보내기" in page.text
        assert page.headers["Strict-Transport-Security"].startswith("max-age=")
        assert "Secure" in page.headers["set-cookie"]
        # Plain HTTP that reached the site without the balancer: one redirect to HTTPS, to the same host and port.
        plain = http.get("/")
        assert plain.status_code == 301
        location = plain.headers["Location"]
        assert location == f"https://127.0.0.1:{production_stack.port}/"
        # The balancer forwards that HTTPS request as plain HTTP with X-Forwarded-Proto: no second redirect.
        again = http.get("/", headers=BALANCER)
        assert again.status_code == 200
        # Probes inside the network speak plain HTTP and are not redirected.
        assert http.get("/healthz").status_code == 200


def test_static_files_come_from_nginx(production_stack):
    with httpx.Client(base_url=production_stack.base_url, timeout=10) as http:
        script = http.get("/static/chat/chat.js")
    assert script.status_code == 200
    assert script.headers["Server"].startswith("nginx")
    assert "E.replayMore" in script.text  # the project's own current chat.js, not a stale copy


def test_operator_endpoints_refuse_anonymous_callers_under_debug_off(production_stack):
    with httpx.Client(base_url=production_stack.base_url, timeout=10) as http:
        assert http.get("/metrics").status_code == 401
        assert http.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        scraped = http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert scraped.status_code == 200 and "tradechat_messages" in scraped.text
        public = http.get("/healthz")
        assert public.json() == {"status": "ok"}
        assert http.get("/healthz?details").status_code == 401
        detailed = http.get("/healthz?details", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert set(detailed.json()["checks"]) == {"database", "redis", "celery"}


@pytest.mark.asyncio
async def test_the_chat_works_end_to_end_through_nginx_on_both_daphnes(live, transactional_db):
    clients = [await asyncio.to_thread(ChatClient, live.base_url, behind_tls=True) for _ in range(4)]
    try:
        for client in clients:
            conversation_id = await asyncio.to_thread(client.conversation_create)
            async with client.connect(conversation_id) as ws:
                await ws.send(json.dumps({"type": "chat.message", "message": "8517.13 관세율 알려줘"}))
                frames = await frames_until(ws, DONE, count=2, timeout=60)
            events = [f["event"] for f in frames]
            assert contracts.BUTTONS_COMPLETE in events and contracts.ANSWER_COMPLETE in events
    finally:
        for client in clients:
            client.close()
    # nginx spread the work over both daphnes (round robin; the access log names the upstream of each request).
    access = (live.work / "nginx-access.log").read_text()
    for name in ("web", "web2"):
        assert f"upstream=127.0.0.1:{live.ports[name]}" in access, name


@pytest.mark.asyncio
async def test_only_the_exact_https_origin_opens_a_socket_through_nginx(live, transactional_db):
    client = await asyncio.to_thread(ChatClient, live.base_url, behind_tls=True)
    conversation_id = await asyncio.to_thread(client.conversation_create)
    port = live.port
    for origin in (f"http://127.0.0.1:{port}", "https://127.0.0.1:1", "https://127.0.0.1", "https://localhost"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with client.connect(conversation_id, origin=origin):
                pass
        assert refused.value.response.status_code == 403, origin
    async with client.connect(conversation_id, origin=f"https://127.0.0.1:{port}") as ws:
        await ws.send(json.dumps({"type": "resync"}))
        assert json.loads(await ws.recv())["event"] == contracts.SNAPSHOT
    client.close()


@pytest.mark.asyncio
async def test_the_gateway_limits_requests_and_sockets_per_address(live, transactional_db):
    """deploy/nginx.conf's per-address limits, as nginx applies them: a burst of requests past `limit_req`
    (20 r/s, burst 40) and WebSockets past `limit_conn` (50 open per address) get nginx's 503."""
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30, headers=BALANCER,
                                 limits=httpx.Limits(max_connections=120)) as http:
        burst = await asyncio.gather(*(http.get("/gateway-limit-probe/") for _ in range(120)))
    statuses = [response.status_code for response in burst]
    assert set(statuses) == {404, 503}, statuses  # Django's 404 for what passed, nginx's 503 for the rest
    assert 41 <= statuses.count(404) < 120  # the burst of 40 (and the rate) passed, the excess was refused
    assert all("nginx" in r.text for r in burst if r.status_code == 503)

    client = await asyncio.to_thread(ChatClient, live.base_url, behind_tls=True)
    conversation_id = await asyncio.to_thread(client.conversation_create)
    sockets = []
    try:
        for _ in range(50):
            sockets.append(await client.connect(conversation_id).__aenter__())
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with client.connect(conversation_id):
                pass
        assert refused.value.response.status_code == 503
        await sockets.pop().close()
        # One closed, one more may open (once nginx has seen the close: retried until then, up to 20 s).
        async with asyncio.timeout(20):
            while True:
                try:
                    async with client.connect(conversation_id) as ws:
                        await ws.send(json.dumps({"type": "resync"}))
                        assert json.loads(await ws.recv())["event"] == contracts.SNAPSHOT
                        break
                except websockets.InvalidStatus as still_full:
                    assert still_full.response.status_code == 503
                    await asyncio.sleep(0.2)
    finally:
        for ws in sockets:
            await ws.close()
        client.close()
