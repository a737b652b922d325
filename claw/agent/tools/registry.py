"""Tools: typed Python functions whose JSON schema is generated from their signature.

A tool is declared once — parameters with type hints (and ``Annotated[..., Field(...)]`` for
descriptions), the docstring as its description — and the same declaration validates the
model's input, so the schema the model sees and the checks we run can never drift apart.
Every failure becomes an ``is_error`` result the model can read and adapt to; nothing a tool
does wrong can crash the turn.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from celery.exceptions import SoftTimeLimitExceeded
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from sqlalchemy.orm import Session

from claw.agent.base import ToolCall, ToolSpec
from claw.config import Settings
from claw.db.text import unstorable
from claw.pipeline.journal import JournalSlot
from claw.sandbox.budget import TurnBudget

log = logging.getLogger(__name__)

MAX_RESULT_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who is calling: taken from the turn, never from the model's input."""

    group_id: str
    workspace: Path
    settings: Settings
    is_main: bool = False
    #: this call's entry in the turn's journal (None outside a turn): a tool with an effect in
    #: the database journals its result in the same transaction (``journal_result``); one with
    #: a file effect makes it idempotent by ``journal.marker``
    journal: JournalSlot | None = None
    #: sandbox time this turn's run_code calls have spent (one context per turn, so per turn)
    sandbox_budget: TurnBudget = field(default_factory=TurnBudget)
    #: the group's IANA timezone (memory dates, as schedules); None: CLAW_TZ
    timezone: str | None = None

    @property
    def zone(self) -> str:
        return self.timezone or self.settings.tz


@dataclass(frozen=True, slots=True)
class ToolResult:
    content: str
    is_error: bool = False

    def to_data(self) -> dict[str, Any]:
        """As the turn journal keeps it (JSON), clipped as the model would get it."""
        return {"content": clipped(self.content), "is_error": self.is_error}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ToolResult:
        return cls(str(data["content"]), bool(data.get("is_error")))


def clipped(content: str) -> str:
    if len(content) > MAX_RESULT_CHARS:
        return content[:MAX_RESULT_CHARS] + f"\n[… truncated at {MAX_RESULT_CHARS} characters]"
    return content


def journal_result(ctx: ToolContext, session: Session, content: str) -> str:
    """Journal a successful result in ``session``, the transaction that holds the tool's
    database effect, so the effect and its journal entry commit together or not at all."""
    if ctx.journal is not None:
        ctx.journal.record(session, ToolResult(content).to_data())
    return content


class ToolError(Exception):
    """Raised by a tool to tell the model plainly what went wrong (becomes is_error)."""


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    function: Callable[..., str]
    arguments: type[BaseModel]
    #: what the model sees; generated once here, since schema generation costs milliseconds
    spec: ToolSpec


def tool(function: Callable[..., str]) -> Tool:
    """Make a tool of ``function(ctx: ToolContext, **arguments) -> str``."""
    hints = get_type_hints(function, include_extras=True)
    fields: dict[str, Any] = {}
    for name, parameter in list(inspect.signature(function).parameters.items())[1:]:
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[name] = (hints[name], default)
    arguments = create_model(  # type: ignore[call-overload]
        f"{function.__name__}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    description = inspect.cleandoc(function.__doc__ or function.__name__)
    schema = arguments.model_json_schema()
    schema.pop("title", None)
    return Tool(function.__name__, description, function, arguments,
                ToolSpec(function.__name__, description, schema))


def _unstorable_argument(value: Any, where: str = "") -> str | None:
    """Where and why a string in the model's input cannot be stored, or None."""
    if isinstance(value, str):
        problem = unstorable(value)
        return f"{where or 'input'}: {problem}" if problem else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if problem := _unstorable_argument(item, f"{where}.{key}" if where else str(key)):
            return problem
    return None


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool]) -> None:
        self.tools = {t.name: t for t in tools}
        self._specs = [t.spec for t in self.tools.values()]

    def specs(self) -> list[ToolSpec]:
        return list(self._specs)

    def call(self, call: ToolCall, ctx: ToolContext) -> ToolResult:
        found = self.tools.get(call.name)
        if found is None:
            available = ", ".join(sorted(self.tools)) or "none"
            return ToolResult(f"unknown tool {call.name!r}; available: {available}", is_error=True)
        if problem := _unstorable_argument(call.input):
            # refused like the API refuses it: a NUL would break PostgreSQL, a lone surrogate
            # any database, a step after the model was told the call went through
            return ToolResult(f"invalid arguments for {call.name}: {problem}", is_error=True)
        try:
            arguments = found.arguments.model_validate(call.input)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
            )
            return ToolResult(f"invalid arguments for {call.name}: {problems}", is_error=True)
        try:
            content = found.function(ctx, **arguments.model_dump())
        except ToolError as exc:
            return ToolResult(str(exc), is_error=True)
        except SoftTimeLimitExceeded:
            # the turn's time is up (claw/runtime/solo_pool.py): the turn stops and apologises;
            # as a tool's error the model would go on, and the worker be killed at the hard limit
            raise
        except Exception as exc:
            log.exception("tool_crashed tool=%s group=%s", call.name, ctx.group_id)
            return ToolResult(f"{call.name} failed: {type(exc).__name__}: {exc}", is_error=True)
        log.info("tool_called tool=%s group=%s", call.name, ctx.group_id)
        return ToolResult(clipped(content))
