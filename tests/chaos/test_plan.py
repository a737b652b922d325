"""The chaos run plan: the same seed gives the same run; every fault class is in it."""

from __future__ import annotations

from collections import Counter

from claw.chaos.plan import ChaosOptions, FaultKind, make_plan


def test_the_same_seed_plans_the_same_run_and_another_seed_another() -> None:
    options = ChaosOptions.small(seed=5)
    assert make_plan(options) == make_plan(options)
    assert make_plan(options).messages != make_plan(ChaosOptions.small(seed=6)).messages


def test_messages_are_spread_over_api_and_whatsapp_groups_numbered_in_order() -> None:
    plan = make_plan(ChaosOptions(messages=1000, groups=20))
    assert len(plan.messages) == 1000
    assert Counter(g.channel for g in plan.groups) == {"http": 10, "whatsapp": 10}
    assert set(Counter(m.group.index for m in plan.messages).values()) == {50}
    for group in plan.groups:
        seqs = [m.seq for m in plan.messages if m.group == group]
        assert seqs == list(range(1, len(seqs) + 1))  # in arrival order
    assert len({m.id for m in plan.messages}) == 1000


def test_the_fault_script_holds_every_fault_class_within_the_traffic() -> None:
    options = ChaosOptions(kills=10, bridge_down=60, duration=300)
    faults = make_plan(options).faults
    kinds = Counter(f.kind for f in faults)
    assert kinds[FaultKind.KILL_WORKER_MAIN] == 5 and kinds[FaultKind.KILL_WORKER_CHILD] == 5
    assert kinds[FaultKind.KILL_REDIS] == kinds[FaultKind.KILL_BEAT] == 1
    down = next(f.at for f in faults if f.kind == FaultKind.BRIDGE_DOWN)
    up = next(f.at for f in faults if f.kind == FaultKind.BRIDGE_UP)
    assert up - down == 60
    assert all(0 < f.at < 300 for f in faults if f.kind != FaultKind.BRIDGE_UP)
    assert [f.at for f in faults] == sorted(f.at for f in faults)
