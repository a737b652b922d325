"""The fakes' shared loopback HTTP server now lives in claw (the `claw chaos` fakes use it too)."""

from claw.chaos.fakes.loopback import POLL_SECONDS, LoopbackServer

__all__ = ["POLL_SECONDS", "LoopbackServer"]
