"""The IPC host: while a group's sandbox runs, answer the requests its code writes.

It runs as a thread in the worker that runs the sandbox (the run_code tool inside the turn):

    host.open()                 .ipc/ made real; leftovers of earlier runs discarded, unanswered
    thread: host.serve(stop, kill)   every POLL_SECONDS: poll() + heartbeat check
    host.finish()               answer what was written just before the code exited, clean up

Each request is judged in this order, and every decision is logged (never the arguments):
file (regular, small) -> JSON envelope (no identity claims) -> action registered -> group
policy -> argument schema -> rate limit -> handler. The identity is the group whose directory
the request was found in. Valid requests found together run in priority order. Nothing a
request contains can crash the host: every failure becomes an error response to that request
alone (each is judged and run in its own try), so a bad request never costs its neighbours
their answers. Names the sandbox chose appear in the log only as ``escaped(name)``.


In a turn, requests that reach the run stage are numbered in the order they run and journaled
under the run's tool call (claw.pipeline.journal): when a redone turn runs the same code again,
request n that is journaled is answered from the journal and not done again. This holds for
code whose requests come in the same order each run, e.g. each waiting for its answer (the
default of claw_ipc).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from claw.config import Settings
from claw.faults import fault_point
from claw.pipeline.journal import JournalSlot
from claw.sandbox.ipc.actions import ALLOWED_ACTIONS, Action, ActionContext, ActionError
from claw.sandbox.ipc.files import IpcDirs, RequestFileError
from claw.sandbox.ipc.policy import ActionDenied, Identity, Policy
from claw.sandbox.ipc.protocol import (
    MAX_REQUEST_BYTES,
    REQUEST_NAME,
    ProtocolError,
    error_response,
    ok_response,
    parse_request,
    validation_problems,
)
from claw.sandbox.ipc.ratelimit import RATE_LIMITER, RateLimiter
from claw.sandbox.limits import Limits
from claw.sandbox.logsafe import escaped

log = logging.getLogger(__name__)

POLL_SECONDS = 0.02
#: requests looked at per poll; priority order holds among requests waiting together
BATCH = 64
#: requests answered per run; beyond it they are deleted unanswered (and counted)
MAX_ANSWERS_PER_RUN = 500
#: dropped requests logged one by one per run; the rest are only counted (finish() logs the
#: total): code can write junk files as fast as the host drops them, ~3,000 a second, and a
#: line for each would let a chat member fill the host's disk with the log
LOGGED_DROPS = 20


@dataclass
class IpcStats:
    done: int = 0
    refused: int = 0
    dropped: int = 0

    @property
    def answered(self) -> int:
        return self.done + self.refused


@dataclass(frozen=True, slots=True)
class _Valid:
    priority: int
    arrived: int
    request_id: str
    action: Action
    args: BaseModel


class IpcHost:
    def __init__(
        self,
        identity: Identity,
        group_dir: Path,
        *,
        settings: Settings,
        limits: Limits,
        policy: Policy | None = None,
        owner: tuple[int, int] | None = None,
        limiter: RateLimiter = RATE_LIMITER,
        actions: Mapping[str, Action] = ALLOWED_ACTIONS,
        journal: JournalSlot | None = None,
    ) -> None:
        self.identity = identity
        self.group_dir = group_dir
        self.policy = policy or Policy()
        self.context = ActionContext(identity, settings, group_dir, policy=self.policy)
        self.limits = limits
        self.owner = owner
        self.limiter = limiter
        self.actions = actions
        self.stats = IpcStats()
        self.dirs: IpcDirs | None = None
        self.journal = journal
        #: requests that reached the run stage, in order: their number is their journal entry
        self.sequence = 0

    # ---- lifecycle ----------------------------------------------------------------------

    def open(self) -> None:
        self.dirs = IpcDirs.open(self.group_dir, self.owner)
        leftovers = self.dirs.clear(self.dirs.requests)
        if leftovers:
            log.warning("ipc_expired group=%s discarded=%d reason=left_from_earlier_run",
                        self.identity.group_id, leftovers)
        self.dirs.clear(self.dirs.responses)
        self.dirs.clear_heartbeat()

    def serve(self, stop: threading.Event, kill: Callable[[str], None]) -> None:
        killed = False
        while not stop.wait(POLL_SECONDS):
            try:
                self.poll()
            except Exception:
                log.exception("ipc_poll_failed group=%s", self.identity.group_id)
            if not killed and self.heartbeat_stale():
                killed = True
                log.warning("ipc_heartbeat_stopped group=%s timeout=%s",
                            self.identity.group_id, self.limits.heartbeat_timeout)
                kill("heartbeat")

    def finish(self) -> None:
        """After the sandbox is gone: answer its last requests, then leave nothing behind."""
        assert self.dirs is not None
        try:
            while self.poll(final=True):
                pass
            self.stats.dropped += self.dirs.clear(self.dirs.requests)
            if self.stats.dropped:
                log.warning("ipc_dropped group=%s count=%d", self.identity.group_id, self.stats.dropped)
            self.dirs.clear_heartbeat()
        finally:
            self.dirs.close()
            self.dirs = None

    def heartbeat_stale(self, now: float | None = None) -> bool:
        assert self.dirs is not None
        beat = self.dirs.heartbeat_mtime()
        now = time.time() if now is None else now
        return beat is not None and now - beat > self.limits.heartbeat_timeout

    # ---- requests -----------------------------------------------------------------------

    def poll(self, *, final: bool = False) -> int:
        """Judge and answer what is waiting; returns how many request files were handled."""
        assert self.dirs is not None
        names = self.dirs.request_names(BATCH)
        valid: list[_Valid] = []
        handled = 0
        for name in names:
            if name.startswith("."):
                if final:  # a request its writer never finished
                    self.dirs.discard_request(name)
                    handled += 1
                continue
            handled += 1
            match = REQUEST_NAME.match(name)
            if match is None or self.stats.answered >= MAX_ANSWERS_PER_RUN:
                self.dirs.discard_request(name)
                self.stats.dropped += 1
                if self.stats.dropped <= LOGGED_DROPS:
                    self._decide(name, "-", "dropped", "bad file name" if match is None else "too many requests")
                    if self.stats.dropped == LOGGED_DROPS:
                        log.warning("ipc_drops_not_logged group=%s after=%d reason=only_counted_from_here",
                                    self.identity.group_id, LOGGED_DROPS)
                continue
            request_id = match["id"]
            try:
                checked = self._check(request_id, name)
            except Exception:  # a bug the request found: answer it, and go on to the next
                log.exception("ipc_check_crashed group=%s request=%s", self.identity.group_id, escaped(request_id))
                self.dirs.discard_request(name)
                self._refuse(request_id, "-", "failed", "internal error reading the request; see the claw log")
                continue
            if isinstance(checked, _Valid):
                valid.append(checked)
        for request in sorted(valid, key=lambda r: (r.priority, r.arrived, r.request_id)):
            try:
                self._run(request)
            except Exception:
                log.exception("ipc_run_crashed group=%s request=%s", self.identity.group_id,
                              escaped(request.request_id))
        return handled

    def _check(self, request_id: str, name: str) -> _Valid | None:
        assert self.dirs is not None
        action_name = "-"
        try:
            data, arrived = self.dirs.take_request(name, MAX_REQUEST_BYTES)
            envelope = parse_request(request_id, data)
            action_name = envelope.action
            action = self.actions.get(envelope.action)
            if action is None:
                allowed = ", ".join(sorted(self.actions)) or "none"
                raise ProtocolError(f"unknown action {envelope.action!r}; allowed: {allowed}")
            self.policy.check_action(self.identity, action.name)
            try:
                args = action.schema.model_validate(envelope.args)
            except ValidationError as exc:
                raise ProtocolError(f"invalid args for {action.name}: {validation_problems(exc)}") from None
        except (RequestFileError, ProtocolError, ActionDenied) as exc:
            decision = "denied" if isinstance(exc, ActionDenied) else "refused"
            self._refuse(request_id, action_name, decision, str(exc))
            return None
        return _Valid(action.priority, arrived, request_id, action, args)

    def _run(self, request: _Valid) -> None:
        name = request.action.name
        self.sequence += 1
        slot = self.journal.for_request(self.sequence) if self.journal is not None else None
        journaled = slot.recorded() if slot is not None else None
        if journaled is not None:  # done by an earlier run of this code in this turn
            self.stats.done += 1
            self._decide(request.request_id, name, "done", "journaled")
            self._respond(request.request_id, ok_response(request.request_id, journaled))
            return
        if not self.limiter.allow(self.identity.group_id, self.limits.ipc_rate):
            self._refuse(request.request_id, name, "rate_limited",
                         f"rate limited: at most {self.limits.ipc_rate} requests per minute per group")
            return
        try:
            context = replace(self.context, journal=slot) if slot is not None else self.context
            result: dict[str, Any] = request.action.handler(context, request.args)
            if slot is not None:
                result = slot.record_once(result)
        except ActionDenied as exc:
            self._refuse(request.request_id, name, "denied", str(exc))
            return
        except ActionError as exc:
            self._refuse(request.request_id, name, "failed", str(exc))
            return
        except Exception:
            log.exception("ipc_handler_crashed group=%s action=%s", self.identity.group_id, escaped(name))
            self._refuse(request.request_id, name, "failed", f"internal error in {name}; see the claw log")
            return
        try:
            answer = ok_response(request.request_id, result)
        except (TypeError, ValueError):
            log.exception("ipc_result_unserialisable group=%s action=%s", self.identity.group_id, escaped(name))
            self._refuse(request.request_id, name, "failed", f"internal error in {name}; see the claw log")
            return
        fault_point("ipc.after_effect")
        self.stats.done += 1
        self._decide(request.request_id, name, "done", "")
        self._respond(request.request_id, answer)

    def _refuse(self, request_id: str, action: str, decision: str, reason: str) -> None:
        self.stats.refused += 1
        self._decide(request_id, action, decision, reason)
        self._respond(request_id, error_response(request_id, reason))

    def _respond(self, request_id: str, data: bytes) -> None:
        assert self.dirs is not None
        try:
            self.dirs.write_response(request_id, data)
        except OSError as exc:
            log.warning("ipc_response_failed group=%s request=%s error=%s",
                        self.identity.group_id, escaped(request_id), exc.strerror)

    def _decide(self, request_id: str, action: str, decision: str, reason: str) -> None:
        log.info("ipc_decision group=%s request=%s action=%s decision=%s reason=%s",
                 self.identity.group_id, escaped(request_id), escaped(action, 64), decision,
                 escaped(reason, 200))
