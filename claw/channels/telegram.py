"""Telegram through the Bot API: GET {api}/bot{token}/getUpdates, POST {api}/bot{token}/sendMessage.

The token is part of every URL path, so every error raised here is built from scrubbed text and
raised ``from None``: a logged traceback never shows the request URL.

getUpdates confirms (forgets) every update below the ``offset`` it is called with. The cursor
is the next offset, and claw/pipeline/polling.py stores it in the transaction that stores the messages,
so an offset is only ever sent after the updates below it are in the database.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import requests
from pydantic import BaseModel, Field, ValidationError

from claw.channels.base import (
    DeliveryError,
    PollBatch,
    PollError,
    retry_after_header,
    seconds_or_none,
)
from claw.channels.items import ItemNote, build_message, item_ref
from claw.pipeline.inbox import IncomingMessage

TIMEOUT = (3, 10)  #: (connect, read) seconds
TYPING_TIMEOUT = (2, 3)  #: a typing indicator is not worth waiting for
MESSAGE_LIMIT = 4096  #: longest text one sendMessage takes, in UTF-16 code units
log = logging.getLogger(__name__)
ALLOWED_UPDATES = '["message"]'
#: answers that mean Telegram will never take this reply (a bad request, a chat that blocked
#: the bot), however long claw waits
PERMANENT_STATUSES = (400, 403)


class TelegramUser(BaseModel):
    id: int | None = None
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None


class TelegramChat(BaseModel):
    id: int | str
    type: str | None = None  #: "private", "group", "supergroup", "channel"
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None

    @property
    def name(self) -> str | None:
        person = " ".join(p for p in (self.first_name, self.last_name) if p).strip()
        return self.title or person or self.username


class TelegramEntity(BaseModel):
    type: str
    offset: int = 0  #: in UTF-16 code units
    length: int = 0
    user: TelegramUser | None = None  #: a text_mention's user (someone without a username)


class RepliedTo(BaseModel):
    """The message a message replies to: only who wrote it matters here."""

    from_: TelegramUser | None = Field(default=None, alias="from")


class TelegramMessage(BaseModel):
    message_id: int
    chat: TelegramChat
    from_: TelegramUser | None = Field(default=None, alias="from")
    text: str | None = None  #: photos, stickers, joins... have none
    caption: str | None = None  #: a photo's or a video's words
    entities: list[TelegramEntity] = []
    caption_entities: list[TelegramEntity] = []
    reply_to_message: RepliedTo | None = None


class BotIdentity(BaseModel):
    """getMe's answer: how people @mention the bot, and whose messages are its own."""

    id: int
    username: str | None = None


class TelegramUpdate(BaseModel):
    update_id: int
    message: TelegramMessage | None = None


class UpdatesResponse(BaseModel):
    """The envelope only: each update in ``result`` is judged on its own."""

    ok: bool
    result: list[Any] = []
    description: str | None = None


#: message fields that carry media, and what a placeholder calls them
MEDIA_FIELDS = {
    "photo": "photo", "video": "video", "animation": "GIF", "voice": "voice message",
    "video_note": "video message", "audio": "audio", "document": "document",
    "sticker": "sticker", "location": "location", "venue": "location", "contact": "contact",
    "poll": "poll",
}
#: messages about the chat rather than in it: passed over without a note
SERVICE_FIELDS = frozenset({
    "new_chat_members", "left_chat_member", "new_chat_title", "new_chat_photo",
    "delete_chat_photo", "group_chat_created", "supergroup_chat_created", "pinned_message",
    "migrate_to_chat_id", "migrate_from_chat_id", "message_auto_delete_timer_changed",
    "forum_topic_created", "forum_topic_edited", "forum_topic_closed", "forum_topic_reopened",
    "video_chat_started", "video_chat_ended", "video_chat_scheduled",
    "video_chat_participants_invited",
})


