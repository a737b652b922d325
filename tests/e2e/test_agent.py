"""The agent on the real stack with Claude: the workers use the real `anthropic` SDK against a
fake Anthropic Messages API on 127.0.0.1 (streaming, tool use, errors)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from claw.agent.pricing import BUILT_IN_PRICES
from tests.support.fake_anthropic import FakeAnthropic, reply_error, reply_text, reply_tool_use
from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

MODEL = "claude-sonnet-4-5"
API_KEY = "sk-ant-test-0123456789abcdef"


@pytest.fixture(scope="module")
def anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis,
          anthropic: FakeAnthropic) -> Iterator[ClawStack]:
    with ClawStack(
        tmp_path_factory.mktemp("claw"), redis_server.url, shards=1, cooldown=0,
        llm="anthropic", model=MODEL, llm_retry_delay=1,
        extra_env={"ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": anthropic.url},
    ) as claw:
        yield claw


def user_text(body: dict[str, Any]) -> str:
    """The last message's text, without the clock line that ends every turn's last message."""
    content = body["messages"][-1]["content"]
    text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
    return text.split("\n\n(Now: ")[0]


def test_a_tool_call_runs_and_its_result_reaches_the_model_and_the_user(
    stack: ClawStack, anthropic: FakeAnthropic
) -> None:
    # Given Claude asks to change the group's personality, then answers with the tool's result
    def answer(body: dict[str, Any]):  # type: ignore[no-untyped-def]
        last = body["messages"][-1]["content"]
        if isinstance(last, list) and last[0]["type"] == "tool_result":
            return reply_text(f"Done. ({last[0]['content']})", input_tokens=1200, output_tokens=30)
        return reply_tool_use("update_personality", {"content": "Answer like a pirate."},
                              tool_id="toolu_e2e_1", input_tokens=1000, output_tokens=40)

    anthropic.script(answer, answer)
    # When someone asks for it
    response = stack.post("pirates", "talk like a pirate from now on", sender="Ann", wait=30)
    # Then the reply is the model's final text after the tool ran
    assert response.status_code == 200, response.text
    assert response.json()["reply"]["text"] == "Done. (Personality updated: Answer like a pirate.)"
    # And the tool really changed the group's personality (the group's own CLAUDE.md)
    personality = stack.http.get("/v1/groups/http:pirates/personality").json()
    assert personality["source"] == "group"
    assert personality["text"].endswith("- Answer like a pirate.\n")
    # And the model saw the user as "[Ann @ time]: text", the system prompt cached
    first = anthropic.requests[-2].body
    assert user_text(first).startswith("[Ann @ ") and user_text(first).endswith("]: talk like a pirate from now on")
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["stream"] is True
    # And usage is the sum of both calls, priced at the model's rate
    usage = stack.http.get("/v1/groups/http:pirates/usage").json()
    assert (usage["turns"], usage["input_tokens"], usage["output_tokens"]) == (1, 2200, 70)
    price_in, price_out, _, _ = BUILT_IN_PRICES["claude-sonnet-4"]
    assert usage["cost_usd"] == pytest.approx((2200 * price_in + 70 * price_out) / 1e6)


def test_an_overloaded_model_is_retried_and_the_user_gets_exactly_one_reply(
    stack: ClawStack, anthropic: FakeAnthropic
) -> None:
    anthropic.script(reply_error(529, "overloaded_error", "Overloaded"),
                     reply_error(529, "overloaded_error", "Overloaded"),
                     reply_text("Here I am."))
    before = len(anthropic.requests)
    response = stack.post("busy-model", "hello?", wait=30)
    assert response.json()["reply"]["text"] == "Here I am."
    assert len(anthropic.requests) - before == 3
    time.sleep(1.5)
    assert stack.replies("http:busy-model") == ["Here I am."]


def test_bad_credentials_give_one_clear_notice_and_the_message_is_answered_later(
    stack: ClawStack, anthropic: FakeAnthropic
) -> None:
    # Given the model refuses our key, twice in a row
    anthropic.script(reply_error(401, "authentication_error", "invalid x-api-key"),
                     reply_error(401, "authentication_error", "invalid x-api-key"))
    stack.post("locked-out", "are you there?", sender="Bo")
    # Then the group is told once, plainly, and the message stays unanswered
    notices = wait_until(
        lambda: [m for m in stack.messages("http:locked-out") if m["kind"] == "notice"], 20, "a notice")
    assert "can't answer" in notices[0]["text"] and "Your message is kept" in notices[0]["text"]
    assert API_KEY not in notices[0]["text"]
    # When the model works again (the fake answers "ok" once its script is used up)
    stack.wait_answered("http:locked-out", 1, timeout=30)
    # Then the message is answered exactly once, and there was only one notice
    messages = stack.messages("http:locked-out")
    assert [m["text"] for m in messages if m["role"] == "assistant" and m["kind"] == "chat"] == ["ok"]
    assert len([m for m in messages if m["kind"] == "notice"]) == 1
    assert [m["answered_by"] is not None for m in messages if m["role"] == "user"] == [True]
