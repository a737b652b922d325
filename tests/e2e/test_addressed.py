"""claw in real Telegram chats, as it ships: pairing on, group chats answered when addressed.

One stack, a fake Bot API (a group chat and DMs) and a fake Messages API that records what the
model was sent, all real HTTP servers on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_telegram import TOKEN, FakeTelegram
from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

GROUP = -100900
MODEL = "claude-sonnet-4-5"


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis,
          telegram: FakeTelegram, anthropic: FakeAnthropic) -> Iterator[ClawStack]:
    with ClawStack(
        tmp_path_factory.mktemp("claw"), redis_server.url, shards=1, cooldown=0.3,
        poll_interval=0.5, telegram_bot_token=TOKEN, telegram_api_url=telegram.url,
        llm="anthropic", model=MODEL, pairing="on", group_respond="mention",
        extra_env={"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": anthropic.url},
    ) as claw:
        yield claw


def model_saw(anthropic: FakeAnthropic, text: str) -> list[dict[str, Any]]:
    """The requests whose conversation contains ``text`` (however the transcript is laid out)."""
    return [r.body for r in anthropic.requests if text in json.dumps(r.body["messages"], ensure_ascii=False)]


def claw_cli(stack: ClawStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "claw.cli", *args], env=stack.env, cwd=stack.home,
                          capture_output=True, text=True, timeout=60)


def pairing_code(stack: ClawStack, group_id: str) -> str:
    def waiting() -> str | None:
        rows = stack.http.get("/v1/pairings").json()["pairings"]
        return next((r["code"] for r in rows if r["group_id"] == group_id), None)

    return wait_until(waiting, 30, f"{group_id} to wait with a pairing code")


def stored(stack: ClawStack, group_id: str, count: int) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        rows = [m for m in stack.messages(group_id) if m["role"] == "user"]
        return rows if len(rows) >= count else None

    return wait_until(enough, 30, f"{count} stored messages in {group_id}")


def test_a_stranger_gets_one_pairing_code_and_is_answered_once_approved(
    stack: ClawStack, telegram: FakeTelegram, anthropic: FakeAnthropic
) -> None:
    dm = 5150
    # Given a stranger who writes to claw three times, in two polls
    telegram.add_message(dm, "Eve", "hi, are you a bot?")
    telegram.add_message(dm, "Eve", "what can you do?")
    code = pairing_code(stack, f"telegram:{dm}")
    telegram.add_message(dm, "Eve", "hello??")
    stored(stack, f"telegram:{dm}", 3)
    # Then the chat got exactly one reply, its pairing code, and the model heard nothing
    wait_until(lambda: telegram.sent_to(dm), 30, "the pairing reply")
    [notice] = telegram.sent_to(dm)
    assert code in notice and "claw groups approve" in notice
    assert not model_saw(anthropic, "are you a bot?")
    # And the owner sees who is waiting
    [waiting] = [p for p in stack.http.get("/v1/pairings").json()["pairings"] if p["code"] == code]
    assert (waiting["chat_name"], waiting["first_sender"], waiting["first_text"]) == (
        "Eve", "Eve", "hi, are you a bot?")
    # And an unknown code approves nothing
    assert stack.http.post("/v1/pairings/ZZZZZZZZ/approve").status_code == 404

    # When the owner approves the code with the CLI
    approved = claw_cli(stack, "groups", "approve", code)
    assert approved.returncode == 0, approved.stderr
    # Then all three waiting messages are answered, once, by one reply
    wait_until(lambda: len(telegram.sent_to(dm)) >= 2, 30, "the answer after approval")
    stack.wait_answered(f"telegram:{dm}", 3)
    assert telegram.sent_to(dm)[1:] == ["ok"]
    [request] = model_saw(anthropic, "are you a bot?")
    seen = json.dumps(request["messages"], ensure_ascii=False)
    assert "what can you do?" in seen and "hello??" in seen
    # And a DM is answered every time, without mentioning claw
    telegram.add_message(dm, "Eve", "thanks")
    wait_until(lambda: len(telegram.sent_to(dm)) >= 3, 30, "the answer in the DM")
    groups = {g["id"]: g for g in stack.http.get("/v1/groups").json()["groups"]}
    assert (groups[f"telegram:{dm}"]["respond"], groups[f"telegram:{dm}"]["access"]) == ("always", "approved")


def test_a_group_is_answered_when_addressed_and_knows_what_was_said_meanwhile(
    stack: ClawStack, telegram: FakeTelegram, anthropic: FakeAnthropic
) -> None:
    group_id = f"telegram:{GROUP}"
    # Given a group claw was added to, approved by its owner
    telegram.add_message(GROUP, "Ann", "I added a bot")
    code = pairing_code(stack, group_id)
    assert stack.http.post(f"/v1/pairings/{code}/approve").json()["group_id"] == group_id
    # When people talk among themselves
    telegram.add_message(GROUP, "Ben", "lunch at noon?")
    telegram.add_message(GROUP, "Cid", "yes, at the usual place")
    chatter = stored(stack, group_id, 3)
    # And then someone mentions claw by its trigger word
    telegram.add_message(GROUP, "Ann", "@Claw where is the usual place?")
    wait_until(lambda: len(telegram.sent_to(GROUP)) >= 2, 30, "the answer to the mention")
    # Then claw answered once (after the pairing reply), and only the message that addressed it
    messages = stack.wait_answered(group_id, 1)
    assert telegram.sent_to(GROUP)[1:] == ["ok"]
    users = [m for m in messages if m["role"] == "user"]
    assert [(m["text"], m["answered_by"] is not None) for m in users] == [
        ("I added a bot", False), ("lunch at noon?", False), ("yes, at the usual place", False),
        ("@Claw where is the usual place?", True)]
    assert len(chatter) == 3
    # And the model saw what was said since claw last spoke
    [request] = model_saw(anthropic, "@Claw where is the usual place?")
    seen = json.dumps(request["messages"], ensure_ascii=False)
    assert "lunch at noon?" in seen and "yes, at the usual place" in seen

    # When someone replies to claw's message, and someone @mentions the bot by its username
    telegram.add_message(GROUP, "Ben", "thanks!", reply_to_message=telegram.reply_to_bot(GROUP, "ok"))
    wait_until(lambda: len(telegram.sent_to(GROUP)) >= 3, 30, "the answer to the reply")
    text = "one more thing @claw_test_bot"
    telegram.add_message(GROUP, "Cid", text, entities=telegram.mention(text))
    wait_until(lambda: len(telegram.sent_to(GROUP)) >= 4, 30, "the answer to the @mention")
    # And someone chats on without addressing claw, then the owner makes the group chatty
    telegram.add_message(GROUP, "Ann", "see you all there")
    stored(stack, group_id, 7)
    assert stack.http.patch(f"/v1/groups/{group_id}", json={"respond": "sometimes"}).status_code == 422
    made_chatty = claw_cli(stack, "groups", "set", group_id, "--respond", "always")
    assert made_chatty.returncode == 0, made_chatty.stderr
    listed = claw_cli(stack, "groups", "list")
    [row] = [line.split() for line in listed.stdout.splitlines() if line.startswith(group_id + " ")]
    assert "always" in row
    telegram.add_message(GROUP, "Ann", "anyone?")
    wait_until(lambda: len(telegram.sent_to(GROUP)) >= 5, 30, "the answer in a chatty group")
    # Then each addressed message was answered once, the rest never
    stack.wait_answered(group_id, 4)
    answered = {m["text"]: m["answered_by"] is not None
                for m in stack.messages(group_id) if m["role"] == "user"}
    assert answered == {"I added a bot": False, "lunch at noon?": False,
                        "yes, at the usual place": False, "@Claw where is the usual place?": True,
                        "thanks!": True, text: True, "see you all there": False, "anyone?": True}
    assert len(telegram.sent_to(GROUP)) == 5


def test_a_blocked_chat_is_dropped(stack: ClawStack, telegram: FakeTelegram, anthropic: FakeAnthropic) -> None:
    dm = 6160
    telegram.add_message(dm, "Mal", "let me in")
    code = pairing_code(stack, f"telegram:{dm}")
    listed = claw_cli(stack, "groups", "pairings")
    assert f"{code}  telegram:{dm}  Mal" in listed.stdout and "Mal: let me in" in listed.stdout
    blocked = claw_cli(stack, "groups", "block", code)
    assert blocked.returncode == 0, blocked.stderr
    telegram.add_message(dm, "Mal", "please")
    wait_until(lambda: not telegram.updates, 30, "the updates to be confirmed")
    assert [m["text"] for m in stack.messages(f"telegram:{dm}") if m["role"] == "user"] == ["let me in"]
    assert len(telegram.sent_to(dm)) == 1  # the pairing reply, nothing else
    assert not model_saw(anthropic, "let me in")


def test_an_expired_code_is_gone_and_the_group_can_be_approved_by_its_id(
    stack: ClawStack, telegram: FakeTelegram
) -> None:
    dm = 7170
    telegram.add_message(dm, "Sam", "hello")
    code = pairing_code(stack, f"telegram:{dm}")
    stack.sql("UPDATE pairings SET expires_at = '2000-01-01 00:00:00.000000' WHERE code = ?", code)
    gone = stack.http.post(f"/v1/pairings/{code}/approve")
    assert gone.status_code == 410 and "expired" in gone.json()["error"]
    assert stack.http.post(f"/v1/groups/telegram:{dm}/approve").status_code == 200
    wait_until(lambda: len(telegram.sent_to(dm)) >= 2, 30, "the answer after approval")
    assert telegram.sent_to(dm)[1:] == ["ok"]
    # And only Telegram and WhatsApp chats can be blocked
    assert stack.post("blockme", "hi").status_code == 202
    assert stack.http.post("/v1/groups/http:blockme/block").status_code == 409
