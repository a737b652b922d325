"""claw.channels.telegram: polling getUpdates and sending through a fake Bot API over real HTTP."""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator

import pytest

from claw import channels
from claw.bench.processes import free_port
from claw.channels import DeliveryError, PollError, channel_for, polled_channels
from claw.channels.telegram import MESSAGE_LIMIT, TelegramBot, split_text
from claw.config import Settings, get_settings
from claw.doctor import _telegram as doctor_check
from claw.pipeline.inbox import IncomingMessage
from tests.support.fake_telegram import BOT_ID, TOKEN, FakeTelegram, utf16_len

CHAT = -100123
OTHER = -100456


@pytest.fixture(scope="module")
def running_api() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    yield fake
    fake.stop()  # takes up to half a second, so one server serves the whole module


@pytest.fixture
def api(running_api: FakeTelegram) -> FakeTelegram:
    """The Bot API, emptied and healthy again for each test."""
    running_api.reset()
    return running_api


def bot(api: FakeTelegram, **kwargs: object) -> TelegramBot:
    return TelegramBot(TOKEN, api_url=api.url, **kwargs)  # type: ignore[arg-type]


def assert_no_token(exc: BaseException) -> None:
    """Neither the message nor a logged traceback (with its chained causes) shows the token."""
    shown = "".join(traceback.format_exception(exc))
    assert TOKEN not in shown
    assert TOKEN.split(":")[1] not in shown


# ---- fetch ----------------------------------------------------------------------------------


def test_fetch_turns_text_messages_into_incoming_messages(api: FakeTelegram) -> None:
    # Given people writing in two groups
    api.add_message(CHAT, "Ann", "good morning", last_name="Lee")
    api.add_message(CHAT, "", "hi", username="ben_b")  # no first name: the username is used
    last = api.add_update("message", {"message_id": 7, "chat": {"id": OTHER, "type": "group"},
                                      "from": {"id": 3, "is_bot": False, "first_name": "Cid"},
                                      "date": 1_700_000_000, "text": "hello"})

    # When claw polls from the start
    batch = bot(api).fetch("")

    # Then it gets every text, in order, keyed per chat, with the next offset as the cursor
    assert batch.messages == [
        IncomingMessage("telegram", "-100123", "Ann Lee", "good morning", "-100123:1",
                        private=False, chat_name="group -100123"),
        IncomingMessage("telegram", "-100123", "ben_b", "hi", "-100123:2",
                        private=False, chat_name="group -100123"),
        IncomingMessage("telegram", "-100456", "Cid", "hello", "-100456:7", private=False),
    ]
    assert batch.cursor == str(last + 1)
    assert [m.group_id for m in batch.messages] == ["telegram:-100123", "telegram:-100123",
                                                    "telegram:-100456"]
    # And arrival time (not Telegram's date) will be used
    assert all(m.created_at is None for m in batch.messages)
    # And claw asked only for messages, without offset and without long polling
    assert api.offsets == [None]
    assert api.allowed_updates == ["message"]


def test_updates_are_confirmed_only_by_the_next_offset(api: FakeTelegram) -> None:
    channel = bot(api, allowed_chats=set())
    api.add_message(CHAT, "Ann", "one")

    # Until claw sends the cursor as offset, Telegram keeps the update (nothing is confirmed)
    first = channel.fetch("")
    assert [m.text for m in channel.fetch("").messages] == ["one"]

    # With the cursor, the update is confirmed and not returned again; the cursor stays put
    again = channel.fetch(first.cursor)
    assert again.messages == [] and again.cursor == first.cursor
    assert api.updates == []

    # A new message comes after the cursor
    api.add_message(CHAT, "Ben", "two")
    second = channel.fetch(first.cursor)
    assert [(m.sender, m.text) for m in second.messages] == [("Ben", "two")]
    assert int(second.cursor) == int(first.cursor) + 1
    assert api.offsets == [None, None, int(first.cursor), int(first.cursor)]


