"""The printed result of a chaos run: what was done to the stack, then the figures.

Every figure but the time to drain must be zero; ``failed_figures`` names those that are not,
and the command exits non-zero when there are any.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from claw.chaos.fakes.model import ModelStats
from claw.chaos.faults import AppliedFault
from claw.chaos.plan import ChaosPlan
from claw.chaos.tally import Tally

#: examples shown per non-zero figure, so the report stays short
EXAMPLES = 5


@dataclass
class ChaosReport:
    plan: ChaosPlan
    tally: Tally
    faults: list[AppliedFault]
    model: ModelStats
    refused_sends: int
    api_retries: int
    drain_seconds: float | None  #: None: not drained within the drain timeout
    run_seconds: float

    def figures(self) -> list[tuple[str, int, list[str]]]:
        """(name, count, examples) of every figure that must be zero."""
        t = self.tally
        effects = [f"{kind}: {token}" for kind, found in t.duplicate_effects.items() for token in found]
        stuck = [f"{group} owes {len(ids)} ({', '.join(ids[:3])})" for group, ids in sorted(t.outstanding.items())]
        return [
            ("messages lost", len(t.lost), t.lost),
            ("duplicate replies", len(t.duplicate_replies), t.duplicate_replies),
            ("duplicate tool effects", t.duplicate_effect_count, effects),
            ("order violations", len(t.order_violations), t.order_violations),
            ("misrouted replies", len(t.misrouted), t.misrouted),
            ("groups stuck", len(t.stuck_groups), stuck),
        ]

    def failed_figures(self) -> list[str]:
        return [name for name, value, _ in self.figures() if value]


def render(report: ChaosReport) -> str:
    plan, options, t = report.plan, report.plan.options, report.tally
    api = sum(1 for g in plan.groups if g.channel == "http")
    kinds = Counter(str(f.kind) for f in report.faults if f.ok)
    failed_faults = [f for f in report.faults if not f.ok]
    failures = ", ".join(f"{kind}: {n}" for kind, n in sorted(report.model.failures.items()))
    lines = [
        f"claw chaos: {t.messages} messages over {len(plan.groups)} groups "
        f"({api} API, {len(plan.groups) - api} WhatsApp) in {options.duration:g}s, seed {options.seed}",
        f"faults applied: {len(report.faults) - len(failed_faults)} of {len(plan.faults)}: "
        + "; ".join(f"{kind} x{n}" for kind, n in kinds.items()),
    ]
    lines += [f"  {f.at:6.1f}s {f.kind}{'' if f.ok else ' NOT APPLIED'}: {f.detail}" for f in report.faults]
    lines += [
        f"model: {report.model.calls} calls, {sum(report.model.failures.values())} failed ({failures or 'none'})",
        f"tools: effects done schedule={t.effects['schedule']} memory={t.effects['memory']} "
        f"ipc={t.effects['ipc']}; asked but never done: {len(t.missing_effects)}",
        f"  duplicated: schedule={len(t.duplicate_effects['schedule'])} "
        f"memory={len(t.duplicate_effects['memory'])} ipc={len(t.duplicate_effects['ipc'])}",
        f"delivery: {t.replies} replies delivered, {t.notices} model-outage notices written, "
        f"bridge refused {report.refused_sends} sends while down, "
        f"outbox unsent {t.unsent_rows}, given up {t.failed_rows}; API retries {report.api_retries}",
        "",
        f"{'figure':<24}{'count':>8}  expected",
    ]
    for name, value, examples in report.figures():
        shown = f"  e.g. {', '.join(examples[:EXAMPLES])}" if value else ""
        lines.append(f"{name:<24}{value:>8}  0{shown}")
    drain = (f"{report.drain_seconds:.1f} s" if report.drain_seconds is not None
             else f"not drained in {options.drain_timeout:g} s")
    lines.append(f"{'time to drain':<24}{drain:>8}")
    failed = report.failed_figures()
    lines += ["", f"result: {'FAIL (' + ', '.join(failed) + ')' if failed else 'PASS'} "
                  f"in {report.run_seconds:.0f} s"]
    return "\n".join(lines)

