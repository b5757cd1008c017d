"""Provider settings of the notifier, from the environment (see README).

With no Twilio credentials and TOCSIN_TWILIO_API_URL set, the real twilio
client talks to the provider simulator; real credentials and no API URL
switch to Twilio itself with no code change.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.env import ConfigError, env_secret, env_str


@dataclass(frozen=True)
class NotifierSettings:
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_from: str
    twilio_api_url: str  # empty: the real Twilio API
    email_url: str  # an apprise mailto:// URL without the recipient

    @classmethod
    def from_env(cls) -> NotifierSettings:
        settings = cls(
            twilio_account_sid=env_str("TOCSIN_TWILIO_ACCOUNT_SID"),
            twilio_auth_token=env_secret("TOCSIN_TWILIO_AUTH_TOKEN"),
            twilio_from=env_str("TOCSIN_TWILIO_FROM"),
            twilio_api_url=env_str("TOCSIN_TWILIO_API_URL").rstrip("/"),
            email_url=env_str("TOCSIN_EMAIL_URL"),
        )
        if settings.email_url and not settings.email_url.startswith(("mailto://", "mailtos://")):
            raise ConfigError("TOCSIN_EMAIL_URL must be an apprise mailto:// or mailtos:// URL")
        return settings

    def missing_for(self, channel: str) -> list[str]:
        """Names of unset variables that the channel needs."""
        needed = {
            "sms": {
                "TOCSIN_TWILIO_ACCOUNT_SID": self.twilio_account_sid,
                "TOCSIN_TWILIO_AUTH_TOKEN": self.twilio_auth_token,
                "TOCSIN_TWILIO_FROM": self.twilio_from,
            },
            "email": {"TOCSIN_EMAIL_URL": self.email_url},
        }.get(channel, {})
        return [name for name, value in needed.items() if not value]
