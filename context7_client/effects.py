"""The I/O requests the sans-IO core yields to its drivers.

The core's lookup flow is a generator: it yields one of these, the sync or
async driver performs it and sends the result back (or throws the
Context7Error it produced). Drivers contain no decisions of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from resilience.effects import RedisOp

__all__ = ["Exchange", "RedisOp"]

if TYPE_CHECKING:
    from .core import AttemptRun


@dataclass(frozen=True, slots=True)
class Exchange:
    """Perform the HTTP exchange of `run`, retried by stamina as `run` decides.

    The driver sends back whatever `run.finish()` returns, or throws the
    Context7Error of the last attempt into the flow.
    """

    run: AttemptRun
