"""Telegram through the Bot API, polled by beat: a fake Bot API HTTP server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.fake_telegram import TOKEN, FakeTelegram
from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

POLL_INTERVAL = 0.5


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis, telegram: FakeTelegram
) -> Iterator[ClawStack]:
    with ClawStack(
        tmp_path_factory.mktemp("claw"),
        redis_server.url,
        shards=2,
        cooldown=0.3,
        poll_interval=POLL_INTERVAL,
        telegram_bot_token=TOKEN,
        telegram_api_url=telegram.url,
    ) as claw:
        yield claw


def lines_sent(telegram: FakeTelegram, chat: int) -> list[str]:
    return [line for text in telegram.sent_to(chat) for line in text.splitlines()]


def test_a_group_conversation_is_answered_through_send_message(
    stack: ClawStack, telegram: FakeTelegram
) -> None:
    # Given two people writing in one Telegram group
    telegram.add_message(-100123, "Ann", "good morning", last_name="Lee")
    telegram.add_message(-100123, "Ben", "morning!")
    # Then claw replies once, through sendMessage, answering both in order
    sent = wait_until(lambda: telegram.sent_to(-100123), 30, "a reply through sendMessage")
    assert sent == ["Ann Lee: good morning\nBen: morning!"]
    # And the group was shown "typing…" (sent beside the turn, so it may land just after)
    wait_until(lambda: {"chat_id": -100123, "action": "typing"} in telegram.chat_actions, 10,
               "a typing chat action")
    # And the conversation is stored under the group telegram:<chat_id>
    texts = [m["text"] for m in stack.messages("telegram:-100123")]
    assert texts == ["good morning", "morning!", "Ann Lee: good morning\nBen: morning!"]
    # And the next poll confirmed the updates: Telegram will not send them again
    wait_until(lambda: not telegram.updates, 10, "the updates to be confirmed")
    assert telegram.token not in stack.log_tail(10_000)


def test_the_same_message_id_in_two_chats_is_two_messages(
    stack: ClawStack, telegram: FakeTelegram
) -> None:
    # Given message 1 of two different groups (Telegram counts message ids per chat)
    telegram.add_message(-100201, "Cat", "hello from the first group", message_id=1)
    telegram.add_message(-100202, "Dan", "hello from the second group", message_id=1)
    # Then each group is answered with its own message
    wait_until(lambda: telegram.sent_to(-100201) and telegram.sent_to(-100202), 30, "both replies")
    assert telegram.sent_to(-100201) == ["Cat: hello from the first group"]
    assert telegram.sent_to(-100202) == ["Dan: hello from the second group"]
    external = stack.sql("SELECT group_id, external_id FROM messages "
                         "WHERE role = 'user' AND group_id IN ('telegram:-100201', 'telegram:-100202') "
                         "ORDER BY id")
    assert external == [{"group_id": "telegram:-100201", "external_id": "-100201:1"},
                        {"group_id": "telegram:-100202", "external_id": "-100202:1"}]


@pytest.mark.parametrize("failure, chat", [("bad-gateway", -100301), ("garbage", -100302)])
def test_a_failing_api_skips_nothing_and_duplicates_nothing(
    stack: ClawStack, telegram: FakeTelegram, failure: str, chat: int
) -> None:
    # Given a Bot API that fails for a while, with a message already waiting behind it
    telegram.mode = failure
    telegram.add_message(chat, "Eve", f"are you there? ({failure})")
    polls_before = telegram.polls
    wait_until(lambda: telegram.polls >= polls_before + 3, 20, "claw to keep polling a failing API")
    assert telegram.sent_to(chat) == []
    # When it recovers
    telegram.mode = "ok"
    telegram.add_message(chat, "Eve", "hello?")
    # Then both messages are answered, each exactly once
    wait_until(lambda: len(lines_sent(telegram, chat)) >= 2, 30, "replies after recovery")
    time.sleep(POLL_INTERVAL * 4)  # a few more polls must not bring anything twice
    assert lines_sent(telegram, chat) == [f"Eve: are you there? ({failure})", "Eve: hello?"]
    users = [m["text"] for m in stack.messages(f"telegram:{chat}") if m["role"] == "user"]
    assert users == [f"are you there? ({failure})", "hello?"]
