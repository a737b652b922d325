"""claw.agent.tools.registry: a tool is a typed function; its schema is generated from it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import Field

from claw.agent import ToolCall
from claw.agent.tools import ToolContext, ToolError, ToolRegistry, tool
from claw.agent.tools.registry import MAX_RESULT_CHARS
from claw.config import Settings


@tool
def add(
    ctx: ToolContext,
    a: Annotated[int, Field(description="first number")],
    b: int = 2,
) -> str:
    """Add two numbers."""
    return str(a + b)


@tool
def pick(ctx: ToolContext, colour: Literal["red", "blue"]) -> str:
    """Pick a colour."""
    if colour == "blue":
        raise ToolError("blue is sold out; try red")
    return f"{ctx.group_id} picked {colour}"


@tool
def crash(ctx: ToolContext) -> str:
    """Always fails."""
    raise RuntimeError("kaput")


@tool
def overrun(ctx: ToolContext) -> str:
    """Runs past the turn's soft time limit."""
    raise SoftTimeLimitExceeded("soft time limit (10 s) exceeded")


@tool
def shout(ctx: ToolContext, n: int) -> str:
    """Long output."""
    return "A" * n


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext("http:team", tmp_path, Settings())


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry([add, pick, crash, overrun, shout])


def call(registry: ToolRegistry, ctx: ToolContext, name: str, **arguments: object):  # type: ignore[no-untyped-def]
    return registry.call(ToolCall("toolu_1", name, dict(arguments)), ctx)


def test_the_schema_is_generated_from_the_signature_and_docstring() -> None:
    spec = add.spec
    assert spec.name == "add"
    assert spec.description == "Add two numbers."
    assert spec.input_schema["type"] == "object"
    assert spec.input_schema["required"] == ["a"]
    assert spec.input_schema["properties"]["a"] == {"description": "first number", "type": "integer", "title": "A"}
    assert spec.input_schema["properties"]["b"]["default"] == 2
    assert pick.spec.input_schema["properties"]["colour"]["enum"] == ["red", "blue"]
    assert "ctx" not in spec.input_schema["properties"]


def test_a_valid_call_runs_with_the_context(registry: ToolRegistry, ctx: ToolContext) -> None:
    assert call(registry, ctx, "add", a=40).content == "42"
    result = call(registry, ctx, "pick", colour="red")
    assert (result.content, result.is_error) == ("http:team picked red", False)


def test_invalid_arguments_are_an_error_result_that_says_what_is_wrong(registry, ctx) -> None:  # type: ignore[no-untyped-def]
    missing = call(registry, ctx, "add")
    assert missing.is_error and "a: Field required" in missing.content
    wrong = call(registry, ctx, "pick", colour="green")
    assert wrong.is_error and "colour" in wrong.content
    extra = call(registry, ctx, "add", a=1, c=3)
    assert extra.is_error and "c: Extra inputs are not permitted" in extra.content


def test_tool_errors_and_crashes_become_error_results(registry, ctx) -> None:  # type: ignore[no-untyped-def]
    refused = call(registry, ctx, "pick", colour="blue")
    assert (refused.content, refused.is_error) == ("blue is sold out; try red", True)
    crashed = call(registry, ctx, "crash")
    assert crashed.is_error and crashed.content == "crash failed: RuntimeError: kaput"


def test_a_tool_that_runs_past_the_soft_time_limit_ends_the_turn(registry, ctx) -> None:  # type: ignore[no-untyped-def]
    """Not an error result the model would read and go on from (red team: a reply saying
    "run_code failed: SoftTimeLimitExceeded", then the worker killed at the hard limit): the
    turn's own handler apologises (claw.pipeline.failures)."""
    with pytest.raises(SoftTimeLimitExceeded):
        call(registry, ctx, "overrun")


def test_an_unknown_tool_lists_the_available_ones(registry, ctx) -> None:  # type: ignore[no-untyped-def]
    result = call(registry, ctx, "fly")
    assert result.is_error
    assert result.content == "unknown tool 'fly'; available: add, crash, overrun, pick, shout"


def test_huge_results_are_truncated_with_a_visible_marker(registry, ctx) -> None:  # type: ignore[no-untyped-def]
    result = call(registry, ctx, "shout", n=MAX_RESULT_CHARS + 500)
    assert len(result.content) < MAX_RESULT_CHARS + 100
    assert result.content.endswith(f"[… truncated at {MAX_RESULT_CHARS} characters]")


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"colour": "red\x00"}, "invalid arguments for pick: colour: NUL at character 3"),
        ({"colour": "\ud800"}, "invalid arguments for pick: colour: lone surrogate \\ud800 at character 0"),
    ],
)
def test_text_no_database_can_store_is_an_error_result(registry, ctx, arguments, complaint) -> None:  # type: ignore[no-untyped-def]
    # The API refuses NUL and lone surrogates with a 422; a tool call gets the same words
    result = call(registry, ctx, "pick", **arguments)
    assert result.is_error and result.content.startswith(complaint), result.content


def test_an_id_no_database_can_hold_is_an_error_result(ctx: ToolContext) -> None:
    from claw.agent.tools.scheduling import cancel_task

    result = ToolRegistry([cancel_task]).call(ToolCall("toolu_1", "cancel_task", {"task_id": 10**30}), ctx)
    assert result.is_error
    assert "task_id: Input should be less than or equal to 9223372036854775807" in result.content
