"""`claw up` refuses, before starting anything, a port given to two of its own processes: each
passed the "is it free" probe, then the second crashed while starting with a bind error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from claw.runtime.readiness import NotReady, Port, check_ports_free


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_one_port_for_two_processes_is_refused_before_anything_starts(tmp_path: Path) -> None:
    port, redis_port = free_port(), free_port()
    env = {"PATH": os.environ["PATH"], "CLAW_HOME": str(tmp_path / "home"), "CLAW_API_PORT": str(port),
           "CLAW_FLOWER_PORT": str(port), "CLAW_REDIS_PORT": str(redis_port)}
    done = subprocess.run([sys.executable, "-m", "claw.cli", "up"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"claw: port {port} is given to both the HTTP API and Flower: choose another "
        "(--flower-port, or --no-flower)")


def test_the_same_port_on_two_specific_addresses_is_not_a_clash() -> None:
    port = free_port()
    check_ports_free([Port("a", "127.0.0.1", port, "-"), Port("b", "127.0.0.2", port, "-")])
    with pytest.raises(NotReady, match="given to both a and b"):
        check_ports_free([Port("a", "0.0.0.0", port, "-"), Port("b", "127.0.0.1", port, "-")])
