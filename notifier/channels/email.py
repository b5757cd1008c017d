"""Email through apprise 2.x; the per-target result is kept, not just a bool."""

from __future__ import annotations

from urllib.parse import quote

import apprise

from broker.messages import EXERCISE_MARKER, NotifyMessage
from notifier.channels.apprise_pool import size_pools
from notifier.channels.apprise_results import describe
from notifier.channels.base import Channel, SendError, Sent
from notifier.config import NotifierSettings


class EmailChannel(Channel):
    name = "email"

    def __init__(self, settings: NotifierSettings) -> None:
        self.base_url = settings.email_url
        self.asset = apprise.AppriseAsset(async_mode=False)
        # email and push share apprise's pools: room for both at full concurrency
        size_pools(settings.email_concurrency + settings.push_concurrency)

    def render(self, msg: NotifyMessage) -> str:
        """Plain text: the message, the details, then the answer link on a line of its own.
        A drill's first and last lines are the EXERCISE words (a forwarded or cut
        email still says what it is)."""
        parts = [msg.body.strip(), msg.details.strip(), f"Answer: {msg.ack_url}"]
        if msg.exercise:
            parts = [EXERCISE_MARKER, *parts, EXERCISE_MARKER]
        return "\n\n".join(part for part in parts if part) + "\n"

    def send(self, msg: NotifyMessage) -> Sent:
        if "@" not in msg.address or any(c in msg.address for c in " ,;<>"):
            raise SendError(f"not an email address: {msg.address!r}", permanent=True)
        sep = "&" if "?" in self.base_url else "?"
        notifier = apprise.Apprise(asset=self.asset)
        if not notifier.add(f"{self.base_url}{sep}to={quote(msg.address, safe='@')}"):
            raise SendError(f"apprise rejected the email URL for {msg.address}", permanent=True)
        result = notifier.notify(
            body=self.render(msg), title=msg.title, body_format=apprise.NotifyFormat.TEXT
        )
        if not result:
            raise SendError(f"email to {msg.address} failed: {describe(result)}")
        return Sent()
