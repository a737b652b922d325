"""A shard worker refuses to start when the agent's code would run without isolation.

Shard workers run the agent's code. If no isolating sandbox (bwrap, docker) works on this host
and the operator did not choose ``CLAW_SANDBOX=subprocess`` on purpose, running would mean
running chat members' code on the host: better not to start, with a message that says why. This
holds however the worker was started (`claw up`, docker-compose, a hand-written unit).
"""

from __future__ import annotations

import logging

from celery import signals

log = logging.getLogger(__name__)


@signals.worker_init.connect
def _refuse_without_isolation(sender: object = None, **_: object) -> None:
    hostname = str(getattr(sender, "hostname", "") or "")
    if not hostname.startswith("shard"):
        return  # the io worker runs no code
    from claw.config import get_settings
    from claw.sandbox import SandboxUnavailable, select_backend

    try:
        select_backend(get_settings())
    except SandboxUnavailable as exc:
        log.critical("worker_refused reason=sandbox detail=%s", exc)
        raise SystemExit(f"claw shard worker not started: {exc}") from None
