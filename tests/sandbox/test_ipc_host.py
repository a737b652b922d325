"""claw.sandbox.ipc.host on its own: requests written as files, answered by poll() and finish().

These tests play the sandbox's part by writing into the group's .ipc directory directly, and
register their own actions, so ordering, crashes and limits can be seen without a sandbox.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from claw.config import Settings
from claw.sandbox import limits_for
from claw.sandbox.ipc import Action, ActionContext, ActionError, Identity, IpcHost, Policy, RateLimiter
from claw.sandbox.ipc.policy import ActionDenied


class NoteArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


calls: list[tuple[str, str, str]] = []


def _recorder(name: str):  # type: ignore[no-untyped-def]
    def handle(ctx: ActionContext, args: NoteArgs) -> dict[str, Any]:
        calls.append((name, ctx.identity.group_id, args.text))
        if args.text == "crash":
            raise RuntimeError("secret detail")
        if args.text == "refuse":
            raise ActionError("cannot do that")
        return {"noted": args.text}

    return handle


ACTIONS = {
    "urgent": Action("urgent", NoteArgs, _recorder("urgent"), priority=1),
    "later": Action("later", NoteArgs, _recorder("later"), priority=90),
}


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    calls.clear()


def make_host(tmp_path: Path, *, rate: int = 100, policy: Policy | None = None,
              limiter: RateLimiter | None = None) -> IpcHost:
    group = tmp_path / "group"
    group.mkdir(exist_ok=True)
    settings = Settings(workspace=tmp_path, home=tmp_path / "home")
    host = IpcHost(Identity("http:team"), group, settings=settings,
                   limits=limits_for(settings, {"ipc_rate": rate, "heartbeat_timeout": 2}),
                   policy=policy, limiter=limiter or RateLimiter(), actions=ACTIONS)
    host.open()
    return host


def request(tmp_path: Path, name: str, body: object) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    (tmp_path / "group" / ".ipc" / "requests" / f"{name}.json").write_bytes(data)


def response(tmp_path: Path, name: str) -> dict[str, Any]:
    return json.loads((tmp_path / "group" / ".ipc" / "responses" / f"{name}.json").read_text())


def test_requests_waiting_together_run_in_priority_order(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    request(tmp_path, "a", {"action": "later", "args": {"text": "1"}})
    request(tmp_path, "b", {"action": "urgent", "args": {"text": "2"}})
    request(tmp_path, "c", {"action": "later", "args": {"text": "3"}})
    assert host.poll() == 3
    assert [c[0] for c in calls] == ["urgent", "later", "later"]
    assert response(tmp_path, "b") == {"id": "b", "ok": True, "result": {"noted": "2"}}
    assert not list((tmp_path / "group" / ".ipc" / "requests").iterdir())  # consumed


def test_the_identity_is_the_hosts_never_the_requests(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    request(tmp_path, "a", {"action": "urgent", "args": {"text": "hi"}})
    host.poll()
    assert calls == [("urgent", "http:team", "hi")]


def test_handler_errors_become_responses_and_crashes_reveal_nothing(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    request(tmp_path, "r", {"action": "urgent", "args": {"text": "refuse"}})
    request(tmp_path, "c", {"action": "urgent", "args": {"text": "crash"}})
    host.poll()
    assert response(tmp_path, "r") == {"id": "r", "ok": False, "error": "cannot do that"}
    crashed = response(tmp_path, "c")
    assert crashed["error"] == "internal error in urgent; see the claw log"
    assert "secret detail" not in json.dumps(crashed)
    assert host.stats.refused == 2


def test_the_group_policy_narrows_the_actions(tmp_path: Path) -> None:
    host = make_host(tmp_path, policy=Policy.for_group({"ipc_actions": ["urgent"]}, ACTIONS))
    request(tmp_path, "a", {"action": "later", "args": {"text": "x"}})
    host.poll()
    assert calls == []
    assert response(tmp_path, "a")["error"] == "group http:team may not use 'later' (its ipc_actions setting)"


def test_a_policy_naming_unknown_actions_is_a_config_error() -> None:
    from claw.sandbox import SandboxConfigError

    with pytest.raises(SandboxConfigError, match="unknown actions: rm"):
        Policy.for_group({"ipc_actions": ["rm"]}, ACTIONS)


def test_rate_limit_refuses_beyond_the_budget_and_refills() -> None:
    limiter = RateLimiter()
    allowed = [limiter.allow("g", 3, now=100.0) for _ in range(5)]
    assert allowed == [True, True, True, False, False]
    assert limiter.allow("g", 3, now=100.0 + 20.0)  # 3 per minute: one token every 20 s
    assert not limiter.allow("g", 3, now=100.0 + 20.0)
    assert limiter.allow("other", 3, now=100.0)  # per group
    assert not limiter.allow("g", 0)


def test_bad_names_are_dropped_and_unfinished_files_wait(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    requests = tmp_path / "group" / ".ipc" / "requests"
    (requests / "no-extension").write_text("{}")
    (requests / "bad name!.json").write_text("{}")
    (requests / ".half-written.tmp").write_text("{")
    host.poll()
    assert sorted(p.name for p in requests.iterdir()) == [".half-written.tmp"]
    assert host.stats.dropped == 2
    host.finish()  # the run is over: an unfinished request is removed, unanswered
    assert list(requests.iterdir()) == []


def test_finish_answers_requests_written_just_before_exit(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    request(tmp_path, "last", {"action": "urgent", "args": {"text": "bye"}})
    host.finish()
    assert calls == [("urgent", "http:team", "bye")]


def test_open_replaces_planted_symlinks_and_discards_leftovers(tmp_path: Path) -> None:
    group = tmp_path / "group"
    outside = tmp_path / "outside"
    (group / ".ipc").mkdir(parents=True)
    outside.mkdir()
    (group / ".ipc" / "responses").symlink_to(outside)
    (group / ".ipc" / "requests").symlink_to(outside)
    (outside / "x.json").write_text(json.dumps({"action": "urgent", "args": {"text": "planted"}}))
    host = make_host(tmp_path)
    assert (group / ".ipc" / "responses").is_dir() and not (group / ".ipc" / "responses").is_symlink()
    request(tmp_path, "a", {"action": "urgent", "args": {"text": "real"}})
    host.poll()
    assert calls == [("urgent", "http:team", "real")]
    assert sorted(p.name for p in outside.iterdir()) == ["x.json"]  # untouched


def test_a_stale_heartbeat_is_noticed(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    beat = tmp_path / "group" / ".ipc" / "heartbeat" / "beat"
    assert not host.heartbeat_stale()  # no heartbeat yet: nothing to watch
    beat.write_text("1")
    assert not host.heartbeat_stale()
    os.utime(beat, (time.time() - 5, time.time() - 5))
    assert host.heartbeat_stale()
    # a planted link or FIFO is no heartbeat (and never opened)
    beat.unlink()
    os.mkfifo(beat)
    assert not host.heartbeat_stale()


def test_the_message_target_policy() -> None:
    from claw.sandbox.ipc.policy import check_message_target

    check_message_target(Identity("http:a"), "http:a")
    check_message_target(Identity("http:main", is_main=True), "http:b")
    with pytest.raises(ActionDenied, match="may only message itself"):
        check_message_target(Identity("http:a"), "http:b")