def test_media_becomes_a_placeholder_and_joins_are_passed_over(api: FakeTelegram) -> None:
    # Given a photo without words, a photo with a caption, a member joining and a text
    photo = api.add_message(CHAT, "Ann", None, photo=[{"file_id": "x", "width": 90, "height": 90}])
    captioned = api.add_message(CHAT, "Ann", None, photo=[{"file_id": "y"}], caption="our cat")
    api.add_message(CHAT, "Ann", None, new_chat_members=[{"id": 9, "is_bot": False,
                                                          "first_name": "Dee"}])
    last = api.add_message(CHAT, "Ann", "look at this")
    last_update = api.updates[-1]["update_id"]

    batch = bot(api).fetch("")

    # Then the photo is stored as "[photo]", the caption as the text, the join not at all
    assert [(m.text, m.external_id) for m in batch.messages] == [
        ("[photo]", f"{CHAT}:{photo}"), ("our cat", f"{CHAT}:{captioned}"),
        ("look at this", f"{CHAT}:{last}")]
    assert batch.cursor == str(last_update + 1)
    assert [(n.action, n.reason) for n in batch.notes] == [("placeholder", "media:photo")]


def test_a_batch_of_only_passed_over_updates_still_advances(api: FakeTelegram) -> None:
    # Given updates claw does not answer: a join, and an edit (sent although not asked for)
    api.filter_updates = False
    api.add_message(CHAT, "Ann", None, left_chat_member={"id": 9, "is_bot": False, "first_name": "D"})
    edit = api.add_update("edited_message", {"message_id": 1, "chat": {"id": CHAT, "type": "group"},
                                             "date": 1, "edit_date": 2, "text": "edited"})

    batch = bot(api).fetch("")

    # Then nothing is stored, yet the cursor passes them, so the next poll confirms them
    assert batch.messages == []
    assert batch.cursor == str(edit + 1)
    assert bot(api).fetch(batch.cursor).messages == []
    assert api.updates == []


def test_allowlist_keeps_only_allowed_chats_but_still_advances(api: FakeTelegram) -> None:
    api.add_message(CHAT, "Ann", "in")
    api.add_message(-100999, "Mallory", "out")
    last = api.add_update("message", {"message_id": 2, "chat": {"id": CHAT, "type": "group"},
                                      "date": 1, "text": "in too"})  # no "from": anonymous

    batch = bot(api, allowed_chats={str(CHAT)}).fetch("")

    assert [(m.chat_id, m.sender, m.text) for m in batch.messages] == [
        ("-100123", "Ann", "in"), ("-100123", "unknown", "in too")]
    assert batch.cursor == str(last + 1)


def test_the_same_message_id_in_two_chats_gives_two_external_ids(api: FakeTelegram) -> None:
    api.add_message(CHAT, "Ann", "hello", message_id=42)
    api.add_message(OTHER, "Ben", "hello", message_id=42)

    batch = bot(api).fetch("")

    assert [m.external_id for m in batch.messages] == ["-100123:42", "-100456:42"]


@pytest.mark.parametrize("mode, words", [
    ("bad-gateway", "HTTP 502 Bad Gateway"),
    ("garbage", "not JSON"),
    ("conflict", "HTTP 409 Conflict: terminated by other getUpdates request"),
    ("not-ok", "not ok: Internal error"),
])
def test_a_failing_api_raises_poll_error_without_the_token(
    api: FakeTelegram, mode: str, words: str
) -> None:
    # Given a message waiting behind an API that fails
    api.add_message(CHAT, "Ann", "hello")
    api.mode = mode

    # When claw polls, it raises PollError (so the cursor is not advanced) with a clear message
    with pytest.raises(PollError) as caught:
        bot(api).fetch("")
    assert words in str(caught.value)
    assert_no_token(caught.value)
    # And the message is still there for the next poll
    api.mode = "ok"
    assert [m.text for m in bot(api).fetch("").messages] == ["hello"]


def test_a_wrong_token_raises_poll_error_that_says_what_to_check(api: FakeTelegram) -> None:
    wrong = "987654321:AAwrong-token_zzzzzzzzzzzzzzzzzzzzzzzzzz"

    with pytest.raises(PollError) as caught:
        TelegramBot(wrong, api_url=api.url).fetch("")

    assert "HTTP 401 Unauthorized" in str(caught.value)
    assert "CLAW_TELEGRAM_BOT_TOKEN" in str(caught.value)
    assert wrong not in "".join(traceback.format_exception(caught.value))


def test_an_unreachable_api_raises_poll_error_without_the_token() -> None:
    # requests puts the whole URL, token included, into a connection error
    with pytest.raises(PollError) as caught:
        TelegramBot(TOKEN, api_url=f"http://127.0.0.1:{free_port()}").fetch("")

    assert "getUpdates" in str(caught.value) and "<token>" in str(caught.value)
    assert_no_token(caught.value)


