"""Voice calls through the real twilio client.

The call fetches its TwiML from msg.voice_url on the hub, which reads the
alert aloud and takes the keypress; this channel only places the call.
"""

from __future__ import annotations

from broker.messages import NotifyMessage
from notifier.channels.base import Channel, SendError, Sent
from notifier.channels.twilio_errors import FAILURES, NUMBER_CODES, VOICE_CODES, send_error
from notifier.config import NotifierSettings
from notifier.twilio_http import twilio_client

PERMANENT_CODES = NUMBER_CODES | VOICE_CODES
# Every progress step, so the board shows ringing and answered, not only the end.
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class VoiceChannel(Channel):
    name = "voice"

    def __init__(self, settings: NotifierSettings) -> None:
        self.caller = settings.twilio_voice_from or settings.twilio_from
        self.ring_seconds = settings.voice_ring_seconds
        self.client = twilio_client(
            settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url or None
        )

    def send(self, msg: NotifyMessage) -> Sent:
        if not msg.voice_url:
            raise SendError("voice message without a voice_url to fetch TwiML", permanent=True)
        extra = {}
        if msg.status_url:
            extra = {"status_callback": msg.status_url, "status_callback_event": STATUS_EVENTS}
        try:
            call = self.client.calls.create(
                to=msg.address,
                from_=self.caller,
                url=msg.voice_url,
                timeout=self.ring_seconds,
                **extra,
            )
        except FAILURES as exc:
            raise send_error(exc, PERMANENT_CODES) from exc
        return Sent(call.sid)
