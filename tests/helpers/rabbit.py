"""Stopping and starting the local RabbitMQ for outage tests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import IN_CI


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


def need_rabbitmqctl() -> None:
    if shutil.which("rabbitmqctl"):
        return
    if IN_CI:
        pytest.fail("rabbitmqctl is not installed; CI must install it", pytrace=False)
    pytest.skip("rabbitmqctl is not installed; outage tests stop and start the broker with it")


@contextmanager
def broker_stopped() -> Iterator[None]:
    """RabbitMQ's app is stopped inside the block and always started again after it."""
    need_rabbitmqctl()
    rabbitmqctl("stop_app")
    try:
        yield
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
