"""Which Celery queue each task goes to (CELERY_TASK_ROUTES lists this router first).

"io" is served by a threads-pool worker, so a task that waits seconds on the network never holds one of the few
prefork (CPU) processes. The orchestrator (hscode/pipeline.py, on "chat") publishes these two tasks only when their
step waits on the network (Context7; an LLM endpoint or a live 세관장확인 lookup); a task of these names published
otherwise (by an older release, still queued) stays on "chat": its work is pure CPU then, and sent to "io" it
would contend for one interpreter's GIL instead of running on the prefork processes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

IO_QUEUE = "io"


def _context7_enabled() -> bool:
    from hscode.context7_consult import context7_enabled

    return context7_enabled()


def _answer_waits_on_network() -> bool:
    from hscode.answer_stream import answer_waits_on_network

    return answer_waits_on_network()


WAITS_ON_NETWORK: dict[str, Callable[[], bool]] = {
    "hscode.tasks.detail_page_prepare": _context7_enabled,
    "chat.tasks.answer_generate": _answer_waits_on_network,
}


def route_network_bound(name: str, args: Any, kwargs: Any, options: Any, task: Any = None,
                        **extra: Any) -> dict[str, str] | None:
    """Route a task to "io" while its work waits on the network; None lets the static routes decide."""
    waits = WAITS_ON_NETWORK.get(name)
    if waits is not None and waits():
        return {"queue": IO_QUEUE}
    return None