def test_a_malformed_update_is_skipped_with_a_note_that_quotes_nothing(api: FakeTelegram) -> None:
    # Given an update whose message lacks its chat (not the Bot API's shape), then a good one
    broken = api.add_update("message", {"message_id": 1, "date": 1, "text": "private words"})
    api.add_message(CHAT, "Ann", "hello")

    batch = bot(api).fetch("")

    # Then the good message comes through and the cursor passes both
    assert [m.text for m in batch.messages] == ["hello"]
    assert batch.cursor == str(broken + 2)
    # And the broken one is noted: where it was and what is missing, not what it said
    [note] = batch.notes
    assert (note.action, note.reason) == ("skipped", "malformed")
    assert str(broken) in note.ref and "message.chat" in note.ref
    assert "private words" not in repr(note)


def test_a_page_of_the_wrong_shape_raises_poll_error(api: FakeTelegram) -> None:
    # An answer that is not a page at all: nothing is skipped, the next poll retries
    api.add_message(CHAT, "Ann", "hello")
    api.mode = "wrong-shape"

    with pytest.raises(PollError, match="unexpected answer: ok: Field required"):
        bot(api).fetch("")
    api.mode = "ok"
    assert [m.text for m in bot(api).fetch("").messages] == ["hello"]


# ---- deliver --------------------------------------------------------------------------------


def test_deliver_sends_the_chat_id_and_text(api: FakeTelegram) -> None:
    channel = bot(api)

    channel.deliver("-100123", "Ann: hello\nBen: hi")
    channel.deliver("-100456", "second")

    assert api.sent == [{"chat_id": CHAT, "text": "Ann: hello\nBen: hi"},
                        {"chat_id": OTHER, "text": "second"}]


def test_a_long_reply_is_sent_as_several_messages_in_order(api: FakeTelegram) -> None:
    # Given a reply of 300 numbered lines, about 9,000 characters
    lines = [f"line {i:03d}: " + "x" * 20 for i in range(300)]
    reply = "\n".join(lines)

    bot(api).deliver(str(CHAT), reply)

    # Then Telegram got it in parts it accepts, cut at line breaks, in order, nothing lost
    parts = api.sent_to(CHAT)
    assert len(parts) == 3
    assert all(utf16_len(p) <= MESSAGE_LIMIT for p in parts)
    assert [line for part in parts for line in part.split("\n")] == lines


def test_split_text_keeps_short_replies_whole_and_cuts_long_ones() -> None:
    assert split_text("hello") == ["hello"]
    assert split_text("a" * MESSAGE_LIMIT) == ["a" * MESSAGE_LIMIT]
    # without a line break or space, the cut is hard
    assert split_text("a" * (MESSAGE_LIMIT + 1)) == ["a" * MESSAGE_LIMIT, "a"]
    # words are not cut when a space is near the end
    words = ("word " * 1000).strip()
    parts = split_text(words)
    assert " ".join(parts) == words
    assert all(not p.startswith(" ") and not p.endswith(" ") and len(p) <= MESSAGE_LIMIT for p in parts)


def test_split_text_counts_emoji_as_telegram_does() -> None:
    # An emoji is two UTF-16 code units: 3,000 of them do not fit in one message
    text = "\U0001F600" * 3000

    parts = split_text(text)

    assert "".join(parts) == text
    assert [utf16_len(p) for p in parts] == [4096, 1904]


@pytest.mark.parametrize("refuse, words", [("sends", "HTTP 429 Too Many Requests"),
                                           ("mode", "HTTP 502 Bad Gateway")])
def test_a_refused_send_raises_delivery_error_without_the_token(
    api: FakeTelegram, refuse: str, words: str
) -> None:
    if refuse == "sends":
        api.refuse_sends = True
    else:
        api.mode = "bad-gateway"

    with pytest.raises(DeliveryError) as caught:
        bot(api).deliver(str(CHAT), "hello")

    assert words in str(caught.value)
    assert_no_token(caught.value)
    assert api.sent == []
    # a 429 says when to try again; neither failure is the reply's own fault
    assert caught.value.retry_after == (1 if refuse == "sends" else None)
    assert caught.value.permanent is False


