"""claw.agent.offline: the deterministic model the whole system is tested with."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from claw.agent import ChatLine, ModelRequest, ModelStep, TurnInput
from claw.agent.offline import OfflineProvider, parse_command
from claw.agent.transcript import build_conversation, to_chat_turns

T0 = datetime(2026, 3, 1, 14, 34, tzinfo=timezone.utc)


def user(sender: str, text: str, minute: int = 0) -> ChatLine:
    return ChatLine("user", sender, text, T0 + timedelta(minutes=minute))


def turn(new: list[ChatLine], history: list[ChatLine] | None = None) -> TurnInput:
    return TurnInput("http:team", "You are claw.", history or [], new)


class _Answer:
    """The offline model's first step for a turn, as the agent loop would ask for it."""

    def __init__(self, provider: OfflineProvider) -> None:
        self.provider = provider

    def reply(self, t: TurnInput) -> ModelStep:
        request = ModelRequest(t.system_prompt, to_chat_turns(t), [], None, new_messages=t.new_messages)
        return self.provider.step(request)


def test_one_message_is_answered_as_sender_colon_text() -> None:
    reply = _Answer(OfflineProvider()).reply(turn([user("Alice", "hello there")]))

    assert reply.text == "Alice: hello there"


def test_every_new_message_gets_a_line_in_order() -> None:
    # Given a turn that coalesced three messages
    new = [user("Alice", "one", 0), user("Bob", "two", 1), user("Alice", "three", 2)]

    # When the offline model answers
    reply = _Answer(OfflineProvider()).reply(turn(new))

    # Then each message appears once, in order, one per line
    assert reply.text.splitlines() == ["Alice: one", "Bob: two", "Alice: three"]


def test_history_is_not_repeated() -> None:
    history = [user("Alice", "earlier"), ChatLine("assistant", "claw", "Alice: earlier", T0)]

    reply = _Answer(OfflineProvider()).reply(turn([user("Bob", "now", 5)], history))

    assert reply.text == "Bob: now"


def test_the_reply_is_deterministic() -> None:
    new = [user("Alice", "same"), user("Bob", "input")]

    assert _Answer(OfflineProvider()).reply(turn(new)).text == _Answer(OfflineProvider()).reply(turn(new)).text


def test_usage_counts_words_under_the_offline_model() -> None:
    reply = _Answer(OfflineProvider()).reply(turn([user("Alice", "one two three"), user("Bob", "four")]))

    usage = reply.usage
    assert usage.model == "offline"
    assert usage.input_tokens == 4  # words of the new messages
    assert usage.output_tokens == len("Alice: one two three\nBob: four".split())


def test_latency_is_simulated_when_asked() -> None:
    started = time.monotonic()
    _Answer(OfflineProvider(latency_ms=200)).reply(turn([user("Alice", "hi")]))
    assert time.monotonic() - started >= 0.2


def test_offline_provider_names_itself() -> None:
    assert OfflineProvider().name == "offline"


def test_plain_commands_become_tool_calls() -> None:
    assert parse_command("remember that the wifi password is hunter2") == (
        "save_memory", {"category": "topics", "topic": "notes", "content": "the wifi password is hunter2"})
    assert parse_command("What do you remember about wifi?") == ("search_memory", {"query": "wifi"})
    assert parse_command("remind me in 5 minutes to stretch") == (
        "schedule_task", {"kind": "reminder", "spec": "in 5 minutes", "text": "stretch"})
    assert parse_command("every day at 9:00 summarize the news") == (
        "schedule_task", {"kind": "agent_prompt", "spec": "daily 09:00", "text": "summarize the news"})
    assert parse_command("run python: print(1+1)") == (
        "run_code", {"language": "python", "code": "print(1+1)"})
    assert parse_command("be more cheerful") == (
        "update_personality", {"content": "Be more cheerful.", "mode": "append"})
    assert parse_command("hello there") is None


