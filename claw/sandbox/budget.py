"""Sandbox time per turn: every run_code call of one turn draws on one budget.

Why: each run is capped by ``wall_seconds``, but a turn may call run_code again and again, and
the group's shard serves no one else meanwhile (three 30-second runs held a shard for 90 s).
The turn's ToolContext carries one :class:`TurnBudget`; a run is refused once the group's
``turn_seconds`` are spent, and each run's wall clock is capped by what is left.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from claw.sandbox.errors import SandboxError
from claw.sandbox.limits import Limits

#: below this many seconds left, a run is not worth starting
MIN_RUN_SECONDS = 0.5


class BudgetExhausted(SandboxError):
    """This turn's sandbox time is spent: no more code runs until the next turn."""


@dataclass
class TurnBudget:
    """Seconds of sandbox time spent so far in one turn (shared by its run_code calls)."""

    spent: float = 0.0
    runs: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def allow(self, limits: Limits) -> Limits:
        """The limits for the next run, its wall clock capped by what is left of the budget."""
        with self._lock:
            left = limits.turn_seconds - self.spent
        if left < MIN_RUN_SECONDS:
            raise BudgetExhausted(
                f"no more code runs this turn: this turn's sandbox time ({limits.turn_seconds:g} s) "
                f"is spent by {self.runs} run(s); answer with what you have"
            )
        if left >= limits.wall_seconds:
            return limits
        return limits.model_copy(update={"wall_seconds": left})

    def spend(self, seconds: float) -> None:
        with self._lock:
            self.spent += seconds
            self.runs += 1
