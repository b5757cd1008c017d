"""Requests the simulator makes to the hub, signed the way Twilio signs them.

They go out through http.client with one kept-alive connection per worker
thread and host: at a thousand messages a second the simulator posts two
thousand status callbacks, and requests costs about 700 us of CPU per post
where http.client costs 100 (measured here), all of it under the GIL that
also serves the REST API.
"""

from __future__ import annotations

import http.client
import logging
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

from notifier.simulator.store import Store, utc_now_iso

log = logging.getLogger("tocsin.simulator")

TIMEOUT_SECONDS = 5.0
Origin = tuple[str, str, int | None]
# A kept-alive connection the hub closed meanwhile fails like this before any answer.
STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class Webhooks:
    def __init__(self, store: Store, auth_token: str) -> None:
        self.store = store
        self.auth_token = auth_token
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()

    def send(
        self,
        kind: str,
        url: str,
        params: dict[str, str],
        method: str = "POST",
        forge: bool = False,
    ) -> tuple[int | None, str]:
        """Send `params` as Twilio does, signed with the auth token (or, forged, without it).

        A POST signs the URL plus the sorted form; a GET carries the params in
        the query string, and the signature covers that whole URL alone.
        """
        get = method.upper() == "GET"
        if get:
            url = url + ("&" if "?" in url else "?") + urlencode(params)
        token = self.auth_token + ("-forged" if forge else "")
        headers = {
            "X-Twilio-Signature": RequestValidator(token).compute_signature(
                url, {} if get else params
            ),
            "User-Agent": "TwilioProxy/1.1",
        }
        if not get:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        record: dict[str, Any] = {"kind": kind, "url": url, "params": params, "forged": forge}
        try:
            body = None if get else urlencode(params).encode()
            status, text = self._request("GET" if get else "POST", url, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            status, text = None, f"{type(exc).__name__}: {exc}"
        record.update(status=status, error=None if status else text, at=utc_now_iso())
        self.store.add("callbacks", record)
        detail = params.get("MessageStatus") or params.get("CallStatus") or ""
        log.info("%s -> %s %s %s", kind, url, status, detail)
        return status, text

    def _request(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, str]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise http.client.InvalidURL(url)
        origin: Origin = (parts.scheme, parts.hostname, parts.port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        while True:
            connection, reused = self._connection(origin)
            try:
                connection.request(method, target, body=body, headers=headers)
                response = connection.getresponse()
                text = response.read().decode("utf-8", "replace")
            except STALE:
                self._drop(origin)
                if reused:
                    continue  # once more, on a new connection
                raise
            except BaseException:
                self._drop(origin)
                raise
            if response.will_close:
                self._drop(origin)
            return response.status, text

    def _connection(self, origin: Origin) -> tuple[http.client.HTTPConnection, bool]:
        pool: dict[Origin, http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        if origin in pool:
            return pool[origin], True
        scheme, host, port = origin
        kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        pool[origin] = connection = kind(host, port, timeout=TIMEOUT_SECONDS)
        with self._lock:
            self._all.append(connection)
        return connection, False

    def _drop(self, origin: Origin) -> None:
        connection = self._local.__dict__.get("pool", {}).pop(origin, None)
        if connection is not None:
            connection.close()
            with self._lock:
                self._all.remove(connection)
