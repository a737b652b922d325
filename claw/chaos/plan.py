"""The run plan: which message arrives when in which group, and which fault strikes when.

Everything here is a pure function of the options (the seed among them), so a run can be
repeated and a failing figure chased with the same plan. Half the groups (rounded up) talk
through the HTTP API, the others through the WhatsApp bridge.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum

from claw.chaos.ids import message_id

#: seconds Redis stays dead before it is started again on the same port and files
REDIS_DOWN_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    messages: int = 1000
    groups: int = 20
    kills: int = 10  #: SIGKILLs of shard workers, alternating main process and pool child
    bridge_down: float = 60.0  #: seconds the bridge's send endpoint answers 503
    seed: int = 1
    duration: float = 300.0  #: seconds over which the messages arrive (and the faults strike)
    drain_timeout: float = 600.0  #: after traffic and faults: how long the stack gets to finish
    failure_rate: float = 0.2  #: share of model calls that fail
    shards: int = 3

    @classmethod
    def small(cls, seed: int = 1) -> ChaosOptions:
        """The version `make test` runs: every fault class once or twice, about two minutes."""
        return cls(messages=60, groups=4, kills=2, bridge_down=20.0, seed=seed, duration=40.0,
                   drain_timeout=180.0)


@dataclass(frozen=True, slots=True)
class ChaosGroup:
    index: int
    channel: str  #: "http" (the API) or "whatsapp" (the bridge)
    chat_id: str

    @property
    def group_id(self) -> str:
        return f"{self.channel}:{self.chat_id}"


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    at: float  #: seconds after traffic starts
    group: ChaosGroup
    seq: int
    sender: str

    @property
    def id(self) -> str:
        return message_id(self.group.index, self.seq)

    @property
    def text(self) -> str:
        return f"chaos {self.id} please ack"


class FaultKind(StrEnum):
    KILL_WORKER_MAIN = "kill shard worker (main process)"
    KILL_WORKER_CHILD = "kill shard worker (pool child)"
    KILL_REDIS = "kill redis"
    KILL_BEAT = "kill beat"
    BRIDGE_DOWN = "bridge send down"
    BRIDGE_UP = "bridge send up"


@dataclass(frozen=True, slots=True)
class FaultEvent:
    at: float  #: seconds after traffic starts
    kind: FaultKind


@dataclass(frozen=True, slots=True)
class ChaosPlan:
    options: ChaosOptions
    groups: list[ChaosGroup]
    messages: list[PlannedMessage]
    faults: list[FaultEvent]

    @property
    def faults_end(self) -> float:
        return max((f.at for f in self.faults), default=0.0)


def plan_groups(count: int) -> list[ChaosGroup]:
    api = math.ceil(count / 2)
    return [
        ChaosGroup(n, "http", f"chaos{n:02d}") if n < api else ChaosGroup(n, "whatsapp", f"chaos{n:02d}@g.us")
        for n in range(count)
    ]


def plan_messages(options: ChaosOptions, groups: list[ChaosGroup]) -> list[PlannedMessage]:
    rng = random.Random(f"{options.seed}:messages")
    times = sorted(rng.uniform(0, options.duration) for _ in range(options.messages))
    # Round-robin over groups in a shuffled order: every group gets its share of the traffic.
    order = [n % len(groups) for n in range(options.messages)]
    rng.shuffle(order)
    seqs = [0] * len(groups)
    planned = []
    for at, index in zip(times, order):
        seqs[index] += 1
        planned.append(PlannedMessage(at, groups[index], seqs[index], f"user{rng.randrange(5)}"))
    return planned


def plan_faults(options: ChaosOptions) -> list[FaultEvent]:
    rng = random.Random(f"{options.seed}:faults")
    span = options.duration
    events = []
    for n in range(options.kills):
        # evenly spread over the middle 80% of the traffic, jittered within each slot
        slot = 0.8 * span / max(1, options.kills)
        at = 0.1 * span + slot * (n + rng.uniform(0.1, 0.9))
        kind = FaultKind.KILL_WORKER_MAIN if n % 2 == 0 else FaultKind.KILL_WORKER_CHILD
        events.append(FaultEvent(at, kind))
    events.append(FaultEvent(rng.uniform(0.35, 0.55) * span, FaultKind.KILL_REDIS))
    events.append(FaultEvent(rng.uniform(0.2, 0.8) * span, FaultKind.KILL_BEAT))
    if options.bridge_down > 0:
        down = rng.uniform(0.2, 0.4) * span
        events.append(FaultEvent(down, FaultKind.BRIDGE_DOWN))
        events.append(FaultEvent(down + options.bridge_down, FaultKind.BRIDGE_UP))
    return sorted(events, key=lambda event: event.at)


def make_plan(options: ChaosOptions) -> ChaosPlan:
    if options.messages < 1 or options.groups < 1 or options.groups > 99:
        raise ValueError("need at least one message, and between 1 and 99 groups")
    groups = plan_groups(options.groups)
    return ChaosPlan(options, groups, plan_messages(options, groups), plan_faults(options))
