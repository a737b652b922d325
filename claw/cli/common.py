"""What every `claw` subcommand shares: the Typer apps, settings, the API client."""

from __future__ import annotations

import os
from typing import Any

import httpx
import typer

from claw.config import Settings, get_settings

cli = typer.Typer(help="claw: a personal AI assistant for group chats, on Celery.", no_args_is_help=True)
groups_cli = typer.Typer(help="Inspect and configure groups.", no_args_is_help=True)
cli.add_typer(groups_cli, name="groups")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error for the user and return the Exit to raise."""
    typer.secho(message, fg="red", err=True)
    return typer.Exit(code)


def settings_with(**overrides: object) -> Settings:
    """Apply CLI options as CLAW_* variables, so child processes see the same settings."""
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"CLAW_{name.upper()}"] = str(value)
    get_settings.cache_clear()
    return get_settings()


def client_settings() -> Settings:
    """Settings for a command that talks to a running stack: its run.json fills the gaps."""
    from claw.runtime.runfile import adopt_runfile

    adopt_runfile(get_settings().home)
    get_settings.cache_clear()
    return get_settings()


def api_client(settings: Settings, timeout: float | None = 130.0) -> httpx.Client:
    try:
        token = settings.api_token_value()
    except RuntimeError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    return httpx.Client(
        base_url=f"http://{settings.api_host}:{settings.api_port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


def checked(response: httpx.Response) -> Any:
    """The JSON of a successful API response; on a 4xx/5xx, the API's own explanation and exit 1."""
    if response.status_code >= 400:
        try:
            body = response.json()
            reason = body.get("error") or body.get("detail") or response.text
        except ValueError:
            reason = response.text
        raise fail(f"error {response.status_code}: {reason}")
    return response.json()
