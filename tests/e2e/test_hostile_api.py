"""The API against a hostile client on a running stack, where the edges need the whole stack:
a group id that cannot be a file name as it is, and Redis hanging under the task routes.
(Hostile input to the API alone is in tests/api/.)"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis) -> Iterator[ClawStack]:
    with ClawStack(tmp_path_factory.mktemp("claw"), redis_server.url, shards=1, cooldown=0) as claw:
        yield claw


def test_a_group_with_a_200_emoji_chat_id_has_its_files_like_any_other(stack: ClawStack) -> None:
    # The API accepts 200 characters of chat id; escaped, 200 emoji are 2,400 bytes: far over
    # a file name's 255, so the group's folder, memory and personality could not be written
    chat = "💥" * 200
    group = f"http:{chat}"
    reply = stack.post(chat, "remember the sky is green", wait=30).json()["reply"]
    assert reply is not None and "remember" in reply["text"].lower()
    assert "error" not in reply["text"].lower()
    put = stack.http.put(f"/v1/groups/{group}/personality", json={"text": "You are terse."})
    assert put.status_code == 200, put.text
    assert "terse" in stack.http.get(f"/v1/groups/{group}/personality").json()["text"]


def test_task_routes_answer_503_in_bounded_time_while_redis_hangs(
    stack: ClawStack, redis_server: LocalRedis
) -> None:
    # Given Redis is stopped (alive but answering nothing: a hung or swapped-out server)
    assert redis_server.process is not None
    redis_server.process.send_signal(signal.SIGSTOP)
    try:
        # When another system asks for a task's state, or starts one
        for method, path in (("GET", "/v1/tasks/some-id"), ("POST", "/v1/tasks/claw.sweep")):
            started = time.monotonic()
            response = stack.http.request(method, path, timeout=60)
            # Then it hears at once that Redis is unreachable, not a 500 or a hanging request
            assert response.status_code == 503, response.text
            assert "Redis is unreachable" in response.json()["error"]
            assert time.monotonic() - started < 20
    finally:
        redis_server.process.send_signal(signal.SIGCONT)
