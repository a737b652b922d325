"""Who may ask for what: the group's identity (from the directory) and its policy.

By default a group may use every registered action, and message only itself; a group marked
``is_main`` may message other groups (NanoClaw's main group). A group's
``settings["sandbox"]["ipc_actions"]`` narrows the actions it may use, e.g. ``[]`` for none.
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


@dataclass(frozen=True, slots=True)
class Policy:
    actions: frozenset[str] | None = None  #: None: every registered action

    @classmethod
    def for_group(cls, overrides: Mapping[str, Any] | None, known: Iterable[str]) -> Policy:
        actions = (overrides or {}).get("ipc_actions")
        if actions is None:
            return cls()
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            raise SandboxConfigError("groups.settings['sandbox']['ipc_actions'] must be a list of action names")
        unknown = sorted(set(actions) - set(known))
        if unknown:
            raise SandboxConfigError(
                f"groups.settings['sandbox']['ipc_actions'] names unknown actions: {', '.join(unknown)}"
            )
        return cls(frozenset(actions))

    def check_action(self, identity: Identity, action: str) -> None:
        if self.actions is not None and action not in self.actions:
            raise ActionDenied(f"group {identity.group_id} may not use {action!r} (its ipc_actions setting)")


def check_message_target(identity: Identity, target: str) -> None:
    """A group may message itself; only a main group may message others."""
    if target != identity.group_id and not identity.is_main:
        raise ActionDenied(
            f"group {identity.group_id} may only message itself; only a main group may message {target}"
        )
