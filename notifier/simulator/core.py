"""The simulator's state and behaviour, shared by the HTTP API and the SMTP sink."""

from __future__ import annotations

from typing import Any

from notifier.simulator.base import API_VERSION, Settings, new_sid, rfc2822_now
from notifier.simulator.dice import Dice
from notifier.simulator.limits import RateLimiter
from notifier.simulator.scheduler import Scheduler
from notifier.simulator.store import Store
from notifier.simulator.voice import Voice
from notifier.simulator.webhooks import Webhooks

# Twilio's code when the carrier could not reach the handset.
UNDELIVERED = (30003, "Unreachable destination handset")


class Simulator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store()
        self.scheduler = Scheduler(workers=settings.webhook_workers)
        self.dice = Dice(settings.seed)
        self.webhooks = Webhooks(self.store, settings.auth_token)
        self.voice = Voice(settings, self.store, self.scheduler, self.dice, self.webhooks)
        self.limiter = RateLimiter(settings.rate_limit)

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self.webhooks.close()

    def reset(self) -> None:
        self.store.reset()
        self.voice.reset()

    def request_delay(self, environ: dict[str, Any]) -> float:
        """Seconds the server holds a request: provider endpoints are far away, /sim is not."""
        if environ["PATH_INFO"].startswith("/sim/"):
            return 0.0
        return self.dice.latency(self.settings.latency_ms_median)

    @property
    def inbound_url(self) -> str:
        return self.settings.hub_url.rstrip("/") + "/hooks/twilio/sms"

    def message_accepted(self, resource: dict[str, Any], status_callback: str | None) -> None:
        """Play what happens after Twilio accepted a message: delivery, then maybe an answer."""
        settings = self.settings
        fails = self.dice.chance(settings.sms_fail_rate)
        final = "undelivered" if fails else "delivered"
        self.scheduler.call_later(
            settings.status_delay, lambda: self._status(resource, status_callback, "sent", final)
        )
        # A handset that never got the message cannot answer it.
        if fails or self.dice.silent(resource["to"], settings.silence_rate):
            return
        if self.dice.chance(settings.answer_rate):
            body = self.dice.answer()
            self.scheduler.call_later(
                self.dice.delay(settings.answer_delay),
                lambda: self.inbound(resource["to"], resource["from"], body),
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
        return self.webhooks.send("inbound", self.inbound_url, params, forge=forge)

    def _status(self, resource: dict[str, Any], url: str | None, status: str, final: str) -> None:
        """Move a message on to `status`, telling its StatusCallback URL if it has one."""
        now = rfc2822_now()
        self.store.set_status(resource["sid"], status, now)
        if status == "undelivered":
            code, text = UNDELIVERED
            error = {"error_code": code, "error_message": text}
            self.store.update(resource["sid"], error, {"error_code": code})
        if url is not None:
            self.webhooks.send("status", url, self._status_params(resource, status))
        # Scheduled only after "sent" was posted, so the final status can never overtake it.
        if status == "sent":
            self.scheduler.call_later(
                self.settings.status_delay, lambda: self._status(resource, url, final, final)
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
        if status == "undelivered":
            params["ErrorCode"] = str(UNDELIVERED[0])
        if resource.get("messaging_service_sid"):
            params["MessagingServiceSid"] = resource["messaging_service_sid"]
        return params
