"""`claw bench`: claw's end-to-end speed next to a raw Celery 3-task chain on the same Redis.

The baseline answers "what would bare Celery do here?", so the printed ratios say what claw's
reliability (database first, per-group order, leases, outbox) costs on this machine.

    run_bench(BenchOptions()) -> BenchReport --render()--> the printed table
    BenchError: the run could not measure (a missed target is a result, not an error)
"""

from claw.bench.errors import BenchError
from claw.bench.report import BenchReport, render
from claw.bench.runner import BenchOptions, run_bench

__all__ = ["BenchError", "BenchOptions", "BenchReport", "render", "run_bench"]
