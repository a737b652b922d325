"""Who may ask for what: the group's identity (from the directory) and its policy.

By default a group may use every registered action, and message only itself; a group marked
``is_main`` may message other groups (NanoClaw's main group). A group's
``settings["sandbox"]["ipc_actions"]`` narrows the actions it may use, e.g. ``[]`` for none.

Code may schedule reminders, but not a run of the agent: an ``agent_prompt`` or ``summary``
schedule starts a turn nobody asked for, and that turn may run the code again, so code could
keep itself running forever. ``"code_agent_prompts": true`` allows it for one group. Whatever
code schedules repeats at most every ``"schedule_min_minutes"`` (default
CLAW_SANDBOX_SCHEDULE_MIN_MINUTES), and a turn it schedules once is at least that far ahead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from claw.sandbox.errors import SandboxConfigError


class ActionDenied(Exception):
    """The policy forbids this request (the message is sent back and logged)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """The requesting group, taken from the directory the request was found in."""

    group_id: str
    is_main: bool = False


#: longest minimum interval a group may set: a year
MAX_SCHEDULE_MIN_MINUTES = 366 * 24 * 60


@dataclass(frozen=True, slots=True)
class Policy:
    actions: frozenset[str] | None = None  #: None: every registered action
    code_agent_prompts: bool = False  #: may code schedule agent_prompt and summary runs
    schedule_min_minutes: int | None = None  #: None: CLAW_SANDBOX_SCHEDULE_MIN_MINUTES

    @classmethod
    def for_group(cls, overrides: Mapping[str, Any] | None, known: Iterable[str]) -> Policy:
        document = overrides or {}
        actions = document.get("ipc_actions")
        prompts = document.get("code_agent_prompts", False)
        if not isinstance(prompts, bool):
            raise SandboxConfigError("groups.settings['sandbox']['code_agent_prompts'] must be true or false")
        minutes = document.get("schedule_min_minutes")
        if minutes is not None and (
            isinstance(minutes, bool) or not isinstance(minutes, int)
            or not 1 <= minutes <= MAX_SCHEDULE_MIN_MINUTES
        ):
            raise SandboxConfigError(
                "groups.settings['sandbox']['schedule_min_minutes'] must be a whole number of minutes "
                f"from 1 to {MAX_SCHEDULE_MIN_MINUTES}"
            )
        if actions is None:
            return cls(None, prompts, minutes)
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            raise SandboxConfigError("groups.settings['sandbox']['ipc_actions'] must be a list of action names")
        unknown = sorted(set(actions) - set(known))
        if unknown:
            raise SandboxConfigError(
                f"groups.settings['sandbox']['ipc_actions'] names unknown actions: {', '.join(unknown)}"
            )
        return cls(frozenset(actions), prompts, minutes)

    def check_action(self, identity: Identity, action: str) -> None:
        if self.actions is not None and action not in self.actions:
            raise ActionDenied(f"group {identity.group_id} may not use {action!r} (its ipc_actions setting)")


def check_message_target(identity: Identity, target: str) -> None:
    """A group may message itself; only a main group may message others."""
    if target != identity.group_id and not identity.is_main:
        raise ActionDenied(
            f"group {identity.group_id} may only message itself; only a main group may message {target}"
        )