class TelegramBot:
    name = "telegram"

    def __init__(
        self,
        token: str,
        *,
        api_url: str = "https://api.telegram.org",
        allowed_chats: set[str] | None = None,
    ) -> None:
        self._token = token
        self._base = f"{api_url.rstrip('/')}/bot{token}"
        self.allowed_chats = allowed_chats or set()
        self.http = requests.Session()
        self._me: BotIdentity | None = None

    def identity(self) -> BotIdentity:
        """The bot's id and username (getMe), asked once per process when a message first
        mentions someone or replies to someone: without them claw could not tell whether it is
        addressed, so a failure fails the poll (nothing is skipped; the page comes again)."""
        if self._me is None:
            try:
                response = self.http.get(f"{self._base}/getMe", timeout=TIMEOUT)
            except requests.RequestException as exc:
                raise PollError(f"telegram getMe: {self._scrub(exc)}") from None
            if response.status_code >= 300:
                raise PollError(f"telegram getMe: {self._http_error(response)}")
            try:
                self._me = BotIdentity.model_validate(response.json()["result"])
            except (ValueError, KeyError, TypeError, ValidationError):
                raise PollError("telegram getMe: unexpected answer") from None
        return self._me

    def fetch(self, cursor: str) -> PollBatch:
        params = {"timeout": "0", "allowed_updates": ALLOWED_UPDATES}
        if cursor:
            params["offset"] = cursor
        try:
            response = self.http.get(f"{self._base}/getUpdates", params=params, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise PollError(f"telegram getUpdates: {self._scrub(exc)}") from None
        if response.status_code >= 300:
            raise PollError(f"telegram getUpdates: {self._http_error(response)}")
        try:
            page = UpdatesResponse.model_validate(response.json())
        except ValidationError as exc:
            raise PollError(f"telegram getUpdates: unexpected answer: {_where(exc)}") from None
        except ValueError:
            raise PollError(
                f"telegram getUpdates: answer is not JSON: {self._scrub(response.text)[:80]!r}"
            ) from None
        if not page.ok:
            raise PollError(f"telegram getUpdates: not ok: {self._scrub(page.description or '')[:200]}")
        notes: list[ItemNote] = []
        messages = []
        update_ids = []
        for position, raw in enumerate(page.result):
            if isinstance(raw, dict) and isinstance(raw.get("update_id"), int):
                update_ids.append(raw["update_id"])
            incoming = self._incoming(raw, position, notes)
            if incoming is not None and (not self.allowed_chats or incoming.chat_id in self.allowed_chats):
                messages.append(incoming)
        # Skipped updates (no text, other chats, broken) are passed too: they must be
        # confirmed as well, or Telegram would return them forever.
        next_offset = max((update_id + 1 for update_id in update_ids), default=None)
        return PollBatch(messages, str(next_offset) if next_offset is not None else cursor, notes)

    def _incoming(self, raw: Any, position: int, notes: list[ItemNote]) -> IncomingMessage | None:
        ref = item_ref(raw.get("update_id") if isinstance(raw, dict) else None, position)
        try:
            update = TelegramUpdate.model_validate(raw)
        except ValidationError as exc:
            # the error's own text would quote the input: people's messages do not go to logs
            notes.append(ItemNote(self.name, "skipped", "malformed", f"{ref} at {_where(exc)}"))
            return None
        message = update.message
        if message is None:
            return None  # another kind of update (an edit...), asked for or not
        fields = raw["message"]
        media = next((name for key, name in MEDIA_FIELDS.items() if key in fields), None)
        text = message.text or message.caption
        if not text and media is None and SERVICE_FIELDS.intersection(fields):
            return None  # someone joined, the title changed...: nothing was said
        chat_id = str(message.chat.id)
        incoming = build_message(
            self.name, ref=ref,
            # message_id is only unique within a chat; dedup is on (channel, external_id)
            external_id=f"{chat_id}:{message.message_id}",
            chat_id=chat_id, sender=sender_name(message.from_), text=text, media=media,
            notes=notes,
        )
        if incoming is None:
            return None
        private = message.chat.type == "private" if message.chat.type else None
        # getMe only when a message could address the bot: most pages never need it
        could = message.reply_to_message or message.entities or message.caption_entities
        return replace(incoming, private=private, chat_name=message.chat.name,
                       mentions_bot=bool(could) and mentions_bot(message, self.identity()))

    def split(self, text: str) -> list[str]:
        """The messages a reply goes out as (Telegram takes 4096 UTF-16 units per message)."""
        return split_text(text)

    def deliver(self, chat_id: str, text: str) -> None:
        """Send a reply, as several messages when it is long. claw's delivery sends it part by
        part (``split``) and records each, so a failure midway never repeats the parts sent."""
        target: int | str = int(chat_id) if re.fullmatch(r"-?\d+", chat_id) else chat_id
        for part in split_text(text):
            try:
                response = self.http.post(
                    f"{self._base}/sendMessage", json={"chat_id": target, "text": part},
                    timeout=TIMEOUT,
                )
            except requests.RequestException as exc:
                raise DeliveryError(f"telegram sendMessage: {self._scrub(exc)}") from None
            if response.status_code >= 300:
                raise DeliveryError(
                    f"telegram sendMessage: {self._http_error(response)}",
                    retry_after=_retry_after(response),
                    permanent=response.status_code in PERMANENT_STATUSES,
                )
            try:
                ok = response.json().get("ok") is True
            except (ValueError, AttributeError):
                ok = False
            if not ok:
                raise DeliveryError(f"telegram sendMessage: not ok: {self._scrub(_description(response))}")

    def show_typing(self, chat_id: str) -> None:
        """"claw is typing…" in the chat for about five seconds (sendChatAction); best effort."""
        target: int | str = int(chat_id) if re.fullmatch(r"-?\d+", chat_id) else chat_id
        try:
            self.http.post(f"{self._base}/sendChatAction", json={"chat_id": target, "action": "typing"},
                           timeout=TYPING_TIMEOUT)
        except requests.RequestException as exc:
            log.debug("telegram_typing_failed error=%s", self._scrub(exc))

    def _http_error(self, response: requests.Response) -> str:
        hint = "; check CLAW_TELEGRAM_BOT_TOKEN" if response.status_code in (401, 404) else ""
        return self._scrub(f"HTTP {response.status_code} {_description(response)}".rstrip() + hint)

    def _scrub(self, value: object) -> str:
        text = str(value)
        if self._token:
            for form in {self._token, quote(self._token, safe=""), quote(self._token)}:
                text = text.replace(form, "<token>")
        return text[:300]


def _where(exc: ValidationError) -> str:
    """Where a validation failed and why, without the input (people's messages)."""
    first = exc.errors(include_input=False)[0]
    return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"


def _retry_after(response: requests.Response) -> float | None:
    """Telegram's ``parameters.retry_after`` (a 429's "try again in N seconds"), else the header."""
    try:
        parameters = response.json().get("parameters") or {}
        seconds = seconds_or_none(parameters.get("retry_after"))
    except (ValueError, AttributeError):
        seconds = None
    return seconds if seconds is not None else retry_after_header(response)


def _description(response: requests.Response) -> str:
    """Telegram's own words for a failure (its JSON "description"), else the HTTP reason."""
    try:
        return str(response.json().get("description", ""))[:200]
    except (ValueError, AttributeError):
        return response.reason or ""


def mentions_bot(message: TelegramMessage, me: BotIdentity) -> bool:
    """Whether the message @mentions the bot (a ``mention`` of its username, a
    ``text_mention`` of its id, a ``/command@its_username``) or replies to one of its messages."""
    replied = message.reply_to_message
    if replied is not None and replied.from_ is not None and replied.from_.id == me.id:
        return True
    text = message.text if message.text is not None else message.caption or ""
    handle = f"@{me.username}".lower() if me.username else None
    for entity in message.entities or message.caption_entities:
        if entity.type == "text_mention" and entity.user is not None and entity.user.id == me.id:
            return True
        if handle and entity.type in ("mention", "bot_command"):
            words = utf16_slice(text, entity.offset, entity.length).lower()
            if words == handle or (entity.type == "bot_command" and words.endswith(handle)):
                return True
    return False


def utf16_slice(text: str, offset: int, length: int) -> str:
    """Telegram's entity offsets count UTF-16 code units (an emoji counts twice)."""
    units = text.encode("utf-16-le")
    return units[offset * 2:(offset + length) * 2].decode("utf-16-le", errors="replace")


def sender_name(user: TelegramUser | None) -> str:
    if user is None:
        return "unknown"
    full = " ".join(part for part in (user.first_name, user.last_name) if part).strip()
    return full or user.username or "unknown"


def _units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _fitting(text: str, limit: int) -> int:
    """How many leading characters of ``text`` fit in ``limit`` UTF-16 code units."""
    units = 0
    for index, char in enumerate(text):
        units += _units(char)
        if units > limit:
            return index
    return len(text)


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut a reply into parts Telegram accepts, in order, preferring line breaks, then spaces.

    Telegram counts UTF-16 code units, so an emoji counts twice; cuts fall between Python
    characters and therefore never split one.
    """
    parts: list[str] = []
    rest = text
    while (fit := _fitting(rest, limit)) < len(rest):
        window = rest[:fit]
        cut = window.rfind("\n")
        if cut <= fit // 2:
            cut = window.rfind(" ")
        if cut > fit // 2:  # the separator itself is dropped: the next message starts afresh
            piece, rest = window[:cut], rest[cut + 1:]
        else:
            piece, rest = window, rest[fit:]
        if piece.strip():
            parts.append(piece)
    if rest.strip() or not parts:
        parts.append(rest)
    return parts
