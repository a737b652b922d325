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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from claw.config import Settings
from claw.sandbox import limits_for
from claw.sandbox.ipc import Action, ActionContext, ActionError, Identity, IpcHost, Policy, RateLimiter
from claw.sandbox.ipc.policy import ActionDenied
from claw.sandbox.ipc.protocol import ProtocolError, parse_request


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


# ---- malformed requests never cost their neighbours -------------------------------------


def test_a_request_nested_30000_deep_gets_an_error_and_its_neighbour_its_answer(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    # Given, in one batch, a request nested 30,000 deep (60 KB, under the size limit) beside a valid one
    deep = b'{"action": "urgent", "args": {"text": ' + b"[" * 30_000 + b"]" * 30_000 + b"}}"
    request(tmp_path, "deep", deep)
    request(tmp_path, "fine", {"action": "later", "args": {"text": "still here"}})
    # When the host polls once
    assert host.poll() == 2
    # Then the deep one is answered with an error, and the valid one with its result
    assert response(tmp_path, "deep") == {
        "id": "deep", "ok": False, "error": "malformed request: nested more than 32 levels deep"}
    assert response(tmp_path, "fine") == {"id": "fine", "ok": True, "result": {"noted": "still here"}}
    assert calls == [("later", "http:team", "still here")]


@pytest.mark.parametrize(
    ("body", "complaint"),
    [(b'{"action": "urgent", "args": {"text": "x", "n": ' + b"9" * 5000 + b"}}", "malformed request: ValueError"),
     (b'{"action": "urgent", "args": {"text": "\xff"}}', "malformed request: not UTF-8 JSON ("),
     (b'{"action": "urgent", "args": {"text": "[[[[" }', "malformed request: not UTF-8 JSON (Expecting"),
     (b'{"action": "urgent", "args": {"text": "' + b"[" * 40 + b'"}}', None)],  # brackets in a string count for nothing
)
def test_every_malformed_request_gets_an_error_answer(tmp_path: Path, body: bytes, complaint: str | None) -> None:
    host = make_host(tmp_path)
    request(tmp_path, "odd", body)
    request(tmp_path, "fine", {"action": "urgent", "args": {"text": "ok"}})
    host.poll()
    answer = response(tmp_path, "odd")
    if complaint is None:
        assert answer == {"id": "odd", "ok": True, "result": {"noted": "[" * 40}}
    else:
        assert answer["ok"] is False and answer["error"].startswith(complaint), answer
    assert response(tmp_path, "fine")["ok"] is True


def test_a_bug_reached_by_one_request_is_answered_and_the_rest_still_run(tmp_path: Path) -> None:
    class BrokenPolicy(Policy):
        def check_action(self, identity: Identity, action: str) -> None:
            if action == "later":
                raise RuntimeError("a bug in the policy")

    def unserialisable(ctx: ActionContext, args: NoteArgs) -> dict[str, Any]:
        return {"when": object()}

    actions = {**ACTIONS, "odd": Action("odd", NoteArgs, unserialisable, priority=5)}
    host = make_host(tmp_path, policy=BrokenPolicy())
    host.actions = actions
    request(tmp_path, "a", {"action": "later", "args": {"text": "x"}})
    request(tmp_path, "b", {"action": "odd", "args": {"text": "y"}})
    request(tmp_path, "c", {"action": "urgent", "args": {"text": "z"}})
    host.poll()
    assert response(tmp_path, "a") == {"id": "a", "ok": False,
                                       "error": "internal error reading the request; see the claw log"}
    assert response(tmp_path, "b") == {"id": "b", "ok": False, "error": "internal error in odd; see the claw log"}
    assert response(tmp_path, "c") == {"id": "c", "ok": True, "result": {"noted": "z"}}


def test_names_from_the_sandbox_are_escaped_in_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    host = make_host(tmp_path)
    requests = tmp_path / "group" / ".ipc" / "requests"
    # Given file names and an action name that would forge log lines or repaint a terminal
    (requests / "x\nipc_decision group=http:other decision=done.json").write_text("{}")
    (requests / "\x1b[2J\x1b[31mred.json").write_text("{}")
    (requests / "\u202egnp.json").write_text("{}")
    request(tmp_path, "a", {"action": "urgent\nipc_decision forged=1", "args": {}})
    # When the host judges them
    with caplog.at_level("INFO", logger="claw.sandbox.ipc.host"):
        host.poll()
    # Then each decision is one line, with the names escaped
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 4, lines
    for line in lines:
        assert "\n" not in line and "\x1b" not in line and "\u202e" not in line, line
    text = "\n".join(lines)
    assert "request='x\\nipc_decision group=http:other decision=done.json'" in text
    assert "request='\\x1b[2J\\x1b[31mred.json'" in text
    assert "request='\\u202egnp.json'" in text
    assert "action='urgent\\nipc_decision forged=1'" in text


JSON_MARKS = st.sampled_from(['[', ']', '{', '}', '"', '\\', ':', ',', '"action"', '"args"', '"urgent"',
                              '"text"', '1', '9' * 5000, '-', 'e9999', 'NaN', 'null', 'true', ' ', '\ud800'])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(
    st.lists(JSON_MARKS, max_size=400).map("".join).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=2000),
    st.integers(1, 40_000).map(lambda n: b'{"action": "urgent", "args": ' + b"[" * n + b"]" * n + b"}"),
))
def test_any_request_body_is_an_envelope_or_a_protocol_error(body: bytes) -> None:
    started = time.perf_counter()
    try:
        envelope = parse_request("r", body)
    except ProtocolError as error:
        assert str(error)
    else:
        assert envelope.action
    # (a parser that backtracks or recurses per level takes minutes on these; 3 s leaves a
    # loaded 2-core machine room)
    assert time.perf_counter() - started < 3.0
