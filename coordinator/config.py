"""Settings of the coordinator, read once from the environment (see README)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from broker.env import ConfigError, env_bool, env_int, env_secret, env_str
from broker.transport import AMQP_SCHEMES
from coordinator.cap.model import LANGUAGE_TAG, NAME_CHARS

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
    socketio_queue: str = ""  # RabbitMQ URL through which hubs share emits; "" = this hub only
    # CAP 1.2 (docs/cap.md): the language whose <info> an import reads and an export writes,
    # and the <sender> of exports ("" = tocsin@<host of the public URL>).
    cap_language: str = "en-GB"
    cap_sender: str = ""

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
        amqp_url = env_str("TOCSIN_AMQP_URL")
        return cls(
            database_url=env_str("TOCSIN_DATABASE_URL") or _default_sqlite_url(),
            amqp_url=amqp_url,
            amqp_prefix=env_str("TOCSIN_AMQP_PREFIX"),
            secret_key=env_secret("TOCSIN_SECRET_KEY") or _instance_secret(),
            public_url=public_url,
            link_ttl_hours=env_int("TOCSIN_LINK_TTL_HOURS", 24),
            tile_url=tile_url,
            tile_attribution=tile_attribution,
            twilio_auth_token=env_secret("TOCSIN_TWILIO_AUTH_TOKEN"),
            cookie_secure=env_bool("TOCSIN_COOKIE_SECURE", public_url.startswith("https://")),
            socketio_queue=_socketio_queue(amqp_url),
            cap_language=_cap_word("TOCSIN_CAP_LANGUAGE", "en-GB", LANGUAGE_TAG, "like en-GB"),
            cap_sender=_cap_word("TOCSIN_CAP_SENDER", "", NAME_CHARS, "with no space , < &"),
        )


def _cap_word(name: str, default: str, pattern: re.Pattern[str], rule: str) -> str:
    """A CAP setting, checked at start: a bad one would make every export invalid."""
    value = env_str(name, default)
    if value and not pattern.match(value):
        raise ConfigError(f"{name} must be a CAP word {rule}, got {value!r}")
    return value


def _socketio_queue(amqp_url: str) -> str:
    """Where hubs share what they emit to consoles (coordinator/extensions.py).

    RabbitMQ by default when there is one: several hubs only exist there, and an
    answer received by one must reach consoles on all. "none" or "off" keeps
    emits in this process (one hub).
    """
    raw = env_str("TOCSIN_SOCKETIO_QUEUE")
    if raw.lower() in ("none", "off"):
        return ""
    url = raw or amqp_url
    if url:
        _check_amqp_url("TOCSIN_SOCKETIO_QUEUE" if raw else "TOCSIN_AMQP_URL", url)
    return url


def _check_amqp_url(name: str, url: str) -> None:
    """Fail at start, not at the first emit; never echo the URL (it may hold a password)."""
    if not url.startswith(AMQP_SCHEMES):
        scheme = url.partition(":")[0]
        raise ConfigError(
            f"{name}: unsupported broker URL scheme {scheme!r}: use "
            "amqp://user:password@host:5672/vhost (or amqps://)"
        )
    try:
        port = urlparse(url).port
    except ValueError:  # not a number, or past 65535
        port = 0
    if port == 0:
        raise ConfigError(f"{name}: the port in the broker URL must be a number from 1 to 65535")


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
