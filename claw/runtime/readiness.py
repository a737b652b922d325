"""When `claw up` may say "claw is up", and when it must say it cannot start.

Before anything starts, every port the stack will listen on is tried: a port another program
holds would otherwise make the API (or Flower, or Redis) crash-loop behind a cheerful banner.
After the start, the stack is up only when /healthz passes with every worker and beat alive
and no process has exited; a process that exits meanwhile (the API on a port taken since, a
bad setting) fails the start with its name, instead of being restarted for ever.
"""

from __future__ import annotations

import errno
import socket
import time
from dataclasses import dataclass

import httpx
import psutil

from claw.config import Settings
from claw.runtime.supervisor import Supervisor


class NotReady(RuntimeError):
    """The stack cannot start; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Port:
    what: str  #: the process, for people ("the HTTP API")
    host: str
    port: int
    option: str  #: how to choose another ("--api-port")


def ports_of(settings: Settings, *, flower: bool, private_redis: bool) -> list[Port]:
    ports = [Port("the HTTP API", settings.api_host, settings.api_port, "--api-port or CLAW_API_PORT")]
    if flower:
        ports.append(Port("Flower", "127.0.0.1", settings.flower_port, "--flower-port, or --no-flower"))
    if private_redis:
        ports.append(Port("the private Redis", "127.0.0.1", settings.redis_port, "CLAW_REDIS_PORT"))
    return ports


WILDCARDS = {"0.0.0.0", "::", ""}  #: hosts that take a port on every address


def check_ports_free(ports: list[Port]) -> None:
    """Raise NotReady naming the first port that another program holds, or that two of claw's
    own processes were given (each would pass the probe, and the second would crash at start)."""
    for index, port in enumerate(ports):
        for other in ports[:index]:
            if other.port == port.port and (other.host == port.host or {other.host, port.host} & WILDCARDS):
                raise NotReady(f"port {port.port} is given to both {other.what} and {port.what}: "
                               f"choose another ({port.option})")
        with socket.socket(socket.AF_INET6 if ":" in port.host else socket.AF_INET) as probe:
            # as uvicorn and redis bind: a port in TIME_WAIT is free
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((port.host, port.port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise NotReady(f"cannot listen on {port.host}:{port.port} for {port.what}: "
                                   f"{exc.strerror}") from None
                raise NotReady(f"port {port.port} on {port.host}, for {port.what}, is taken"
                               f"{_holder(port.port)}: stop that program or choose another port "
                               f"({port.option})") from None


def _holder(port: int) -> str:
    """ " by <name> (pid N)" when this user may see who listens on ``port``."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                return f" by {psutil.Process(conn.pid).name()} (pid {conn.pid})"
    except (psutil.Error, OSError):
        pass
    return ""


def missing(health: dict[str, object], settings: Settings) -> list[str]:
    """What a /healthz answer still lacks for the whole stack to be up."""
    workers = [str(w) for w in health.get("workers", []) or []]  # type: ignore[union-attr]
    lacking = []
    if not health.get("database"):
        lacking.append("the database")
    if not health.get("redis"):
        lacking.append("Redis")
    shards = {w.split("@")[0] for w in workers if w.startswith("shard")}
    if len(shards) < settings.shards:
        lacking.append(f"shard workers ({len(shards)} of {settings.shards} alive)")
    if not any(w.startswith("io@") for w in workers):
        lacking.append("the io worker")
    if not health.get("beat"):
        lacking.append("beat")
    return lacking


def wait_until_ready(supervisor: Supervisor, settings: Settings, *, timeout: float) -> bool:
    """Wait for /healthz to pass with every process alive. False if a stop signal came first;
    NotReady if a process exited or the time ran out."""
    url = f"http://{settings.api_host}:{settings.api_port}/healthz"
    deadline = time.monotonic() + timeout
    lacking = ["the HTTP API"]
    with httpx.Client(timeout=2) as client:
        while not supervisor.signalled:
            exited = supervisor.exited()
            if exited:
                name, code = next(iter(exited.items()))
                raise NotReady(f"{name} exited with code {code} while claw was starting; "
                               "its own output above says why")
            try:
                lacking = missing(client.get(url).json(), settings)
            except (httpx.HTTPError, ValueError):
                lacking = ["the HTTP API"]
            if not lacking:
                return True
            if time.monotonic() > deadline:
                raise NotReady(f"claw did not come up within {timeout:g} s (CLAW_STARTUP_TIMEOUT): "
                               f"still waiting for {', '.join(lacking)}")
            time.sleep(0.3)
    return False
