"""`claw bench`: claw against raw Celery chains, on one Redis, in one run; and
`claw bench scheduler|memory`: the due scan and the memory search, each on its own."""

from __future__ import annotations

import logging
from typing import Annotated, Optional

import typer

from claw.cli.common import cli

bench_cli = typer.Typer(no_args_is_help=False)
cli.add_typer(bench_cli, name="bench")


@bench_cli.callback(invoke_without_command=True)
def bench(
    ctx: typer.Context,
    messages: Annotated[int, typer.Option(help="messages in claw's throughput burst")] = 1000,
    groups: Annotated[int, typer.Option(help="groups the messages are spread over")] = 20,
    samples: Annotated[int, typer.Option(help="sequential round trips per side for p50/p99")] = 200,
    chains: Annotated[int, typer.Option(help="raw Celery chains in flight for the baseline")] = 1000,
) -> None:
    """Measure claw against a raw Celery 3-task chain on one private Redis; print both.

    `claw bench scheduler` and `claw bench memory` measure the due scan and the memory search,
    `claw bench cache` the share of a conversation's prompt read from Claude's prompt cache.
    Exits 0 when a target is missed (it is a measurement), 1 when it could not measure.
    """
    if ctx.invoked_subcommand is not None:
        return
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


@bench_cli.command("scheduler")
def bench_scheduler(
    schedules: Annotated[int, typer.Option(min=1, help="schedules in the database")] = 100_000,
    due: Annotated[int, typer.Option(min=0, help="how many of them are due")] = 50,
    runs: Annotated[int, typer.Option(min=1, help="timed due scans")] = 200,
    database_url: Annotated[Optional[str], typer.Option(help="an empty database to use; a temporary SQLite by default")] = None,
) -> None:
    """Time a tick's due scan over many schedules (target: 20 ms with 100k)."""
    from claw.bench.scheduler import render_scheduler, run_scheduler_bench

    typer.echo(render_scheduler(run_scheduler_bench(schedules=schedules, due=due, runs=runs,
                                                    database_url=database_url)))


@bench_cli.command("memory")
def bench_memory(
    notes: Annotated[int, typer.Option(min=1, help="memory entries")] = 10_000,
    files: Annotated[int, typer.Option(min=1, help="topic files they are spread over")] = 500,
    runs: Annotated[int, typer.Option(min=1, help="timed searches")] = 200,
) -> None:
    """Time search_memory over many notes (target: 20 ms with 10k)."""
    from claw.bench.memory import render_memory, run_memory_bench

    typer.echo(render_memory(run_memory_bench(notes=notes, files=files, runs=runs)))


@bench_cli.command("sandbox")
def bench_sandbox(
    samples: Annotated[int, typer.Option(min=1, help="runs per side for p50/p99")] = 200,
) -> None:
    """Time `python -c pass` through the sandbox against a bare subprocess (target: +30 ms at p50)."""
    from claw.bench.sandbox import run_sandbox_bench
    from claw.sandbox import SandboxError

    try:
        typer.echo(run_sandbox_bench(samples))
    except (SandboxError, RuntimeError) as exc:
        typer.secho(f"bench failed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None


@bench_cli.command("cache")
def bench_cache(
    turns: Annotated[int, typer.Option(min=2, help="turns of the conversation")] = 20,
    model: Annotated[str, typer.Option(help="the Claude model priced and simulated (its cache minimum)")] = "claude-sonnet-4-5",
    prior_lines: Annotated[int, typer.Option(min=0, help="lines the group said before (the window is full from the start)")] = 60,
    minutes: Annotated[float, typer.Option(min=0, help="minutes between turns (cache entries live 5)")] = 4.0,
) -> None:
    """Run a conversation with tool calls against a fake Messages API that caches prompt
    prefixes as Claude does; print the share read from the cache (target: 80% of follow-up
    turns' input tokens) and the cost against no caching."""
    from claw.agent.base import ProviderError
    from claw.agent.pricing import PriceTableError
    from claw.bench.cache import render_cache, run_cache_bench

    try:
        typer.echo(render_cache(run_cache_bench(turns=turns, model=model, prior_lines=prior_lines,
                                                 minutes_per_turn=minutes)))
    except (ProviderError, PriceTableError) as exc:
        typer.secho(f"bench failed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None


@bench_cli.command("scale")
def bench_scale(
    shards: Annotated[str, typer.Option(help="shard worker counts to compare, comma-separated")] = "1,4,16",
    groups: Annotated[int, typer.Option(min=1, help="groups talking at once")] = 64,
    messages: Annotated[int, typer.Option(min=1, help="messages per group, each after the previous reply")] = 3,
    latency_ms: Annotated[int, typer.Option(min=0, help="simulated model latency per call")] = 300,
    history: Annotated[int, typer.Option(min=0, help="stored messages for the history read (0: skip)")] = 1_000_000,
    databases: Annotated[bool, typer.Option(help="compare the databases with model latency 0")] = True,
    postgres: Annotated[bool, typer.Option(help="also run on a private PostgreSQL, if installed")] = True,
    postgres_url: Annotated[Optional[str], typer.Option(help="an empty PostgreSQL database to use instead")] = None,
) -> None:
    """Throughput with 1, 4 and 16 shard workers (targets: 4 >= 3.6x one, 16 >= 14x), history
    read with 1M stored messages (<= 5 ms), and SQLite against PostgreSQL.

    Exits 0 when a target is missed (it is a measurement), 1 when it could not measure or a
    message was lost, doubled or answered out of order.
    """
    from claw.bench import BenchError
    from claw.bench.scale import ScaleOptions, render_scale, run_scale_bench

    logging.basicConfig(level=logging.INFO, format="claw bench | %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        counts = tuple(int(n) for n in shards.split(","))
    except ValueError:
        typer.secho(f"--shards takes comma-separated numbers, not {shards!r}", fg="red", err=True)
        raise typer.Exit(2) from None
    options = ScaleOptions(shards=counts, groups=groups, messages=messages, latency_ms=latency_ms,
                           history=history, databases=databases, postgres=postgres,
                           postgres_url=postgres_url)
    try:
        report = run_scale_bench(options)
    except BenchError as exc:
        typer.secho(f"bench failed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(render_scale(report))


@bench_cli.command("footprint")
def bench_footprint(
    shards: Annotated[int, typer.Option(min=1, help="shard workers of the measured stack")] = 3,
    flower: Annotated[bool, typer.Option(help="run Flower in the stack, as `claw up` does by default")] = True,
) -> None:
    """PSS of every process of `claw up` and the total (targets: 3 shards and Flower <= 450 MB,
    each added shard <= 40 MB)."""
    from claw.bench import BenchError
    from claw.bench.footprint import render_footprint, run_footprint_bench

    try:
        base, more = run_footprint_bench(shards=shards, flower=flower)
    except BenchError as exc:
        typer.secho(f"bench failed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(render_footprint(base, more))
