"""The simulator's state and behaviour, shared by the HTTP API and the SMTP sink."""

from __future__ import annotations

import logging
import random
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import requests
from twilio.request_validator import RequestValidator

from notifier.simulator.scheduler import Scheduler
from notifier.simulator.store import Store, utc_now_iso

log = logging.getLogger("tocsin.simulator")

API_VERSION = "2010-04-01"
POST_TIMEOUT_SECONDS = 5.0
# Responders mostly acknowledge, sometimes report unavailable, rarely something else.
ANSWERS = ("1", "2", "3")
ANSWER_WEIGHTS = (80, 15, 5)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 5050
    smtp_port: int = 2525
    hub_url: str = "http://127.0.0.1:5000"
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "tocsin-sim-token"
    answer_rate: float = 0.8
    answer_delay: float = 5.0
    status_delay: float = 0.2
    from_number: str = "+15005550006"
    seed: int | None = None


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def rfc2822_now() -> str:
    # Twilio's own format: "Tue, 02 Jul 2024 10:00:00 +0000".
    return format_datetime(datetime.now(UTC))


class Simulator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store()
        self.scheduler = Scheduler()
        # One seeded generator behind a lock: with a seed, the same request order
        # gives the same answers and delays.
        self._rng = random.Random(settings.seed)
        self._rng_lock = threading.Lock()
        self._http = requests.Session()

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self._http.close()

    @property
    def inbound_url(self) -> str:
        return self.settings.hub_url.rstrip("/") + "/hooks/twilio/sms"

    def post_signed(
        self, kind: str, url: str, params: dict[str, str], forge: bool = False
    ) -> tuple[int | None, str]:
        """POST a form the way Twilio does, signed with the auth token (or, forged, without it)."""
        token = self.settings.auth_token + ("-forged" if forge else "")
        signature = RequestValidator(token).compute_signature(url, params)
        headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
        record: dict[str, Any] = {"kind": kind, "url": url, "params": params, "forged": forge}
        try:
            response = self._http.post(
                url,
                data=params,
                headers=headers,
                timeout=POST_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
            status, text = response.status_code, response.text
        except requests.RequestException as exc:
            status, text = None, f"{type(exc).__name__}: {exc}"
        record.update(status=status, error=None if status else text, at=utc_now_iso())
        self.store.add("callbacks", record)
        log.info("%s -> %s %s %s", kind, url, status, params.get("MessageStatus") or "")
        return status, text

    def message_accepted(self, resource: dict[str, Any], status_callback: str | None) -> None:
        """Play what happens after Twilio accepted a message: delivery, then maybe an answer."""
        self.scheduler.call_later(
            self.settings.status_delay, lambda: self._status(resource, status_callback, "sent")
        )
        answer = self._draw_answer()
        if answer is not None:
            delay, body = answer
            self.scheduler.call_later(
                delay, lambda: self.inbound(resource["to"], resource["from"], body)
            )

    def inbound(
        self, from_: str, to: str | None, body: str, forge: bool = False
    ) -> tuple[int | None, str]:
        """A responder's SMS reaches the hub's inbound webhook."""
        sid = new_sid("SM")
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": self.settings.account_sid,
            "From": from_,
            "To": to or self.settings.from_number,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }
        return self.post_signed("inbound", self.inbound_url, params, forge=forge)

    def _status(self, resource: dict[str, Any], url: str | None, status: str) -> None:
        """Move a message on to `status`, telling its StatusCallback URL if it has one."""
        self.store.set_status(resource["sid"], status, rfc2822_now())
        if url is not None:
            self.post_signed("status", url, self._status_params(resource, status))
        # Scheduled only after "sent" was posted, so "delivered" can never overtake it.
        if status == "sent":
            self.scheduler.call_later(
                self.settings.status_delay, lambda: self._status(resource, url, "delivered")
            )

    def _status_params(self, resource: dict[str, Any], status: str) -> dict[str, str]:
        params = {
            "MessageSid": resource["sid"],
            "SmsSid": resource["sid"],
            "AccountSid": self.settings.account_sid,
            "From": resource["from"] or self.settings.from_number,
            "To": resource["to"],
            "MessageStatus": status,
            "SmsStatus": status,
            "ApiVersion": API_VERSION,
        }
        if resource.get("messaging_service_sid"):
            params["MessagingServiceSid"] = resource["messaging_service_sid"]
        return params

    def _draw_answer(self) -> tuple[float, str] | None:
        with self._rng_lock:
            if self._rng.random() >= self.settings.answer_rate:
                return None
            delay = self.settings.answer_delay * (1 + 0.5 * self._rng.random())
            body = self._rng.choices(ANSWERS, weights=ANSWER_WEIGHTS)[0]
        return delay, body
