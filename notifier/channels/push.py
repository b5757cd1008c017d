"""Push notifications through apprise 2.x; each address is a complete apprise URL.

ntfy gets one button per answer that POSTs it to the answer link, so a
responder answers from the lock screen; tapping the notification opens the
answer page. Other services get the link in the text.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import apprise

from broker.messages import NotifyMessage
from notifier.channels.apprise_pool import size_pools
from notifier.channels.apprise_results import describe
from notifier.channels.base import Channel, SendError, Sent
from notifier.config import NotifierSettings

# Push services only: an arbitrary apprise URL could post alerts to any web
# endpoint (json://, form://) or "succeed" on a local desktop (dbus://).
PUSH_SCHEMES = {"ntfy", "ntfys", "gotify", "gotifys", "pover", "fcm", "wpush", "pbul"}
NTFY_SCHEMES = {"ntfy", "ntfys"}
# ntfy shows at most three action buttons: the three answers a responder needs most.
ANSWERS = (
    ("Acknowledged", "acknowledged"),
    ("En route", "en_route"),
    ("Unavailable", "unavailable"),
)
FORM = "application/x-www-form-urlencoded"


class PushChannel(Channel):
    name = "push"

    def __init__(self, settings: NotifierSettings) -> None:
        self.asset = apprise.AppriseAsset(async_mode=False)
        # email and push share apprise's pools: room for both at full concurrency
        size_pools(settings.email_concurrency + settings.push_concurrency)

    def send(self, msg: NotifyMessage) -> Sent:
        notifier = apprise.Apprise(asset=self.asset)
        if not notifier.add(self.target_url(msg)):
            raise SendError(
                f"apprise cannot use the push URL {_scheme(msg.address)}://…", permanent=True
            )
        body = f"{msg.body.strip()}\n\nAnswer: {msg.ack_url}"
        result = notifier.notify(title=msg.title, body=body, body_format=apprise.NotifyFormat.TEXT)
        if not result:
            # Most push failures are the service or the network: worth a retry.
            raise SendError(f"push failed: {describe(result)}")
        return Sent()

    def target_url(self, msg: NotifyMessage) -> str:
        """The responder's apprise URL, with answer buttons when the service has them."""
        scheme = _scheme(msg.address)
        if scheme not in PUSH_SCHEMES:
            raise SendError(
                f"not a push URL: {scheme or '(no scheme)'}:// (use one of "
                f"{', '.join(sorted(PUSH_SCHEMES))})",
                permanent=True,
            )
        plugin = apprise.NotificationManager()[scheme]
        if not plugin.enabled:
            # No retry helps a process that lacks the plugin's packages: fall back now.
            needs = plugin.requirements.get("packages_required") or "its requirements"
            raise SendError(f"{scheme}:// is disabled here: install {needs}", permanent=True)
        if scheme not in NTFY_SCHEMES:
            return msg.address
        sep = "&" if urlsplit(msg.address).query else "?"
        args = f"actions={_arg(ntfy_actions(msg.ack_url))}&click={_arg(msg.ack_url)}"
        return f"{msg.address}{sep}{args}"


def ntfy_actions(ack_url: str) -> str:
    """ntfy's X-Actions in its simple format: an http action per answer."""
    link = _quoted(ack_url)
    return "; ".join(
        f"http, {label}, {link}, method=POST, headers.Content-Type={FORM}, "
        f"body=answer={value}, clear=true"
        for label, value in ANSWERS
    )


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else ""


def _quoted(value: str) -> str:
    # ntfy's simple format splits on "," and ";" unless the value is quoted.
    return f'"{value}"' if any(c in value for c in ",;") else value


def _arg(value: str) -> str:
    # apprise unquotes a URL argument twice (the URL parser, then the ntfy
    # plugin), so it is quoted twice to arrive intact.
    return quote(quote(value, safe=""), safe="")
