"""Settings of the coordinator, read once from the environment (see README)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from broker.env import ConfigError, env_bool, env_int, env_secret, env_str

INSTANCE_DIR = Path("instance")


@dataclass(frozen=True)
class Settings:
    database_url: str
    amqp_url: str
    amqp_prefix: str
    secret_key: str
    public_url: str
    link_ttl_hours: int
    tile_url: str
    tile_attribution: str
    twilio_auth_token: str
    cookie_secure: bool
    run_background: bool = True  # relay, consumers; tests drive them by hand

    @classmethod
    def from_env(cls) -> Settings:
        public_url = env_str("TOCSIN_PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/")
        if not public_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"TOCSIN_PUBLIC_URL must start with http:// or https://: {public_url}"
            )
        tile_url = env_str("TOCSIN_TILE_URL")
        tile_attribution = env_str("TOCSIN_TILE_ATTRIBUTION")
        if tile_url and not tile_attribution:
            raise ConfigError(
                "TOCSIN_TILE_URL needs TOCSIN_TILE_ATTRIBUTION (tile providers require it)"
            )
        return cls(
            database_url=env_str("TOCSIN_DATABASE_URL") or _default_sqlite_url(),
            amqp_url=env_str("TOCSIN_AMQP_URL"),
            amqp_prefix=env_str("TOCSIN_AMQP_PREFIX"),
            secret_key=env_secret("TOCSIN_SECRET_KEY") or _instance_secret(),
            public_url=public_url,
            link_ttl_hours=env_int("TOCSIN_LINK_TTL_HOURS", 24),
            tile_url=tile_url,
            tile_attribution=tile_attribution,
            twilio_auth_token=env_secret("TOCSIN_TWILIO_AUTH_TOKEN"),
            cookie_secure=env_bool("TOCSIN_COOKIE_SECURE", public_url.startswith("https://")),
        )


def _default_sqlite_url() -> str:
    INSTANCE_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{(INSTANCE_DIR / 'tocsin.db').resolve()}"


def _instance_secret() -> str:
    """A key kept in instance/ so one-machine sessions survive a restart.

    Production sets TOCSIN_SECRET_KEY (or _FILE); this file is never committed.
    """
    INSTANCE_DIR.mkdir(exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
