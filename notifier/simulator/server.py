"""The simulator's HTTP server: asyncio for sockets and latency, a few threads for the app.

Simulated provider latency (say 200 ms per request) is the reason this is not
werkzeug's server, nor waitress or cheroot: in a threaded server each delayed
request holds a thread, and 200 sleeping threads waking up fight for the GIL.
Measured on 2 cores with 200 connections and 200 ms latency, werkzeug served
about 440 requests/s and waitress 640; holding requests as asyncio timers and
running the Flask app on a small pool served about 850 (the ceiling is 1,000).

It speaks the HTTP/1.1 that Twilio, apprise and requests clients use:
keep-alive, Content-Length bodies, Expect: 100-continue. Chunked request
bodies are refused with 411.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

log = logging.getLogger("tocsin.simulator")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
IDLE_SECONDS = 75.0
SKIPPED_HEADERS = ("connection", "content-length", "transfer-encoding", "keep-alive")
Reply = tuple[str, list[tuple[str, str]], bytes]
RECEIVED_AT = "tocsin.received_at"  # environ key: epoch seconds the request arrived


class HttpServer:
    """Serve `app`, holding each request `delay(environ)` seconds before the app sees it."""

    def __init__(
        self,
        host: str,
        port: int,
        app: WsgiApp,
        threads: int,
        delay: Callable[[dict[str, Any]], float] = lambda environ: 0.0,
    ) -> None:
        self.host, self.port, self.app, self.delay = host, port, app, delay
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sim-app")
        self._thread = threading.Thread(target=self._run, name="sim-http", daemon=True)
        self._ready = threading.Event()
        self._error: OSError | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Listen, or raise the OSError that prevented it (a port in use)."""
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        try:
            server = await asyncio.start_server(
                self._connection, self.host, self.port, backlog=1024, limit=MAX_HEAD_BYTES
            )
        except OSError as exc:
            self._error = exc
            self._ready.set()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopping.wait()
        server.close()
        for task in list(self._connections):
            task.cancel()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away or stayed idle too long
        except asyncio.CancelledError:
            pass  # stopping; ending quietly spares Python 3.11's streams a spurious traceback
        except asyncio.LimitOverrunError:
            await _send(writer, "431 Request Header Fields Too Large", [], b"", False)
        finally:
            self._connections.discard(task)
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; True to keep the connection for the next one."""
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_SECONDS)
        try:
            environ = self._environ(head, writer.get_extra_info("peername") or ("", 0))
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length < 0:
                raise ValueError(length)
        except ValueError:
            return await _send(writer, "400 Bad Request", [], b"", False)
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return await _send(writer, "411 Length Required", [], b"", False)
        if length > MAX_BODY_BYTES:
            return await _send(writer, "413 Content Too Large", [], b"", False)
        if length and environ.get("HTTP_EXPECT", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ["wsgi.input"] = io.BytesIO(await reader.readexactly(length))
        # When the request reached the provider, before the simulated latency:
        # what benchmarks count as "handed to the provider".
        environ[RECEIVED_AT] = time.time()
        seconds = self.delay(environ)
        if seconds > 0:
            await asyncio.sleep(seconds)
        assert self._loop is not None
        status, headers, body = await self._loop.run_in_executor(self._pool, self._call, environ)
        if environ["REQUEST_METHOD"] == "HEAD":  # no body, but the length a GET would have
            get_length = next((v for k, v in headers if k.lower() == "content-length"), "0")
            return await _send(writer, status, headers, b"", _keep_alive(environ), get_length)
        return await _send(writer, status, headers, body, _keep_alive(environ))

    def _call(self, environ: dict[str, Any]) -> Reply:
        """Run the WSGI app on a pool thread and collect its whole response."""
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return lambda data: None  # the legacy write() callable: unused by Flask

        try:
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                getattr(result, "close", lambda: None)()
        except Exception:
            log.exception("http %s %s failed", environ["REQUEST_METHOD"], environ["PATH_INFO"])
            return "500 Internal Server Error", [], b""
        return started[0], started[1], body

    def _environ(self, head: bytes, peer: tuple[Any, ...]) -> dict[str, Any]:
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, protocol = request_line.split(" ")
        if not protocol.startswith("HTTP/1."):
            raise ValueError(protocol)
        path, _, query = target.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, encoding="latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": self.host,
            "SERVER_PORT": str(self.port),
            "SERVER_PROTOCOL": protocol,
            "REMOTE_ADDR": str(peer[0]),
            "REMOTE_PORT": str(peer[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for line in filter(None, lines):
            name, colon, value = line.partition(":")
            if not colon:
                raise ValueError(line)
            key = name.strip().upper().replace("-", "_")
            key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key
            value = value.strip()
            environ[key] = f"{environ[key]}, {value}" if key in environ else value
        return environ


def _keep_alive(environ: dict[str, Any]) -> bool:
    connection = str(environ.get("HTTP_CONNECTION", "")).lower()
    if environ["SERVER_PROTOCOL"] == "HTTP/1.0":
        return connection == "keep-alive"
    return connection != "close"


async def _send(
    writer: asyncio.StreamWriter,
    status: str,
    headers: list[tuple[str, str]],
    body: bytes,
    keep: bool,
    length: str = "",
) -> bool:
    lines = [f"HTTP/1.1 {status}"]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in SKIPPED_HEADERS]
    lines += [f"Content-Length: {length or len(body)}"]
    lines += [f"Connection: {'keep-alive' if keep else 'close'}"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()
    return keep
