"""The one small interface every channel implements.

To add a channel: copy sms.py, implement send(), map the provider's errors to
SendError (permanent=True when trying again cannot help, e.g. an invalid
number), register it in notifier/channels/__init__.py, and give it pacing
limits and required settings in notifier/config.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from broker.messages import NotifyMessage


class SendError(Exception):
    """The provider did not take the message. permanent: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Sent:
    """What the provider told us when it accepted a message."""

    provider_id: str | None = None  # its id, to match delivery receipts (Twilio's sid)
    segments: int | None = None  # SMS: how many segments it bills


class Channel(ABC):
    name: str

    @abstractmethod
    def send(self, msg: NotifyMessage) -> Sent:
        """Hand msg to the provider; return once it accepted the message.

        Raises SendError, with permanent=True only when no retry can succeed.
        """