def test_a_bad_request_is_a_permanent_refusal(api: FakeTelegram) -> None:
    with pytest.raises(DeliveryError) as caught:
        bot(api).deliver(str(CHAT), "   ")  # Telegram refuses an empty text with 400

    assert "HTTP 400 Bad Request: message text is empty" in str(caught.value)
    assert caught.value.permanent is True


def test_ok_false_on_send_raises_delivery_error(api: FakeTelegram) -> None:
    api.mode = "not-ok"

    with pytest.raises(DeliveryError) as caught:
        bot(api).deliver(str(CHAT), "hello")

    assert "not ok" in str(caught.value)
    assert_no_token(caught.value)


def test_deliver_with_a_wrong_token_or_unreachable_api_hides_the_token(api: FakeTelegram) -> None:
    wrong = "987654321:AAwrong-token_zzzzzzzzzzzzzzzzzzzzzzzzzz"
    with pytest.raises(DeliveryError) as caught:
        TelegramBot(wrong, api_url=api.url).deliver(str(CHAT), "hello")
    assert "HTTP 401 Unauthorized" in str(caught.value)
    assert wrong not in "".join(traceback.format_exception(caught.value))

    with pytest.raises(DeliveryError) as unreachable:
        TelegramBot(TOKEN, api_url=f"http://127.0.0.1:{free_port()}").deliver(str(CHAT), "hello")
    assert_no_token(unreachable.value)


def test_the_channel_is_named_telegram() -> None:
    assert TelegramBot(TOKEN).name == "telegram"


