"""SMS through the real twilio client (pointed at the simulator when configured)."""

from __future__ import annotations

from broker.messages import EXERCISE_MARKER, NotifyMessage
from notifier import smstext
from notifier.channels.base import Channel, Sent
from notifier.channels.twilio_errors import FAILURES, NUMBER_CODES, SMS_CODES, send_error
from notifier.config import NotifierSettings
from notifier.twilio_http import twilio_client

PERMANENT_CODES = NUMBER_CODES | SMS_CODES
# Three segments leave room for a real message while a long code, at one
# segment per second, still gets an incident's alerts out quickly.
MAX_SEGMENTS = 3


class SmsChannel(Channel):
    name = "sms"

    def __init__(self, settings: NotifierSettings) -> None:
        self.sender = settings.twilio_from
        self.validity = settings.sms_validity_seconds
        self.client = twilio_client(
            settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url or None
        )

    def render(self, msg: NotifyMessage) -> str:
        marker = EXERCISE_MARKER if msg.exercise else ""
        return smstext.fit(
            msg.subject, msg.body, msg.ack_url, max_segments=MAX_SEGMENTS, marker=marker
        )

    def send(self, msg: NotifyMessage) -> Sent:
        text = self.render(msg)
        extra = {"status_callback": msg.status_url} if msg.status_url else {}
        try:
            message = self.client.messages.create(
                to=msg.address,
                from_=self.sender,
                body=text,
                validity_period=self.validity,
                **extra,
            )
        except FAILURES as exc:
            raise send_error(exc, PERMANENT_CODES) from exc
        return Sent(message.sid, _billed_segments(message.num_segments, text))


def _billed_segments(reported: str | None, text: str) -> int:
    # Twilio says how many segments it bills; our own count stands in when it does not.
    try:
        return int(reported) if reported else smstext.segments(text)
    except ValueError:
        return smstext.segments(text)
