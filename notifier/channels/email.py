"""Email through apprise 2.x; the per-target result is kept, not just a bool."""

from __future__ import annotations

from urllib.parse import quote

import apprise

from broker.messages import NotifyMessage
from notifier.channels.base import Channel, SendError
from notifier.config import NotifierSettings


class EmailChannel(Channel):
    name = "email"

    def __init__(self, settings: NotifierSettings) -> None:
        self.base_url = settings.email_url
        self.asset = apprise.AppriseAsset(async_mode=False)

    def send(self, msg: NotifyMessage) -> str | None:
        if "@" not in msg.address or any(c in msg.address for c in " ,;<>"):
            raise SendError(f"not an email address: {msg.address!r}", permanent=True)
        sep = "&" if "?" in self.base_url else "?"
        notifier = apprise.Apprise(asset=self.asset)
        if not notifier.add(f"{self.base_url}{sep}to={quote(msg.address, safe='@')}"):
            raise SendError(f"apprise rejected the email URL for {msg.address}", permanent=True)
        result = notifier.notify(body=msg.body, title=msg.subject)
        if not result:
            raise SendError(f"email to {msg.address} failed: {_describe(result)}")
        return None


def _describe(result: apprise.AppriseResult) -> str:
    # One NotifyResult per target: say which one failed and how, not just "False".
    details = [f"{r.name} {r.url}: {r.status.name.lower()}" for r in result.results]
    return "; ".join(details) or "no target accepted it"
