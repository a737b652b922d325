"""What every `claw` subcommand shares: the Typer apps, settings, the API client, group names,
and the one way errors reach the user.

Exit codes, one rule for every command (README, "Exit codes"):

- 0  done
- 1  claw (the API, the database, a check) reported an error: unknown group, refused change, …
- 2  the command line or the settings are wrong: a bad option, group name or CLAW_* value
- 3  the stack cannot be reached: no API (is `claw up` running?), no database

Every error is one plain line on stderr, never a traceback or a raw response body.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx
import redis
import sqlalchemy.exc
import typer
from pydantic import ValidationError
from typer.core import TyperGroup

try:  # Typer 0.2x carries its own copy of click; before, click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors  # type: ignore[no-redef]

from claw.config import Settings, get_settings

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

#: the channel of a group named without one, as `claw chat` and `claw send` always did
DEFAULT_CHANNEL = "terminal"


#: control characters (C0, DEL, C1) shown as U+FFFD: text from chats (a stranger's name or
#: first message, a group's title) must not drive the owner's terminal with escape sequences
CONTROL_CHARACTERS = {c: "\N{REPLACEMENT CHARACTER}" for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]}


def shown(value: object) -> str:
    """A value from a chat as one printable line: line breaks become spaces, every other
    control character U+FFFD."""
    return " ".join(str(value).split()).translate(CONTROL_CHARACTERS)


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print an error for the user and return the Exit to raise."""
    typer.secho(message, fg="red", err=True)
    return typer.Exit(code)


def settings_problem(exc: ValidationError) -> str:
    """One line naming each bad CLAW_* variable and why, from the Settings' validation error."""
    parts = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        field = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"CLAW_{field.upper()}: {message}" if field else message)
    return "bad settings: " + "; ".join(parts)


