"""`claw sandbox status|run|limits`: which sandbox runs code here, try it, set a group's limits."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from claw.cli.common import EXIT_USAGE, GROUP_HELP, cli, fail, group_id
from claw.config import get_settings

sandbox_cli = typer.Typer(help="The code sandbox: status, a trial run, per-group limits.", no_args_is_help=True)
cli.add_typer(sandbox_cli, name="sandbox")


@sandbox_cli.command("status")
def status() -> None:
    """Which backend runs code here and how strong it is (as `claw doctor` reports it)."""
    from claw.sandbox import describe

    ok, detail = describe(get_settings())
    typer.secho(detail, fg=None if ok else "red")
    if not ok:
        raise typer.Exit(1)


class Language(StrEnum):
    python = "python"
    bash = "bash"


@sandbox_cli.command("run")
def run(
    code: Annotated[str, typer.Argument(help="the program")],
    group: Annotated[str, typer.Option(help=f"whose workspace and limits: {GROUP_HELP}")] = "terminal:sandbox",
    language: Annotated[Language, typer.Option(help="the language of CODE")] = Language.python,
) -> None:
    """Run code in a group's sandbox, as the run_code tool would, and print the result."""
    from claw.agent.tools.code import render
    from claw.sandbox import Identity, SandboxError, run_code

    try:
        result = run_code(get_settings(), Identity(group_id(group)), language.value, code)
    except SandboxError as exc:
        raise fail(str(exc)) from None
    typer.echo(render(result))


@sandbox_cli.command("limits")
def limits(
    group: Annotated[str, typer.Argument(help=GROUP_HELP)],
    set_: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE, e.g. memory_mb=2048")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="drop the group's overrides")] = False,
) -> None:
    """Show (or change) a group's sandbox limits: groups.settings["sandbox"] over the defaults,
    and what its workspace uses of its disk and file quota."""
    from claw.db import Group, write_session
    from claw.sandbox import ALLOWED_ACTIONS, SandboxConfigError, SandboxError, limits_for, quota
    from claw.sandbox.ipc import Policy

    settings = get_settings()
    group = group_id(group)
    with write_session() as session:
        row = session.get(Group, group)
        if row is None:
            raise fail(f"claw: unknown group {group!r}")
        document = dict((row.settings or {}).get("sandbox") or {})
        if clear:
            document = {}
        for item in set_ or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise fail(f"claw: --set wants KEY=VALUE, got {item!r}", EXIT_USAGE)
            document[key.strip()] = _value(value)
        try:
            effective = limits_for(settings, document)
            Policy.for_group(document, ALLOWED_ACTIONS)
        except SandboxConfigError as exc:
            raise fail(str(exc)) from None
        # stored as validated values: "2048" becomes 2048
        document = {k: getattr(effective, k) if k in effective.model_fields else v for k, v in document.items()}
        row.settings = {**(row.settings or {}), "sandbox": document}
    try:
        quota.remount(settings, group)
        used = quota.usage(settings, group, effective)
        kind, _ = quota.mechanism(settings)
    except (SandboxError, OSError) as exc:
        raise fail(f"cannot measure the group's workspace: {exc}") from None
    usage = {
        "mechanism": used.mechanism if used.mechanism == "loop" or kind == "measure" else
        "loop (the image is made at the group's next run)",
        "disk_mb_used": round(used.used_bytes / (1 << 20), 1),
        "disk_mb_limit": round(used.limit_bytes / (1 << 20), 1),  # a loop image's own size
        "files": used.files,
        "files_limit": used.limit_files,
    }
    typer.echo(json.dumps({"overrides": document, "effective": effective.model_dump(), "usage": usage},
                          indent=2))


def _value(text: str) -> object:
    """A JSON value (2048, ["send_message"]) or, failing that, the plain string."""
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()
