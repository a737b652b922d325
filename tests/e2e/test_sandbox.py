"""run_code and file IPC end to end: the real stack, the offline model's "run python:" command,
bwrap in the shard worker, and a message sent from inside the sandbox reaching a fake
WhatsApp bridge through the outbox and the io worker's send task."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_bridge import FakeBridge
from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until


@pytest.fixture(scope="module")
def bridge() -> Iterator[FakeBridge]:
    fake = FakeBridge().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis, bridge: FakeBridge
) -> Iterator[ClawStack]:
    with ClawStack(tmp_path_factory.mktemp("claw"), redis_server.url, shards=1, cooldown=0,
                     poll_interval=0.5, whatsapp_bridge_url=bridge.url, sandbox="bwrap") as claw:
        yield claw


def reply(stack: ClawStack, chat: str, text: str) -> str:
    response = stack.post(chat, text, wait=60)
    assert response.status_code == 200, response.text
    return str(response.json()["reply"]["text"])


def test_run_python_answers_with_the_sandboxes_output(stack: ClawStack) -> None:
    text = reply(stack, "calc", "run python: import os; print(6 * 7, os.getuid(), os.listdir('/'))")
    assert text.startswith("exit code 0 (")
    assert "42 65534 [" in text and "'workspace'" in text and "'root'" not in text


def test_a_main_group_messages_a_whatsapp_group_from_the_sandbox(stack: ClawStack, bridge: FakeBridge) -> None:
    # Given a WhatsApp group claw knows, and a main HTTP group
    bridge.add("42@g.us", "Ann", "hi claw")
    wait_until(lambda: bridge.sent_to("42@g.us"), 30, "the WhatsApp group to be answered")
    reply(stack, "boss", "hello")
    assert stack.http.patch("/v1/groups/http:boss", json={"is_main": True}).status_code == 200
    # When code in the main group's sandbox sends a message there
    text = reply(stack, "boss", "run python: import claw_ipc; "
                                "print(claw_ipc.send_message('report ready', to='whatsapp:42@g.us'))")
    assert "{'group_id': 'whatsapp:42@g.us', 'outbox_id':" in text, text
    # Then it goes out through the bridge, and is in that group's history
    wait_until(lambda: "report ready" in bridge.sent_to("42@g.us"), 30, "the message through the bridge")
    assert "report ready" in [m["text"] for m in stack.messages("whatsapp:42@g.us")]


def test_an_ordinary_group_cannot_message_another(stack: ClawStack, bridge: FakeBridge) -> None:
    text = reply(stack, "mallory", "run python: import claw_ipc\n"
                                   "try:\n    claw_ipc.send_message('spam', to='http:boss')\n"
                                   "except claw_ipc.IpcError as exc:\n    print('refused:', exc)")
    assert "refused: group http:mallory may only message itself" in text
    assert "spam" not in [m["text"] for m in stack.messages("http:boss")]
