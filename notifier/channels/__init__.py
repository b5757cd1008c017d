"""Every channel, registered here by name; no folder scanning."""

from __future__ import annotations

from notifier.channels.base import Channel, SendError, Sent
from notifier.channels.email import EmailChannel
from notifier.channels.push import PushChannel
from notifier.channels.sms import SmsChannel
from notifier.channels.voice import VoiceChannel
from notifier.config import NotifierSettings

CHANNELS: dict[str, type[Channel]] = {
    "sms": SmsChannel,
    "voice": VoiceChannel,
    "email": EmailChannel,
    "push": PushChannel,
}

__all__ = ["CHANNELS", "Channel", "SendError", "Sent", "build_channels"]


def build_channels(names: list[str], settings: NotifierSettings) -> dict[str, Channel]:
    unknown = [n for n in names if n not in CHANNELS]
    if unknown:
        raise ValueError(f"no such channel: {', '.join(unknown)} (have {', '.join(CHANNELS)})")
    return {name: CHANNELS[name](settings) for name in names}
