"""The simulator's state and behaviour, shared by the HTTP API and the SMTP sink."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from notifier.simulator.base import API_VERSION, Settings, new_sid, rfc2822_now
from notifier.simulator.dice import Dice
from notifier.simulator.limits import RateLimiter
from notifier.simulator.people import People
from notifier.simulator.profiles import Match, Profiles, load_file
from notifier.simulator.scheduler import Scheduler
from notifier.simulator.store import Store
from notifier.simulator.voice import Voice
from notifier.simulator.webhooks import Webhooks

# Twilio's code when the carrier could not reach the handset.
UNDELIVERED = (30003, "Unreachable destination handset")
# A profiled person answers an email or a push through its answer link (a POST,
# as the responder page's buttons do); the digit they would have pressed or texted.
LINK_ANSWERS = {"1": "acknowledged", "2": "en_route", "3": "unavailable"}
ANSWER_LINE = re.compile(r"Answer: (https?://\S+)")
ANY_LINK = re.compile(r"https?://\S+/r/\S+")


class Simulator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store()
        self.scheduler = Scheduler(workers=settings.webhook_workers)
        self.dice = Dice(settings.seed)
        self.webhooks = Webhooks(self.store, settings.auth_token)
        self.profiles = Profiles(load_file(settings.profiles) if settings.profiles else [])
        self.people = People(self.dice)
        self.voice = Voice(settings, self.store, self.scheduler, self.dice, self.webhooks)
        self.voice.profiled = self.profiled_call
        self.limiter = RateLimiter(settings.rate_limit)

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self.webhooks.close()

    def reset(self) -> None:
        """Forget what was seen and what people decided; profiles stay as they are."""
        self.store.reset()
        self.voice.reset()
        self.people.reset()

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
        match = self.profiles.for_number(resource["to"])
        if match is not None:
            self._profiled_message(resource, status_callback, match)
            return
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

    def _profiled_message(
        self, resource: dict[str, Any], status_callback: str | None, match: Match
    ) -> None:
        fails = self.people.number_fails(match, resource["to"])
        final = "undelivered" if fails else "delivered"
        self.scheduler.call_later(
            self.settings.status_delay,
            lambda: self._status(resource, status_callback, "sent", final),
        )
        if fails:
            return
        decision, first = self.people.decide(match)
        if first and decision.answer:
            body = decision.answer
            self.scheduler.call_later(
                decision.delay, lambda: self.inbound(resource["to"], resource["from"], body)
            )

    def profiled_call(self, to: str) -> tuple[str, str | None] | None:
        """For a profiled number: how the call ends before anyone talks ("failed",
        "no-answer" or "answered") and the key the person presses; None when no
        profile covers the number (the global settings decide)."""
        match = self.profiles.for_number(to)
        if match is None:
            return None
        if self.people.number_fails(match, to):
            return "failed", None
        decision, _first = self.people.decide(match)
        # A call reaches a person as they already are: one who answers picks up.
        return ("answered", decision.answer) if decision.answer else ("no-answer", None)

    def email_received(self, record: dict[str, Any]) -> None:
        """A profiled recipient answers through the link in the mail."""
        for recipient in record.get("to", []):
            match = self.profiles.for_email(str(recipient))
            if match is None:
                continue
            link = answer_link(str(record.get("body", "")))
            if link:
                self._answer_by_link(match, link)

    def push_received(self, topic: str, record: dict[str, Any]) -> None:
        """A profiled ntfy subscriber presses the action button of their answer."""
        match = self.profiles.for_topic(topic)
        if match is None:
            return
        decision, first = self.people.decide(match)
        if not (first and decision.answer):
            return
        value = LINK_ANSWERS[decision.answer]
        for action in record.get("actions", []):
            params = dict(parse_qsl(str(action.get("body", ""))))
            if action.get("action") == "http" and params.get("answer") == value:
                self._post_later(decision.delay, str(action["url"]), params)
                return
        if record.get("click"):
            self._post_later(decision.delay, str(record["click"]), {"answer": value})

    def _answer_by_link(self, match: Match, url: str) -> None:
        decision, first = self.people.decide(match)
        if first and decision.answer:
            self._post_later(decision.delay, url, {"answer": LINK_ANSWERS[decision.answer]})

    def _post_later(self, delay: float, url: str, params: dict[str, str]) -> None:
        self.scheduler.call_later(delay, lambda: self.webhooks.send("answer-link", url, params))

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


def answer_link(body: str) -> str | None:
    """The answer link of a Tocsin mail: its "Answer: <url>" line, else any /r/ link."""
    found = ANSWER_LINE.search(body)
    if found:
        return found.group(1)
    found = ANY_LINK.search(body)
    return found.group(0) if found else None
