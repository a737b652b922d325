"""Counting what the chat members would have seen, and what the tools did.

Replies are read where a member reads them: for an API group, the assistant messages the API
lists (the stack's database, replies whose outbox row is sent); for a WhatsApp group, what
the fake bridge received, in the order it received it. From those:

- lost: a message no delivered reply echoes, and that claw no longer owes (it is not pending,
  its reply is not waiting to be sent): never accepted, never stored, or answered by a reply
  that was given up on or did not carry it;
- outstanding (the groups stuck): messages claw still owes when the drain time is up;
- duplicate replies: a message id echoed by more than one delivered reply;
- order violations: within a group, an id delivered after a later id of the same group;
- misrouted: an id delivered to a group it was not written in;
- duplicate tool effects: a token found more than once, in the schedules table, in the
  group's memory topic files, or among IPC messages (the database and the bridge).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from claw.chaos.fakes.bridge import ChaosBridge
from claw.chaos.fakes.model import ScriptedModel
from claw.chaos.ids import TOOL_KINDS, message_ids, parse_message_id, tokens
from claw.chaos.plan import ChaosPlan
from claw.chaos.stack import ChaosStack
from claw.chaos.traffic import Traffic

BRIDGE_INDEX = re.compile(r"^wamid\.chaos\.(\d+)$")


@dataclass
class Tally:
    messages: int = 0
    replies: int = 0  #: delivered replies that echo at least one id
    notices: int = 0  #: "I can't reach the model" notices written (a turn the model failed)
    lost: list[str] = field(default_factory=list)
    outstanding: dict[str, list[str]] = field(default_factory=dict)  #: group -> ids still owed
    duplicate_replies: list[str] = field(default_factory=list)
    order_violations: list[str] = field(default_factory=list)
    misrouted: list[str] = field(default_factory=list)
    duplicate_effects: dict[str, list[str]] = field(default_factory=dict)
    effects: Counter[str] = field(default_factory=Counter)  #: distinct tokens done, by kind
    missing_effects: list[str] = field(default_factory=list)  #: asked for, never done
    unsent_rows: int = 0  #: outbox rows still pending or sending
    failed_rows: int = 0  #: outbox rows given up on

    @property
    def stuck_groups(self) -> list[str]:
        return sorted(self.outstanding)

    @property
    def duplicate_effect_count(self) -> int:
        return sum(len(found) for found in self.duplicate_effects.values())


@dataclass
class GroupReading:
    """What one group's members saw, read in the order they saw it."""

    replies: int = 0
    delivered: Counter[str] = field(default_factory=Counter)  #: id -> replies that echoed it
    order_violations: list[str] = field(default_factory=list)
    misrouted: list[str] = field(default_factory=list)


def read_group(group_id: str, texts: list[str], group_of: dict[str, str]) -> GroupReading:
    """Echoed ids, in order. An id seen again is a duplicate, not also an order violation."""
    reading = GroupReading()
    newest_seq = 0
    for text in texts:
        ids = message_ids(text)
        reading.replies += bool(ids)
        for found in ids:
            if group_of.get(found) != group_id:
                reading.misrouted.append(f"{found} in {group_id}")  # not delivered where it belongs
                continue
            reading.delivered[found] += 1
            if reading.delivered[found] > 1:
                continue
            seq = parse_message_id(found)[1]
            if seq < newest_seq:
                reading.order_violations.append(f"{found} after {newest_seq} in {group_id}")
            newest_seq = max(newest_seq, seq)
    return reading


def delivered_replies(plan: ChaosPlan, stack: ChaosStack, bridge: ChaosBridge) -> dict[str, list[str]]:
    """Group id -> the texts of what its members received, in the order they received it."""
    texts: dict[str, list[str]] = {group.group_id: [] for group in plan.groups}
    for row in stack.sql(
        "SELECT m.group_id, m.text FROM messages m JOIN outbox o ON o.message_id = m.id "
        "WHERE m.role = 'assistant' AND m.channel = 'http' AND o.status = 'sent' ORDER BY m.id"
    ):
        texts.setdefault(row["group_id"], []).append(row["text"])
    for delivery in bridge.deliveries():
        texts.setdefault(f"whatsapp:{delivery.chat_id}", []).append(delivery.text)
    return texts


