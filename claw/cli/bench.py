"""`claw bench`: claw against raw Celery chains, on one Redis, in one run."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from claw.cli.common import cli


@cli.command()
def bench(
    messages: Annotated[int, typer.Option(help="messages in claw's throughput burst")] = 1000,
    groups: Annotated[int, typer.Option(help="groups the messages are spread over")] = 20,
    samples: Annotated[int, typer.Option(help="sequential round trips per side for p50/p99")] = 200,
    chains: Annotated[int, typer.Option(help="raw Celery chains in flight for the baseline")] = 1000,
) -> None:
    """Measure claw against a raw Celery 3-task chain on one private Redis; print both.

    Exits 0 when a target is missed (it is a measurement), 1 when it could not measure.
    """
    from claw.bench import BenchError, BenchOptions, render, run_bench

    logging.basicConfig(level=logging.INFO, format="claw bench | %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    options = BenchOptions(messages=messages, groups=groups, samples=samples, chains=chains)
    try:
        report = run_bench(options)
    except BenchError as exc:
        typer.secho(f"bench failed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(render(report))
