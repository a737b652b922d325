"""`claw worker`: one shard worker on the lowest free shard number, for deployments that run N
identical worker containers (`docker compose up --scale shard=N`) instead of numbering them."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from claw.cli.common import cli, fail


@cli.command()
def worker(
    log_level: Annotated[str, typer.Option("--log-level", "-l", help="Celery log level")] = "INFO",
) -> None:
    """Claim the lowest shard number with no live worker and become that shard's worker."""
    import socket

    from claw.health import HEARTBEAT_TTL
    from claw.pipeline.routing import claim_free_shard
    from claw.redis_client import get_redis
    from claw.runtime.stack import shard_worker_argv

    try:
        # the claim outlives the worker's start-up (taking no groups); its heartbeat then makes
        # the shard live and keeps the number taken
        shard = claim_free_shard(get_redis(), f"starting@{socket.gethostname()}", ttl=HEARTBEAT_TTL * 6)
    except Exception as exc:
        raise fail(f"claw worker: cannot claim a shard number ({type(exc).__name__}: {exc})") from None
    typer.echo(f"claw worker: shard {shard}")
    argv = shard_worker_argv(shard, log_level)
    os.execvp(argv[0], argv)
