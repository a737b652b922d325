"""ALLOWED_ACTIONS: the only things sandboxed code can ask the host to do.

An action is one entry: a name, a pydantic schema for its arguments (extra fields refused),
a handler and a priority (lower first when several requests wait). Adding one is one call:

    register("save_memory", SaveMemoryArgs, handle_save_memory, priority=20)

    def handle_save_memory(ctx: ActionContext, args: SaveMemoryArgs) -> dict[str, Any]:
        ...   # ctx.identity.group_id is the requesting group; raise ActionError to refuse

A handler's result must be JSON-serialisable; ActionError (or ActionDenied) becomes an error
response; any other exception is logged and answered "internal error" without details.

In a turn, each request that reaches its handler is journaled under the run's tool call with
its place in the run (1, 2, ...): a handler whose effect is in the database writes
``ctx.journal.record(session, result)`` in the effect's transaction; the host journals any
other result after the handler returns, and answers a request already journaled (the same
code run again by a redone turn) from the journal without running its handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from claw.config import Settings
from claw.pipeline.journal import JournalSlot
from claw.sandbox.ipc.policy import Identity, Policy


class ActionError(Exception):
    """The action could not be done; the message goes back to the sandbox."""


@dataclass(frozen=True, slots=True)
class ActionContext:
    identity: Identity
    settings: Settings
    group_dir: Path
    #: this request's entry in the turn's journal (None outside a turn): a handler with an
    #: effect in the database journals its result in the same transaction; one with a file
    #: effect makes it idempotent by ``journal.marker``
    journal: JournalSlot | None = None
    policy: Policy = Policy()  #: the group's policy, for actions with rules of their own


Handler = Callable[[ActionContext, Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    schema: type[BaseModel]
    handler: Handler
    priority: int = 50


ALLOWED_ACTIONS: dict[str, Action] = {}


def register(name: str, schema: type[BaseModel], handler: Handler, *, priority: int = 50) -> Action:
    action = Action(name, schema, handler, priority)
    ALLOWED_ACTIONS[name] = action
    return action
