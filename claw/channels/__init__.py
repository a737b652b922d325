"""Channel adapters, one module each; ``channel_for`` picks the one a group belongs to."""

from __future__ import annotations

from functools import cache, lru_cache

from claw.channels.base import Channel, DeliveryError, PollBatch, PolledChannel, PollError
from claw.channels.pull import PullChannel
from claw.config import get_settings

__all__ = [
    "Channel",
    "DeliveryError",
    "PollBatch",
    "PollError",
    "PULL_CHANNELS",
    "PolledChannel",
    "channel_for",
    "polled_channels",
]

PULL_CHANNELS = ("http", "terminal", "web", "api")  #: clients fetch replies themselves


@cache
def channel_for(name: str) -> Channel:
    if name in PULL_CHANNELS:
        return PullChannel(name)
    if name == "whatsapp":
        return _whatsapp()
    if name == "telegram":
        return _telegram()
    raise DeliveryError(f"no adapter for channel {name!r}")


def polled_channels() -> list[PolledChannel]:
    settings = get_settings()
    channels: list[PolledChannel] = []
    if settings.whatsapp_bridge_url:
        channels.append(_whatsapp())
    if _telegram_token():
        channels.append(_telegram())
    return channels


@lru_cache(maxsize=1)
def _whatsapp() -> PolledChannel:
    from claw.channels.whatsapp import WhatsAppBridge

    settings = get_settings()
    if not settings.whatsapp_bridge_url:
        raise DeliveryError("CLAW_WHATSAPP_BRIDGE_URL is not set")
    return WhatsAppBridge(
        settings.whatsapp_bridge_url, allowed_chats=settings.whatsapp_allowed_chats
    )


def _telegram_token() -> str:
    token = get_settings().telegram_bot_token
    return token.get_secret_value().strip() if token else ""


@lru_cache(maxsize=1)
def _telegram() -> PolledChannel:
    from claw.channels.telegram import TelegramBot

    settings = get_settings()
    if not _telegram_token():
        raise DeliveryError("CLAW_TELEGRAM_BOT_TOKEN is not set")
    return TelegramBot(
        _telegram_token(),
        api_url=settings.telegram_api_url,
        allowed_chats=settings.telegram_allowed_chats,
    )