class ClawGroup(TyperGroup):
    """The top `claw` command: every failure that escapes a command becomes one plain line and
    an exit code of the rule above (click's own usage errors included, which Typer would draw
    as a box)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as exc:
            typer.echo(exc.format_message())
            code = EXIT_USAGE
        except click_errors.UsageError as exc:
            where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            message = exc.format_message().replace("Value error, ", "")
            code = _report(f"claw: {message}{where}", EXIT_USAGE)
        except click_errors.ClickException as exc:
            code = _report(f"claw: {exc.format_message()}", exc.exit_code)
        except (typer.Abort, KeyboardInterrupt):
            code = _report("claw: aborted", EXIT_ERROR)
        except ValidationError as exc:
            if exc.title != Settings.__name__:
                raise
            code = _report(f"claw: {settings_problem(exc)}", EXIT_USAGE)
        except httpx.TransportError as exc:
            code = _report(f"claw: {unreachable(exc)}", EXIT_UNREACHABLE)
        except sqlalchemy.exc.OperationalError as exc:
            code = _report(f"claw: cannot use the database ({type(exc.orig).__name__}); is it running, "
                           "and migrated (`claw migrate`)?", EXIT_UNREACHABLE)
        except PermissionError as exc:  # a home or workspace this user may not use
            code = _report(f"claw: {exc.strerror}: {exc.filename}", EXIT_ERROR)
        except redis.ConnectionError as exc:
            code = _report(f"claw: cannot reach Redis ({type(exc).__name__}); is `claw up` running?",
                           EXIT_UNREACHABLE)
        if standalone_mode:
            raise SystemExit(code or 0)
        return code


def _report(message: str, code: int) -> int:
    typer.secho(message, fg="red", err=True)
    return code


def unreachable(exc: httpx.TransportError) -> str:
    try:
        url = exc.request.url.copy_with(path="/", query=None)
        where = f" at {str(url).rstrip('/')}"
    except RuntimeError:  # no request attached
        where = ""
    return (f"cannot reach claw{where} ({type(exc).__name__}); is `claw up` running? "
            "(a stack started with --home: set CLAW_HOME to that folder)")


cli = typer.Typer(
    cls=ClawGroup, help="claw: a personal AI assistant for group chats, on Celery.",
    no_args_is_help=True, pretty_exceptions_enable=False,
)
groups_cli = typer.Typer(help="Inspect and configure groups.", no_args_is_help=True)
cli.add_typer(groups_cli, name="groups")


def group_id(name: str) -> str:
    """The group a user means: ``<channel>:<chat_id>`` as given, a bare name as ``terminal:<name>``.

    One rule for every command, so `claw send main hi` and `claw send terminal:main hi` reach
    the same group (the second once made ``terminal:terminal:main``).
    """
    text = name.strip()
    if not text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise fail(f"claw: not a group name: {name!r}", EXIT_USAGE)
    channel, sep, chat = text.partition(":")
    if not sep:
        channel, chat, text = DEFAULT_CHANNEL, text, f"{DEFAULT_CHANNEL}:{text}"
    if not channel or not chat.strip():
        raise fail(f"claw: not a group id: {name!r} (want <channel>:<chat>, e.g. http:team, "
                   f"or a bare name for {DEFAULT_CHANNEL}:<name>)", EXIT_USAGE)
    if len(chat) > MAX_CHAT_NAME or len(text) > MAX_GROUP_ID:
        raise fail(f"claw: a group name of {len(chat)} characters is too long (a chat name has at "
                   f"most {MAX_CHAT_NAME}, a group id {MAX_GROUP_ID})", EXIT_USAGE)
    return text


#: what the API takes: a chat_id of at most 200 characters, a group id in a path of at most 255
MAX_CHAT_NAME, MAX_GROUP_ID = 200, 255


#: help text of every argument or option that names a group
GROUP_HELP = "a group id (http:team, telegram:-100123) or a bare name for terminal:<name>"


def settings_with(**overrides: object) -> Settings:
    """Apply CLI options as CLAW_* variables, so child processes see the same settings."""
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"CLAW_{name.upper()}"] = str(value)
    get_settings.cache_clear()
    return get_settings()


def client_settings() -> Settings:
    """Settings for a command that works on a stack: the running stack's run.json fills the
    gaps (ports, Redis, workspace, database), found in CLAW_HOME or, when CLAW_HOME is not set,
    through the pointer the latest `claw up --home` left in the default home."""
    from claw.runtime.runfile import adopt_runfile

    adopt_runfile(get_settings().home)
    get_settings.cache_clear()
    return get_settings()


def api_client(settings: Settings, timeout: float | None = 130.0) -> httpx.Client:
    try:
        token = settings.api_token_value()
    except RuntimeError as exc:
        raise fail(f"claw: {exc}", EXIT_UNREACHABLE) from None
    return httpx.Client(
        base_url=f"http://{settings.api_host}:{settings.api_port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


def api_error(response: httpx.Response) -> str:
    """What went wrong, in the API's words: its ``error`` sentence, else the status in words."""
    try:
        body = response.json()
    except ValueError:
        body = None
    reason = body.get("error") if isinstance(body, dict) else None
    if response.status_code == 401:
        return ("the API refused the token: set CLAW_API_TOKEN, or CLAW_HOME to the stack's "
                "folder (its api_token)")
    if isinstance(reason, str) and reason:
        return reason.replace("Value error, ", "")  # pydantic's prefix, noise to a person
    return f"the API answered {response.status_code} {response.reason_phrase}".rstrip()


def checked(response: httpx.Response) -> Any:
    """The JSON of a successful API response; on a 4xx/5xx, the API's own explanation and exit 1."""
    if response.status_code >= 400:
        raise fail(f"claw: {api_error(response)}")
    return response.json()


def group_path(group: str) -> str:
    """``/v1/groups/<id>`` with the id escaped: a chat id may hold '/', '?' or '#'."""
    return f"/v1/groups/{quote(group, safe=':@')}"


def group_exists(client: httpx.Client, group: str) -> bool:
    """Whether the stack knows ``group`` (its message page answers, or says 404)."""
    response = client.get(f"{group_path(group)}/messages", params={"limit": 1})
    if response.status_code == 404:
        return False
    checked(response)
    return True
