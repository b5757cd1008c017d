"""An SMTP sink: accepts any mail without auth or TLS and keeps it for inspection."""

from __future__ import annotations

import email
import logging
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifier.simulator.store import Store, utc_now_iso

log = logging.getLogger("tocsin.simulator")


def message_text(message: EmailMessage) -> tuple[str, str]:
    """(plain text, html) of a mail; responders read the text part, the html is kept for checks."""
    parts = (message.get_body(preferencelist=(kind,)) for kind in ("plain", "html"))
    # SMTP lines end in CRLF; tests and operators compare against Python strings.
    plain, html = (p.get_content().replace("\r\n", "\n") if p is not None else "" for p in parts)
    return plain, html


MailHook = Callable[[dict[str, Any]], None]


class SinkHandler:
    def __init__(self, store: Store, on_mail: MailHook | None = None) -> None:
        self.store = store
        # Called with each kept mail (profiled recipients answer, core.py); must not block.
        self.on_mail = on_mail

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)  # guaranteed by policy.default
        text, html = message_text(message)
        record: dict[str, Any] = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "header_from": str(message.get("From", "")),
            "subject": str(message.get("Subject", "")),
            "body": text,
            "html": html,
            "message_id": str(message.get("Message-ID", "")),
            "received_at": utc_now_iso(),
        }
        self.store.add("emails", record)
        if self.on_mail is not None:
            self.on_mail(record)
        log.info("smtp %s -> %s %r", record["from"], ",".join(record["to"]), record["subject"])
        return "250 Message accepted for delivery"


def smtp_controller(
    store: Store, host: str, port: int, on_mail: MailHook | None = None
) -> Controller:
    # Mail may carry non-ASCII addresses and 8-bit bodies; accept them as a relay would.
    handler = SinkHandler(store, on_mail)
    return Controller(handler, hostname=host, port=port, enable_SMTPUTF8=True)
