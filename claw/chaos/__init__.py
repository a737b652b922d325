"""`claw chaos`: the whole local stack under faults, and the proof that nothing was lost.

Messages go in through the HTTP API and a fake WhatsApp bridge; a fake Anthropic API answers
with tool calls and fails a share of calls; a fault script SIGKILLs shard workers, Redis and
beat and takes the bridge's send endpoint down. Then the run waits for the stack to drain and
counts, from the database, the memory files and the fakes: messages lost, duplicate replies,
duplicate tool effects, order violations, groups stuck, and the time it took.

    plan.py     who writes what when, and which fault strikes when (from the seed)
    fakes/      the fake model and bridge (real HTTP servers on 127.0.0.1)
    stack.py    a private Redis and `claw up`, and finding processes in its tree
    traffic.py  the messages, at their times
    faults.py   the faults, at their times
    tally.py    the counts
    report.py   the printed table
    runner.py   one run, start to end
"""

from claw.chaos.errors import ChaosError
from claw.chaos.plan import ChaosOptions
from claw.chaos.report import ChaosReport, render
from claw.chaos.runner import run_chaos

__all__ = ["ChaosError", "ChaosOptions", "ChaosReport", "render", "run_chaos"]
