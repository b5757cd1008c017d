"""Provider settings of the notifier, from the environment (see README).

With no Twilio credentials and TOCSIN_TWILIO_API_URL set, the real twilio
client talks to the provider simulator; real credentials and no API URL
switch to Twilio itself with no code change.

Pacing defaults follow the providers' documented limits for one sender:
a Twilio long code sends 1 SMS segment/s and places 1 call/s; email and push
services take more. Rates are per worker process.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from broker.env import ConfigError, env_float, env_int, env_secret, env_str

# Twilio accepts ValidityPeriod between 1 second and 4 hours.
VALIDITY_RANGE = (1, 14_400)
# Twilio's Timeout for a call: how long it rings before "no-answer".
RING_RANGE = (5, 600)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class NotifierSettings:
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_api_url: str = ""  # empty: the real Twilio API
    email_url: str = ""  # an apprise mailto:// URL without the recipient
    twilio_voice_from: str = ""  # empty: calls come from twilio_from
    # An alert nobody received within this time is stale: Twilio drops it
    # rather than delivering it late.
    sms_validity_seconds: int = 900
    voice_ring_seconds: int = 30
    sms_rate: float = 1.0
    sms_concurrency: int = 20
    voice_rate: float = 1.0
    voice_concurrency: int = 10
    email_rate: float = 10.0
    email_concurrency: int = 10
    push_rate: float = 20.0
    push_concurrency: int = 50
    max_attempts: int = 5  # tries of a transient failure before the dead-letter queue

    @classmethod
    def from_env(cls) -> NotifierSettings:
        settings = cls(
            twilio_account_sid=env_str("TOCSIN_TWILIO_ACCOUNT_SID"),
            twilio_auth_token=env_secret("TOCSIN_TWILIO_AUTH_TOKEN"),
            twilio_from=env_str("TOCSIN_TWILIO_FROM"),
            twilio_api_url=env_str("TOCSIN_TWILIO_API_URL").rstrip("/"),
            email_url=env_str("TOCSIN_EMAIL_URL"),
            twilio_voice_from=env_str("TOCSIN_TWILIO_VOICE_FROM"),
            sms_validity_seconds=_int_in("TOCSIN_SMS_VALIDITY_SECONDS", 900, *VALIDITY_RANGE),
            voice_ring_seconds=_int_in("TOCSIN_VOICE_RING_SECONDS", 30, *RING_RANGE),
            sms_rate=_rate("TOCSIN_SMS_RATE", 1.0),
            sms_concurrency=_int_in("TOCSIN_SMS_CONCURRENCY", 20, 1),
            voice_rate=_rate("TOCSIN_VOICE_RATE", 1.0),
            voice_concurrency=_int_in("TOCSIN_VOICE_CONCURRENCY", 10, 1),
            email_rate=_rate("TOCSIN_EMAIL_RATE", 10.0),
            email_concurrency=_int_in("TOCSIN_EMAIL_CONCURRENCY", 10, 1),
            push_rate=_rate("TOCSIN_PUSH_RATE", 20.0),
            push_concurrency=_int_in("TOCSIN_PUSH_CONCURRENCY", 50, 1),
            max_attempts=_int_in("TOCSIN_MAX_ATTEMPTS", 5, 1),
        )
        if settings.email_url and not settings.email_url.startswith(("mailto://", "mailtos://")):
            raise ConfigError("TOCSIN_EMAIL_URL must be an apprise mailto:// or mailtos:// URL")
        return settings

    def limits(self, channel: str) -> tuple[float, int]:
        """(requests per second, requests in flight) for one channel's sender."""
        rate, concurrency = {
            "sms": (self.sms_rate, self.sms_concurrency),
            "voice": (self.voice_rate, self.voice_concurrency),
            "email": (self.email_rate, self.email_concurrency),
            "push": (self.push_rate, self.push_concurrency),
        }[channel]
        return rate, concurrency

    def reaches_simulator(self, channel: str, address: str) -> bool:
        """Whether a message on this channel to this address stays on this machine
        (the provider simulator): Twilio through TOCSIN_TWILIO_API_URL, email through
        a loopback SMTP server, push to a loopback endpoint."""
        if channel in ("sms", "voice"):
            return bool(self.twilio_api_url)
        url = self.email_url if channel == "email" else address
        try:
            host = urlsplit(url.replace("ntfys://", "ntfy://", 1)).hostname
        except ValueError:
            return False
        return host in LOOPBACK

    def missing_for(self, channel: str) -> list[str]:
        """Names of unset variables that the channel needs."""
        twilio = {
            "TOCSIN_TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "TOCSIN_TWILIO_AUTH_TOKEN": self.twilio_auth_token,
        }
        needed = {
            "sms": {**twilio, "TOCSIN_TWILIO_FROM": self.twilio_from},
            "voice": {
                **twilio,
                "TOCSIN_TWILIO_VOICE_FROM or TOCSIN_TWILIO_FROM": (
                    self.twilio_voice_from or self.twilio_from
                ),
            },
            "email": {"TOCSIN_EMAIL_URL": self.email_url},
            # Push needs nothing here: each address is a complete apprise URL.
            "push": {},
        }.get(channel, {})
        return [name for name, value in needed.items() if not value]


def _int_in(name: str, default: int, low: int, high: int | None = None) -> int:
    value = env_int(name, default)
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{name} must be {bounds}, got {value}")
    return value


def _rate(name: str, default: float) -> float:
    value = env_float(name, default)
    # nan and inf parse as floats but make no sense as a rate.
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name} must be a positive number per second, got {value}")
    return value