# ---- settings, registration, doctor -------------------------------------------------------


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Channel settings from the environment only, with every cached adapter dropped."""
    for name in list(os.environ):
        if name.startswith(("CLAW_WHATSAPP", "CLAW_TELEGRAM")):
            monkeypatch.delenv(name)

    def clear() -> None:
        get_settings.cache_clear()
        channel_for.cache_clear()
        channels._whatsapp.cache_clear()
        channels._telegram.cache_clear()

    clear()
    yield monkeypatch
    monkeypatch.undo()
    clear()


def test_settings_read_the_telegram_environment(configured: pytest.MonkeyPatch) -> None:
    configured.setenv("CLAW_TELEGRAM_BOT_TOKEN", TOKEN)
    configured.setenv("CLAW_TELEGRAM_API_URL", "http://127.0.0.1:9")
    configured.setenv("CLAW_TELEGRAM_ALLOWLIST", " -100123, -100456 ,")

    settings = Settings()

    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)
    assert settings.telegram_api_url == "http://127.0.0.1:9"
    assert settings.telegram_allowed_chats == {"-100123", "-100456"}
    assert Settings(telegram_allowlist="").telegram_allowed_chats == set()


def test_telegram_defaults_to_the_real_api_and_is_off_without_a_token(
    configured: pytest.MonkeyPatch,
) -> None:
    assert get_settings().telegram_api_url == "https://api.telegram.org"
    assert polled_channels() == []
    with pytest.raises(DeliveryError, match="CLAW_TELEGRAM_BOT_TOKEN is not set"):
        channel_for("telegram")


def test_both_polled_channels_run_when_both_are_configured(
    configured: pytest.MonkeyPatch, api: FakeTelegram
) -> None:
    configured.setenv("CLAW_TELEGRAM_BOT_TOKEN", TOKEN)
    configured.setenv("CLAW_TELEGRAM_API_URL", api.url)
    configured.setenv("CLAW_TELEGRAM_ALLOWLIST", str(CHAT))
    configured.setenv("CLAW_WHATSAPP_BRIDGE_URL", "http://127.0.0.1:9")

    assert [c.name for c in polled_channels()] == ["whatsapp", "telegram"]
    telegram = channel_for("telegram")
    assert telegram is polled_channels()[1]
    # and the adapter built from the settings really talks to the configured API
    api.add_message(CHAT, "Ann", "hi")
    api.add_message(OTHER, "Ben", "not allowed")
    assert [m.text for m in polled_channels()[1].fetch("").messages] == ["hi"]
    telegram.deliver(str(CHAT), "hello")
    assert api.sent_to(CHAT) == ["hello"]


def test_doctor_says_whether_telegram_is_configured_without_the_token() -> None:
    off = doctor_check(Settings(telegram_bot_token=None))
    on = doctor_check(Settings(telegram_bot_token=TOKEN, telegram_allowlist="-1,-2"))  # type: ignore[arg-type]

    assert (off.name, off.ok) == ("telegram", True) and "not configured" in off.detail
    assert on.ok and on.detail.startswith("configured") and "2 allowed chats" in on.detail
    assert TOKEN not in on.detail


def test_show_typing_sends_a_typing_chat_action_and_never_raises() -> None:
    from claw.channels.telegram import TelegramBot
    from tests.support.fake_telegram import TOKEN, FakeTelegram

    fake = FakeTelegram().start()
    try:
        TelegramBot(TOKEN, api_url=fake.url).show_typing("-100777")
        assert fake.chat_actions == [{"chat_id": -100777, "action": "typing"}]
    finally:
        fake.stop()
    # With the API gone, the indicator is skipped quietly: it is never worth failing a turn
    TelegramBot(TOKEN, api_url=fake.url).show_typing("-100777")


def test_a_failed_typing_indicator_logs_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    # Given an API that cannot be reached (requests puts the whole URL, token included, in the error)
    caplog.set_level("DEBUG", logger="claw.channels.telegram")
    # When the typing indicator fails
    TelegramBot(TOKEN, api_url=f"http://127.0.0.1:{free_port()}").show_typing("-100777")
    # Then its log line says so, without the token, at every level
    assert "telegram_typing_failed" in caplog.text and "<token>" in caplog.text
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text


# ---- whom a message addresses ----------------------------------------------------------------


def test_mentions_and_replies_to_the_bot_address_it(api: FakeTelegram) -> None:
    # Given messages that @mention the bot (after an emoji: offsets count UTF-16 units),
    # mention someone else, name the bot without a username, reply to it or to a person,
    # or run its command
    mention = "🎉 thanks @claw_test_bot!"
    api.add_message(CHAT, "Ann", mention, entities=api.mention(mention))
    api.add_message(CHAT, "Ben", "ask @someone_else",
                    entities=[{"type": "mention", "offset": 4, "length": 13}])
    api.add_message(CHAT, "Cid", "claw, help", entities=[{"type": "text_mention", "offset": 0, "length": 4,
                                                          "user": {"id": BOT_ID, "is_bot": True,
                                                                   "first_name": "claw"}}])
    api.add_message(CHAT, "Dee", "sure", reply_to_message=api.reply_to_bot(CHAT, "want tea?"))
    api.add_message(CHAT, "Eve", "me too", reply_to_message={
        "message_id": 2, "chat": {"id": CHAT}, "from": {"id": 99, "is_bot": False, "first_name": "Ann"}})
    api.add_message(CHAT, "Fay", "/help@claw_test_bot",
                    entities=[{"type": "bot_command", "offset": 0, "length": 19}])
    api.add_message(CHAT, "Gus", "just chatting")

    # When claw polls twice
    client = bot(api)
    batch = client.fetch("")
    client.fetch(batch.cursor)

    # Then exactly the mention, the text mention, the reply to claw and its command address it
    assert [(m.sender, m.mentions_bot) for m in batch.messages] == [
        ("Ann", True), ("Ben", False), ("Cid", True), ("Dee", True), ("Eve", False),
        ("Fay", True), ("Gus", False)]
    # And claw asked who it is once, not per message or per poll
    assert api.me_calls == 1


def test_a_direct_message_is_private_and_named_after_its_person(api: FakeTelegram) -> None:
    api.add_message(4242, "Ann", "hello", last_name="Lee")
    [message] = bot(api).fetch("").messages
    assert (message.chat_id, message.private, message.chat_name) == ("4242", True, "Ann")
    assert api.me_calls == 0  # nothing could address the bot: no getMe


def test_without_getme_the_poll_fails_and_nothing_is_skipped(api: FakeTelegram) -> None:
    # Given a message that may mention the bot, while getMe fails
    text = "hi @claw_test_bot"
    api.add_message(CHAT, "Ann", text, entities=api.mention(text))
    api.get_me_fails = True
    client = bot(api)
    # Then the poll fails (the cursor stays, the message comes again), without the token
    with pytest.raises(PollError, match="getMe") as raised:
        client.fetch("")
    assert_no_token(raised.value)
    # And once getMe answers, the message is read as addressing claw
    api.get_me_fails = False
    [message] = client.fetch("").messages
    assert message.mentions_bot
