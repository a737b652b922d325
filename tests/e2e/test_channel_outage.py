"""A channel down for a while never costs a reply: the real stack against fake channel servers.

The WhatsApp bridge refuses every reply for OUTAGE seconds while people keep writing; Telegram
answers 429 with a retry_after. Backoffs are shortened (CLAW_SEND_RETRY_DELAY 0.5 s doubling
to 4 s) so the module runs in about a minute; the behaviour is the one of the defaults.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.support.fake_bridge import FakeBridge
from tests.support.fake_telegram import TOKEN, FakeTelegram
from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

OUTAGE = 20.0  #: seconds the bridge refuses replies
CHAT = "outage@g.us"
TG_CHAT = -100999


@pytest.fixture(scope="module")
def bridge() -> Iterator[FakeBridge]:
    fake = FakeBridge().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def api() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis, bridge: FakeBridge,
    api: FakeTelegram,
) -> Iterator[ClawStack]:
    with ClawStack(
        tmp_path_factory.mktemp("claw"),
        redis_server.url,
        shards=1,
        cooldown=0.3,
        poll_interval=0.5,
        whatsapp_bridge_url=bridge.url,
        telegram_bot_token=TOKEN,
        telegram_api_url=api.url,
        send_retry_delay=0.5,
        send_retry_max_delay=4,
    ) as claw:
        yield claw


def replies_written(stack: ClawStack, group_id: str) -> int:
    return stack.sql("SELECT COUNT(*) AS n FROM outbox WHERE group_id = ?", group_id)[0]["n"]


def claw_outbox(stack: ClawStack, *args: str) -> str:
    """`claw outbox …` as a user runs it beside the stack."""
    done = subprocess.run([sys.executable, "-m", "claw.cli", "outbox", *args], env=stack.env,
                          cwd=stack.home, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_replies_written_while_the_bridge_is_down_are_all_delivered_once_in_order(
    stack: ClawStack, bridge: FakeBridge
) -> None:
    # Given a bridge that takes messages but refuses every reply
    bridge.refuse_sends = True
    down_since = time.monotonic()

    # When four messages come in one after the other, each answered before the next
    for n in range(4):
        bridge.add(CHAT, "Ann", f"message {n}")
        wait_until(lambda n=n: replies_written(stack, f"whatsapp:{CHAT}") > n, 30, f"reply {n} written")

    # Then nothing is delivered, the replies wait visibly, and claw backs off instead of
    # hammering the bridge
    assert bridge.sent_to(CHAT) == []
    listing = wait_until(lambda: (out := claw_outbox(stack, "--group", f"whatsapp:{CHAT}"))
                         .count("pending") == 4 and "HTTP 503" in out and out, 20, "claw outbox")
    assert f"whatsapp:{CHAT}" in listing
    # /metrics counts the chat's first reply as retrying (the rest wait behind it); polled,
    # since for the few milliseconds of an attempt it is being sent instead
    wait_until(lambda: "claw_outbox_retrying 1.0" in stack.http.get("/metrics").text, 10,
               "the retrying reply in /metrics")
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_since)))
    attempts = len(bridge.refused)
    # a retry every sweep (1 s here) would be 20 attempts; backoff doubling to 4 s makes ~8
    assert 3 <= attempts <= 12, f"{attempts} attempts in {OUTAGE} s"

    # When the bridge takes replies again
    bridge.refuse_sends = False

    # Then all four are delivered within one backoff or so, in the order written
    expected = [f"Ann: message {n}" for n in range(4)]
    wait_until(lambda: len(bridge.sent_to(CHAT)) >= 4, 30, "the four replies")
    time.sleep(3)  # more sweeps and retries must not bring anything twice
    assert bridge.sent_to(CHAT) == expected
    assert bridge.most_in_flight == 1
    assert "every reply is delivered" in claw_outbox(stack, "--group", f"whatsapp:{CHAT}")


def test_telegrams_retry_after_is_waited_out_and_the_reply_delivered_once(
    stack: ClawStack, api: FakeTelegram
) -> None:
    # Given Telegram answering every send with 429 "retry after 3"
    api.refuse_sends, api.retry_after = True, 3
    api.add_message(TG_CHAT, "Ben", "are you there?")

    # When claw's reply has been refused twice
    wait_until(lambda: len(api.refused) >= 2, 40, "two refused sends")
    api.refuse_sends = False

    # Then the attempts were at least retry_after apart (claw's own first wait is 0.5 s)
    first, second = api.refused[0][0], api.refused[1][0]
    assert second - first >= 2.9
    # And the reply arrives, once
    wait_until(lambda: api.sent_to(TG_CHAT), 30, "the reply after the 429s")
    time.sleep(2)
    assert api.sent_to(TG_CHAT) == ["Ben: are you there?"]
