"""SMS through the real twilio client (pointed at the simulator when configured)."""

from __future__ import annotations

from twilio.base.exceptions import TwilioException, TwilioRestException

from broker.messages import NotifyMessage
from notifier.channels.base import Channel, SendError
from notifier.config import NotifierSettings
from notifier.twilio_http import twilio_client

# Twilio error codes that no retry can fix: bad or unreachable numbers, opt-outs.
PERMANENT_CODES = {21211, 21212, 21214, 21217, 21219, 21408, 21610, 21612, 21614, 21606, 21603}


class SmsChannel(Channel):
    name = "sms"

    def __init__(self, settings: NotifierSettings) -> None:
        self.sender = settings.twilio_from
        self.client = twilio_client(
            settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url or None
        )

    def send(self, msg: NotifyMessage) -> str | None:
        extra = {"status_callback": msg.status_url} if msg.status_url else {}
        try:
            message = self.client.messages.create(
                to=msg.address, from_=self.sender, body=msg.body, **extra
            )
        except TwilioRestException as exc:
            permanent = exc.code in PERMANENT_CODES or (exc.status == 400 and exc.code != 20429)
            raise SendError(f"Twilio {exc.code}: {exc.msg}", permanent=permanent) from exc
        except (TwilioException, OSError) as exc:
            raise SendError(f"Twilio unreachable: {exc}") from exc
        return message.sid
