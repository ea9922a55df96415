"""Which Celery queue each task goes to (CELERY_TASK_ROUTES lists this router first).

"io" is served by a threads-pool worker, so a task that waits seconds on the network never holds one of the few
prefork (CPU) processes. A task goes there only while it will actually wait on the network: with Context7 off,
detail-page preparation is pure CPU, and so is the grounded answer without an LLM endpoint. Sent to "io" anyway,
that CPU work would contend for one interpreter's GIL instead of running on the prefork processes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

IO_QUEUE = "io"


def _context7_enabled() -> bool:
    from hscode.context7_consult import context7_enabled

    return context7_enabled()


def _llm_enabled() -> bool:
    from chat.answer_stream import llm_enabled

    return llm_enabled()


WAITS_ON_NETWORK: dict[str, Callable[[], bool]] = {
    "hscode.tasks.detail_page_prepare": _context7_enabled,
    "chat.tasks.answer_generate": _llm_enabled,
}


def route_network_bound(name: str, args: Any, kwargs: Any, options: Any, task: Any = None,
                        **extra: Any) -> dict[str, str] | None:
    """Route a task to "io" while its work waits on the network; None lets the static routes decide."""
    waits = WAITS_ON_NETWORK.get(name)
    if waits is not None and waits():
        return {"queue": IO_QUEUE}
    return None
