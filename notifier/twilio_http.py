"""A real Twilio client that can be pointed at the provider simulator.

The twilio library has no base-URL option, so the simulator is reached by an
HTTP client that rewrites the Twilio host of every request. Everything above
the HTTP layer (request building, auth, response parsing, exceptions) stays the
library's own, which is the point: code tested against the simulator is the
code that talks to Twilio.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from requests.adapters import HTTPAdapter
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

TIMEOUT_SECONDS = 10.0


def _is_twilio_host(host: str) -> bool:
    return host == "twilio.com" or host.endswith(".twilio.com")


class SimulatorHttpClient(TwilioHttpClient):
    """Sends every request meant for *.twilio.com to `base_url` instead."""

    def __init__(self, base_url: str, timeout: float = TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout)
        parts = urlsplit(base_url)
        self.base_scheme = parts.scheme or "http"
        self.base_netloc = parts.netloc
        # A simulator mounted under a path prefix keeps that prefix.
        self.base_path = parts.path.rstrip("/")
        # The simulator is ours and local: no proxy or .netrc to look up in the
        # environment on every request (a measurable share of a fan-out's CPU).
        if self.session is not None:
            self.session.trust_env = False

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        if not _is_twilio_host(parts.hostname or ""):
            return url
        path = self.base_path + parts.path
        return urlunsplit((self.base_scheme, self.base_netloc, path, parts.query, parts.fragment))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        return super().request(
            method,
            self.rewrite(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


def twilio_client(
    account_sid: str, auth_token: str, api_url: str | None, *, connections: int = 256
) -> Client:
    """A twilio Client for the simulator at `api_url`, or for Twilio itself when it is None.

    TWILIO_EDGE / TWILIO_REGION from the environment still apply; they only
    change the *.twilio.com host name, which the simulator client rewrites anyway.
    `connections` keep-alive connections are pooled: requests' default of 10
    makes every request beyond the tenth in flight open a new TCP connection.
    """
    http_client = (
        SimulatorHttpClient(api_url) if api_url else TwilioHttpClient(timeout=TIMEOUT_SECONDS)
    )
    http_client.logger.setLevel(logging.WARNING)  # it logs every request and response at INFO
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=connections)
    for scheme in ("http://", "https://"):
        http_client.session.mount(scheme, adapter)
    return Client(account_sid, auth_token, http_client=http_client)
