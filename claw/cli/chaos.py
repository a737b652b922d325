"""`claw chaos`: drive the whole local stack through faults, print the figures, assert them."""

from __future__ import annotations

import logging
import signal
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from claw.cli.common import cli


@cli.command()
def chaos(
    messages: Annotated[Optional[int], typer.Option(min=1, help="messages written (default 1000; --small 60)")] = None,
    groups: Annotated[Optional[int], typer.Option(min=1, max=99, help="groups, half API and half WhatsApp (20; 4)")] = None,
    kills: Annotated[Optional[int], typer.Option(min=0, help="SIGKILLs of shard workers (10; 2)")] = None,
    bridge_down: Annotated[Optional[float], typer.Option(min=0, help="seconds the bridge's send endpoint is down (60; 20)")] = None,
    duration: Annotated[Optional[float], typer.Option(min=1, help="seconds over which messages arrive (300; 40)")] = None,
    drain_timeout: Annotated[Optional[float], typer.Option(min=1, help="seconds the stack gets to drain (600; 180)")] = None,
    seed: Annotated[int, typer.Option(help="the run plan and the model's script come from it")] = 1,
    small: Annotated[bool, typer.Option("--small", help="the quick version `make test` runs")] = False,
    home: Annotated[Optional[Path], typer.Option(help="keep the stack's state here (default: a temporary directory, removed)")] = None,
) -> None:
    """Run the full local stack under faults; exit 1 unless nothing was lost, duplicated,
    reordered or left stuck.

    1000 messages over 20 groups through the API and a fake WhatsApp bridge; a fake Anthropic
    API that makes tool calls and fails 20% of calls (429, 529, 500, timeouts, cut streams);
    shard workers SIGKILLed, Redis and beat killed once, the bridge's send endpoint down for 60 s.
    Exits 2 when the run itself could not be made (the stack did not start).
    """
    from claw.chaos import ChaosError, ChaosOptions, render, run_chaos

    logging.basicConfig(level=logging.INFO, format="claw chaos | %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    options = ChaosOptions.small(seed) if small else ChaosOptions(seed=seed)
    given = {"messages": messages, "groups": groups, "kills": kills, "bridge_down": bridge_down,
             "duration": duration, "drain_timeout": drain_timeout}
    options = replace(options, **{name: value for name, value in given.items() if value is not None})
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = run_chaos(options, home=home)
    except (ChaosError, KeyboardInterrupt) as exc:
        typer.secho(f"chaos run failed: {exc or 'interrupted'}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(render(report))
    if report.failed_figures():
        raise typer.Exit(1)


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM as Ctrl-C: the run stops the stack, Redis and the fakes it started (a `finally`).

    `claw up` runs in a session of its own, so without this a terminated run would leave the
    whole stack running. A second SIGTERM is ignored so it cannot cut that clean-up short.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(f"stopped by signal {signum}")