@pytest.mark.parametrize(
    ("text", "arguments"),
    [("remind me in 30m to stretch", {"kind": "reminder", "spec": "in 30m", "text": "stretch"}),
     ("remind me tomorrow morning to call mum", {"kind": "reminder", "spec": "tomorrow morning", "text": "call mum"}),
     ("remind us every evening at 7 to take the pills",
      {"kind": "reminder", "spec": "every evening at 7", "text": "take the pills"}),
     ("every morning at 8 summarize the news", {"kind": "agent_prompt", "spec": "daily 08:00", "text": "summarize the news"}),
     ("every day at 9:00, summarize the news", {"kind": "agent_prompt", "spec": "daily 09:00", "text": "summarize the news"}),
     ("hourly check the feed", {"kind": "agent_prompt", "spec": "every 1 hour", "text": "check the feed"}),
     ("every 2h look at the build", {"kind": "agent_prompt", "spec": "every 2 hours", "text": "look at the build"}),
     ("weekdays at 8 post the standup", {"kind": "agent_prompt", "spec": "weekdays 08:00", "text": "post the standup"}),
     ("every monday at 9 plan the week", {"kind": "agent_prompt", "spec": "weekly MON 09:00", "text": "plan the week"})],
)
def test_schedules_in_everyday_words_become_schedule_task_calls(text: str, arguments: dict[str, str]) -> None:
    assert parse_command(text) == ("schedule_task", arguments)


@pytest.mark.parametrize("text", ["every time you answer, be brief", "remind me to buy milk", "every day", "hourly"])
def test_words_that_only_look_like_a_schedule_stay_plain_messages(text: str) -> None:
    assert parse_command(text) is None


def test_a_command_asks_for_its_tool_then_reports_the_result_among_plain_lines() -> None:
    # Given a turn with a plain message and a command
    t = turn([user("Alice", "hi"), user("Bob", "be more cheerful")])
    provider = OfflineProvider()
    first = _Answer(provider).reply(t)
    # Then the first step asks for the tool, with an id tied to the command's message
    [call] = first.tool_calls
    assert (call.name, call.input) == ("update_personality", {"content": "Be more cheerful.", "mode": "append"})
    assert first.stop_reason == "tool_use"
    # When the tool result comes back
    messages = [*to_chat_turns(t), {"role": "assistant", "content": first.content},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                              "content": "Personality updated", "is_error": False}]}]
    second = provider.step(ModelRequest("", messages, [], None, new_messages=t.new_messages))
    # Then the reply keeps message order: the echo line, then the tool's result
    assert second.tool_calls == []
    assert second.text.splitlines() == ["Alice: hi", "Personality updated"]


def test_a_failed_tool_is_reported_as_an_error_line() -> None:
    t = turn([user("Bob", "run python: 1/0")])
    provider = OfflineProvider()
    [call] = _Answer(provider).reply(t).tool_calls
    messages = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                              "content": "unknown tool 'run_code'", "is_error": True}]}]
    second = provider.step(ModelRequest("", messages, [], None, new_messages=t.new_messages))
    assert second.text == "Error: unknown tool 'run_code'"


def test_a_line_that_nearly_is_a_command_gets_the_forms_it_knows_not_an_echo() -> None:
    # Given lines that start like the reminder command but are not in its form
    reply = _Answer(OfflineProvider()).reply(
        turn([user("max", "remind me tomorrow at 9"), user("max", "remind me in abc"), user("max", "hello")])
    )

    # Then each is told the form the offline model knows, and a plain line is still echoed
    first, second, third = reply.text.splitlines()
    assert first.startswith("I did not understand 'remind me tomorrow at 9'")
    assert "remind me in <N> minutes|hours to <something>" in first
    assert second.startswith("I did not understand 'remind me in abc'")
    assert third == "max: hello"
    assert reply.stop_reason == "end_turn"


def test_what_day_and_time_it_is_are_answered_from_the_turns_clock() -> None:
    # Given a turn with a clock, asking the time next to a command and a plain message
    t = TurnInput("http:team", "You are claw.", [],
                  [user("Ann", "@claw what day is it?"), user("Bob", "be more cheerful"), user("Cy", "hi")],
                  timezone="Asia/Tokyo")
    conversation = build_conversation(t, now=T0)
    provider = OfflineProvider()
    first = provider.step(ModelRequest("", conversation.messages, [], None, new_messages=t.new_messages,
                                       clock=conversation.clock))
    [call] = first.tool_calls
    messages = [*conversation.messages, {"role": "assistant", "content": first.content},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                              "content": "Personality updated", "is_error": False}]}]
    second = provider.step(ModelRequest("", messages, [], None, new_messages=t.new_messages,
                                        clock=conversation.clock))
    # Then the question gets the clock line, in the group's timezone, in its place
    assert second.text.splitlines() == [
        "Ann: (Now: Sunday, 1 March 2026, 11:34 PM, Asia/Tokyo, UTC+09:00)", "Personality updated", "Cy: hi"]
    # And without a clock it is echoed like any message
    plain = provider.step(ModelRequest("", conversation.messages, [], None, new_messages=t.new_messages[:1]))
    assert plain.text == "Ann: @claw what day is it?"
