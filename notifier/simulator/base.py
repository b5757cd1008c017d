"""Settings and the small helpers every part of the simulator shares."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

API_VERSION = "2010-04-01"


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
    # Realism and load knobs; all off by default.
    sms_fail_rate: float = 0.0
    silence_rate: float = 0.0
    call_no_answer_rate: float = 0.0
    call_busy_rate: float = 0.0
    call_fail_rate: float = 0.0
    call_answer_mode: str = "auto"
    latency_ms_median: float = 0.0
    rate_limit: float = 0.0
    http_threads: int = 8
    webhook_workers: int = 16
    # A JSON file of answer profiles (profiles.py); "" = none until PUT /sim/profiles.
    profiles: str = ""


def new_sid(prefix: str) -> str:
    # Unique, not secret: random's generator, since os.urandom costs a system call.
    return f"{prefix}{random.getrandbits(128):032x}"


def rfc2822_now() -> str:
    # Twilio's own format: "Tue, 02 Jul 2024 10:00:00 +0000".
    return format_datetime(datetime.now(UTC))
