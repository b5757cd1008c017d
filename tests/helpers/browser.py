"""Real headless Chromium (Debian's package) driven by Playwright, kept off the internet.

    with chromium() as browser:
        page = offline_page(browser, guard)     # guard = OfflineGuard()
        page.goto(url)
        ...
        guard.assert_clean()                    # no request left 127.0.0.1
        screenshot(page, "board")               # test-artifacts/board.png

Every request a page makes is checked: one to any host but 127.0.0.1 / localhost
is aborted and recorded, so a page that needs the internet fails its test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import IN_CI

CHROMIUM = os.environ.get("TOCSIN_TEST_CHROMIUM", "/usr/lib/chromium/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ARTIFACTS = Path(os.environ.get("TOCSIN_TEST_ARTIFACTS", "test-artifacts"))
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def need_chromium() -> None:
    if Path(CHROMIUM).exists() and shutil.which("chromedriver"):
        return
    message = f"Chromium is not installed at {CHROMIUM} (Debian packages chromium, chromium-driver)"
    if IN_CI:
        pytest.fail(f"{message}; CI must install it", pytrace=False)
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium browser, closed at the end of the block."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


class OfflineGuard:
    """Aborts and records every request to a host that is not this machine."""

    def __init__(self) -> None:
        self.left_the_machine: list[str] = []
        self.local_requests: list[str] = []

    def route(self, route, request) -> None:  # type: ignore[no-untyped-def]
        host = urlparse(request.url).hostname
        if request.url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS:
            self.local_requests.append(request.url)
            route.continue_()
        else:
            self.left_the_machine.append(request.url)
            route.abort()

    def assert_clean(self) -> None:
        assert self.left_the_machine == [], f"requests left the machine: {self.left_the_machine}"


def offline_context(browser, guard: OfflineGuard, **options: object):  # type: ignore[no-untyped-def]
    """A new browser context (own cookies) whose every request passes the guard."""
    context = browser.new_context(**options)
    context.route("**/*", guard.route)
    return context


def offline_page(browser, guard: OfflineGuard, **options: object):  # type: ignore[no-untyped-def]
    return offline_context(browser, guard, **options).new_page()


def screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Save a full-page PNG under test-artifacts/ (CI keeps the folder)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def element_screenshot(locator, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Save a PNG of one element (e.g. the map panel) under test-artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    locator.screenshot(path=str(path))
    return path


def sign_in(page, base_url: str, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