def owed_ids(stack: ChaosStack) -> set[str]:
    """Ids of stored messages claw still owes a reply: unanswered, or its reply not yet sent."""
    rows = stack.sql(
        "SELECT m.text FROM messages m LEFT JOIN outbox o ON o.id = m.answered_by "
        "WHERE m.role = 'user' AND (m.answered_by IS NULL OR o.status IN ('pending', 'sending'))"
    )
    return {found for row in rows for found in message_ids(row["text"])}


def unpolled_ids(stack: ChaosStack, traffic: Traffic) -> set[str]:
    """Bridge messages claw has not fetched yet (after its poll cursor): still owed, not lost."""
    rows = stack.sql("SELECT cursor FROM poll_cursors WHERE channel = 'whatsapp'")
    cursor = rows[0]["cursor"] if rows else ""
    fetched = int(cursor) if cursor.isdigit() else 0
    return {chaos_id for bridge_id, chaos_id in traffic.bridge_ids.items()
            if (match := BRIDGE_INDEX.match(bridge_id)) and int(match.group(1)) > fetched}


def unsent_rows(stack: ChaosStack) -> int:
    return int(stack.sql("SELECT COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'sending')")[0]["n"])


def is_drained(stack: ChaosStack, traffic: Traffic) -> bool:
    """Nothing owed, nothing unsent, every bridge message fetched."""
    return not owed_ids(stack) and not unpolled_ids(stack, traffic) and unsent_rows(stack) == 0


def count(plan: ChaosPlan, stack: ChaosStack, bridge: ChaosBridge, model: ScriptedModel,
          traffic: Traffic) -> Tally:
    tally = Tally(messages=len(plan.messages))
    group_of = {message.id: message.group.group_id for message in plan.messages}
    delivered: Counter[str] = Counter()
    for group_id, texts in delivered_replies(plan, stack, bridge).items():
        reading = read_group(group_id, texts, group_of)
        tally.replies += reading.replies
        delivered.update(reading.delivered)
        tally.order_violations += reading.order_violations
        tally.misrouted += reading.misrouted
    tally.duplicate_replies = sorted(found for found, times in delivered.items() if times > 1)
    owed = owed_ids(stack) | unpolled_ids(stack, traffic)
    for message in plan.messages:
        if message.id in delivered:
            continue
        if message.id in owed and message.id not in traffic.refused:
            tally.outstanding.setdefault(message.group.group_id, []).append(message.id)
        else:
            tally.lost.append(message.id)
    tally.notices = int(stack.sql("SELECT COUNT(*) AS n FROM messages WHERE kind = 'notice'")[0]["n"])
    tally.unsent_rows = unsent_rows(stack)
    tally.failed_rows = int(stack.sql("SELECT COUNT(*) AS n FROM outbox WHERE status = 'failed'")[0]["n"])
    _count_effects(tally, stack, bridge, model)
    return tally


def _count_effects(tally: Tally, stack: ChaosStack, bridge: ChaosBridge, model: ScriptedModel) -> None:
    seen: dict[str, list[Counter[str]]] = defaultdict(list)
    schedules: Counter[str] = Counter()
    for row in stack.sql("SELECT payload FROM schedules"):
        payload = row["payload"] if isinstance(row["payload"], str) else json.dumps(row["payload"])
        schedules.update(tokens(payload))
    seen["schedule"].append(schedules)
    memory: Counter[str] = Counter()
    for path in stack.workspace.glob("groups/*/memory/topics/*.md"):
        memory.update(tokens(path.read_text(errors="replace")))
    seen["memory"].append(memory)
    ipc_db: Counter[str] = Counter()
    for row in stack.sql("SELECT text FROM messages WHERE role = 'assistant' AND text LIKE '%tok-ipc-%'"):
        ipc_db.update(tokens(row["text"]))
    seen["ipc"] += [ipc_db, Counter(t for d in bridge.deliveries() for t in tokens(d.text))]
    done: set[str] = set()
    for kind in TOOL_KINDS:
        counters = seen[kind]
        found = {t for counter in counters for t in counter if t.startswith(f"tok-{kind}-")}
        done |= found
        tally.effects[kind] = len(found)
        tally.duplicate_effects[kind] = sorted(
            {t for counter in counters for t, times in counter.items() if times > 1}
        )
    tally.missing_effects = sorted(t for t in model.stats.asked if t not in done)
