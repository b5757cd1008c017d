"""The one small interface every channel implements.

To add a channel: copy sms.py, implement send(), map the provider's errors to
SendError (permanent=True when trying again cannot help, e.g. an invalid
number), and register it in notifier/channels/__init__.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from broker.messages import NotifyMessage


class SendError(Exception):
    """The provider did not take the message. permanent: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Channel(ABC):
    name: str

    @abstractmethod
    def send(self, msg: NotifyMessage) -> str | None:
        """Hand msg to the provider; return the provider's id for it, if any.

        Raises SendError. Returns only once the provider accepted the message.
        """
