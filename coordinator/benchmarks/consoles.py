"""`tocsin bench consoles`: many consoles watching one incident while answers arrive.

One hub (`tocsin run` with the embedded transport and no simulator: the web
hub with its background loops, as one machine runs it) serves C signed-in
consoles, each a Socket.IO client in the incident's room. Answers are posted
to the responder page at A per second, each from a different responder (the
same answer twice is recorded once and shown once). For every answer the
figure is the delay from the hub's `received_at` (the response row's time, set
when the answer is written; same machine, same clock as the consoles) until
the LAST console got it in a "responses" event (the hub sends answers as lists,
gathered for up to 50 ms while it is busy: coordinator/live.py).

The consoles are raw Engine.IO v4 websockets in gevent greenlets, spread over
client processes: a full client library costs more CPU per frame than the hub
spends sending it, and the load generator must not be what is measured.
Figures are printed, never asserted: timing on a shared machine is noise.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import gevent
import requests
from gevent import socket
from gevent.event import Event
from gevent.pool import Pool
from gevent.queue import Queue
from sqlalchemy import insert, select
from werkzeug.security import generate_password_hash

from coordinator import migrate
from coordinator.benchmarks.fanout import cpu_seconds, csrf, free_port, wait_http
from coordinator.db import Database
from coordinator.links import LinkSigner
from coordinator.models import (
    ANSWERS,
    Agency,
    Alert,
    Incident,
    Notification,
    Responder,
    Response,
    User,
    as_utc,
)

# A console process is an entry point of its own: gevent patches first.
CONSOLES_ENTRY = (
    "from gevent import monkey; monkey.patch_all(); import sys; "
    "from coordinator.benchmarks.consoles import consoles_process; consoles_process(sys.argv[1:])"
)
COOKIE_ENV = "TOCSIN_BENCH_COOKIE"  # the session cookie, kept off the command line
RESPONSE_EVENT = b'42["responses"'
RESPONDER_ID = re.compile(rb'"responder_id":\s*(\d+)')
CONNECTING = 50  # consoles opening their websocket at once, per process
POSTING = 64  # answers in flight at once
QUIET_SECONDS = 10.0  # after the last answer: stop waiting once no event came for this long


# -- one console: Engine.IO v4 over a raw websocket -----------------------------


class Console:
    """One signed-in console in one incident room.

    Server frames are parsed straight from the socket buffer; an event is
    recognised by its prefix and its responder id read without decoding the
    JSON, so a client costs a few microseconds per frame.
    """

    def __init__(self, host: str, port: int, cookie: str) -> None:
        self.host, self.port, self.cookie = host, port, cookie
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.reader: Iterator[tuple[float, bytes]] = iter(())
        self.received: dict[int, float] = {}  # responder id -> epoch time the event came
        self.duplicates = 0
        self.error = ""

    def join(self, incident_id: int) -> None:
        """Upgrade, open the Socket.IO session and join the room (acknowledged)."""
        self.sock = socket.create_connection((self.host, self.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nCookie: {self.cookie}\r\n\r\n"
            ).encode()
        )
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"websocket refused: {head.splitlines()[0].decode()}")
        self.buf = bytearray(rest)
        self.reader = self._frames()
        self._expect(b"0")  # Engine.IO open
        self.send(b"40")
        self._expect(b"40")  # Socket.IO connected to "/"
        self.send(b'420["join",{"incident_id":%d}]' % incident_id)
        ack = self._expect(b"430")
        if b'"ok":true' not in ack.replace(b" ", b""):
            raise ConnectionError(f"join refused: {ack.decode()}")
        self.sock.settimeout(None)

    def listen(self) -> None:
        """Record each response event until the socket closes or the greenlet is killed."""
        try:
            for now, payload in self.reader:
                if payload.startswith(RESPONSE_EVENT):
                    self._note(payload, now)
                elif payload == b"2":
                    self.send(b"3")  # Engine.IO ping: answer or the hub drops us
        except (OSError, ConnectionError) as exc:
            self.error = str(exc) or type(exc).__name__

    def _note(self, payload: bytes, now: float) -> None:
        found = RESPONDER_ID.findall(payload)
        if not found:
            raise ConnectionError(f"a responses event without responder_id: {payload[:80]!r}")
        for responder in map(int, found):
            if responder in self.received:
                self.duplicates += 1
            else:
                self.received[responder] = now

    def send(self, text: bytes) -> None:
        """A masked text frame (clients must mask; our frames are short)."""
        self._send_frame(0x1, text)

    def _send_frame(self, opcode: int, data: bytes) -> None:
        assert self.sock is not None and len(data) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(data)]) + mask + masked)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()

    def _fill(self) -> float:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the hub closed the connection")
        self.buf += chunk
        return time.time()

    def _expect(self, prefix: bytes) -> bytes:
        _now, payload = next(self.reader)
        if not payload.startswith(prefix):
            raise ConnectionError(f"expected {prefix!r}, got {payload[:80]!r}")
        return payload

    def _frames(self) -> Iterator[tuple[float, bytes]]:
        """Complete text messages with the time their last byte arrived.

        Answers websocket pings, reassembles fragments; a close frame or the
        end of the stream raises ConnectionError."""
        now = time.time()
        partial = bytearray()
        while True:
            pos, buf = 0, self.buf
            while len(buf) - pos >= 2:
                size, head = buf[pos + 1] & 0x7F, 2
                if size == 126:
                    size, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
                elif size == 127:
                    size, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
                end = pos + head + size
                if end > len(buf):
                    break
                first, payload = buf[pos], bytes(buf[pos + head : end])
                pos = end
                opcode = first & 0x0F
                if opcode == 0x8:
                    raise ConnectionError("the hub closed the websocket")
                if opcode == 0x9:
                    self._send_frame(0xA, payload)
                elif opcode in (0x0, 0x1):
                    partial += payload
                    if first & 0x80:
                        yield now, bytes(partial)
                        partial.clear()
            del buf[:pos]
            now = self._fill()


# -- a console process ------------------------------------------------------------


def consoles_process(argv: list[str]) -> None:
    """argv: hub URL, incident id, consoles, results file. Prints "joined N"
    once, then "received N" (events so far) twice a second; on SIGTERM writes
    what each console received to the results file and exits."""
    hub_url, incident_id, count, out = argv[0], int(argv[1]), int(argv[2]), Path(argv[3])
    host, port = hub_url.removeprefix("http://").rsplit(":", 1)
    cookie = os.environ[COOKIE_ENV]
    stop = Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    consoles = [Console(host, int(port), cookie) for _ in range(count)]
    Pool(CONNECTING).map(lambda c: _join(c, incident_id), consoles)
    for c in consoles:
        if c.error:
            print(f"error {c.error}", flush=True)
    joined = [c for c in consoles if not c.error]
    print(f"joined {len(joined)}", flush=True)  # last: the errors are in when this is read
    listeners = [gevent.spawn(c.listen) for c in joined]
    while not stop.wait(0.5):
        print(f"received {sum(len(c.received) for c in joined)}", flush=True)
    gevent.killall(listeners, timeout=5)
    for c in consoles:
        c.close()
    out.write_text(json.dumps([_summary(c) for c in consoles]))


def _join(console: Console, incident_id: int) -> None:
    try:
        console.join(incident_id)
    except (OSError, ConnectionError, StopIteration) as exc:
        console.error = f"could not join: {exc or type(exc).__name__}"
        console.close()


def _summary(console: Console) -> dict[str, object]:
    return {
        "received": console.received,
        "duplicates": console.duplicates,
        "error": console.error,
    }


# -- the bench ------------------------------------------------------------------


@dataclass
class Seeded:
    incident_id: int
    notification_ids: list[int]
    responder_ids: list[int]
    username: str
    password: str


@dataclass
class ConsoleGroup:
    """One console process and what its progress lines said."""

    popen: subprocess.Popen
    out: Path
    joined: int | None = None
    received: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Posted:
    responder_id: int
    sent: float  # epoch time the POST left
    status: int  # HTTP status; 0 when the request itself failed


def seed(db_url: str, answers: int) -> Seeded:
    """A console user and an open incident whose alert reached `answers`
    responders, one notification each: every answer is a first answer of a
    different responder, so each one is recorded and shown."""
    migrate.upgrade(db_url)
    tag = uuid.uuid4().hex[:8]  # a reused database (PostgreSQL) keeps older runs
    password = secrets.token_urlsafe(12)
    db = Database(db_url)
    with db.write() as s:
        agency = Agency(slug=f"bench-{tag}", name=f"Console bench {tag}")
        user = User(
            username=f"bench-{tag}", password_hash=generate_password_hash(password), role="observer"
        )
        s.add_all([agency, user])
        s.flush()
        responder_rows = [
            {"agency_id": agency.id, "name": f"Responder {i}"} for i in range(answers)
        ]
        responder_ids = list(
            s.scalars(
                insert(Responder).returning(Responder.id, sort_by_parameter_order=True),
                responder_rows,
            ).all()
        )
        incident = Incident(
            title="Console bench", kind="other", severity="major", lat=51.45, lon=-2.59
        )
        alert = Alert(incident=incident, message="Benchmark alert.", channels=["push"])
        alert.agencies = [agency]
        s.add(alert)
        s.flush()
        notification_ids = list(
            s.scalars(
                insert(Notification).returning(Notification.id, sort_by_parameter_order=True),
                [
                    {"alert_id": alert.id, "responder_id": rid, "channel": "push",
                     "address": f"bench-{rid}", "status": "delivered"}
                    for rid in responder_ids
                ],
            ).all()
        )  # fmt: skip
        incident_id = incident.id
    db.dispose()
    return Seeded(incident_id, notification_ids, responder_ids, user.username, password)


class ConsolesBench:
    """One bench environment: a database, one hub, console processes."""

    def __init__(self, clients: int, processes: int, database_url: str | None) -> None:
        self.clients = clients
        self.processes = max(1, min(processes, clients))
        self.dir = Path(tempfile.mkdtemp(prefix="tocsin-bench-consoles-"))
        self.db_url = database_url or f"sqlite:///{self.dir}/bench.db"
        self.hub_url = f"http://127.0.0.1:{free_port()}"
        self.secret = secrets.token_urlsafe(32)
        self.hub: subprocess.Popen | None = None
        self.groups: list[ConsoleGroup] = []

    def start_hub(self) -> None:
        """`tocsin run` without a simulator: the hub, its loops and the embedded transport."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
        env.update(
            TOCSIN_DATABASE_URL=self.db_url,
            TOCSIN_SECRET_KEY=self.secret,
            TOCSIN_PUBLIC_URL=self.hub_url,
            TOCSIN_SIMULATOR="0",
        )
        port = self.hub_url.rsplit(":", 1)[1]
        with open(self.dir / "hub.log", "w") as log:
            self.hub = subprocess.Popen(
                [sys.executable, "-m", "coordinator", "run", "--port", port],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        wait_http(f"{self.hub_url}/login", "the hub", timeout=60)

    def sign_in(self, username: str, password: str) -> str:
        """Sign in once; every console presents the same session cookie."""
        session = requests.Session()
        token = csrf(session.get(f"{self.hub_url}/login", timeout=10).text)
        reply = session.post(
            f"{self.hub_url}/login",
            data={"username": username, "password": password, "csrf_token": token},
            timeout=10,
            allow_redirects=False,
        )
        if reply.status_code != 302:
            raise SystemExit(f"signing in to the hub failed: HTTP {reply.status_code}")
        return "; ".join(f"{c.name}={c.value}" for c in session.cookies)

    def start_consoles(self, incident_id: int, cookie: str) -> None:
        env = {**os.environ, COOKIE_ENV: cookie}
        for i in range(self.processes):
            count = self.clients // self.processes + (i < self.clients % self.processes)
            out = self.dir / f"consoles-{i}.json"
            popen = subprocess.Popen(
                [sys.executable, "-c", CONSOLES_ENTRY, self.hub_url, str(incident_id),
                 str(count), str(out)],
                env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            group = ConsoleGroup(popen, out)
            self.groups.append(group)
            gevent.spawn(_follow, group)

    def joined(self) -> int | None:
        """Consoles in the room, once every process has said (None before)."""
        if any(g.joined is None for g in self.groups):
            return None
        return sum(g.joined or 0 for g in self.groups)

    def received(self) -> int:
        return sum(g.received for g in self.groups)

    def check_alive(self) -> None:
        if self.hub is not None and self.hub.poll() is not None:
            raise SystemExit(f"the hub exited ({self.hub.returncode}); see {self.dir}/hub.log")
        for g in self.groups:
            if g.popen.poll() not in (None, 0):
                raise SystemExit(f"a console process exited ({g.popen.returncode})")

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of the hub and of each console process."""
        assert self.hub is not None
        procs = {"hub": self.hub} | {f"consoles {i}": g.popen for i, g in enumerate(self.groups)}
        return {name: cpu_seconds(p.pid) for name, p in procs.items()}

    def stop_consoles(self) -> list[dict]:
        """SIGTERM: each process writes what its consoles received, then exits."""
        for g in self.groups:
            if g.popen.poll() is None:
                g.popen.send_signal(signal.SIGTERM)
        for g in self.groups:
            g.popen.wait(timeout=60)
        return [c for g in self.groups for c in json.loads(g.out.read_text())]

    def stop(self) -> None:
        for popen in [g.popen for g in self.groups] + ([self.hub] if self.hub else []):
            if popen.poll() is None:
                popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()


def _follow(group: ConsoleGroup) -> None:
    """Read a console process's progress lines as they come."""
    assert group.popen.stdout is not None
    for line in group.popen.stdout:
        word, _, rest = line.strip().partition(" ")
        if word == "joined":
            group.joined = int(rest)
        elif word == "received":
            group.received = int(rest)
        elif word == "error":
            group.errors.append(rest)


def _status_mib(pid: int, key: str) -> float:
    """A memory figure of /proc/<pid>/status (VmRSS now, VmHWM the peak), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def post_answers(
    bench: ConsolesBench, urls: list[tuple[int, str]], rate: float, progress: dict[str, int]
) -> list[Posted]:
    """POST one answer per URL, the i-th at start + i/rate (open loop: a slow
    hub does not slow the pace until POSTING answers are in flight)."""
    sessions: Queue[requests.Session] = Queue()
    for _ in range(POSTING):
        sessions.put(requests.Session())
    posted: list[Posted] = []

    def post(i: int, responder_id: int, url: str) -> None:
        session = sessions.get()
        sent = time.time()
        try:
            reply = session.post(url, data={"answer": ANSWERS[i % len(ANSWERS)]}, timeout=60)
            status = reply.status_code
        except requests.RequestException:
            status = 0
        finally:
            sessions.put(session)
        posted.append(Posted(responder_id, sent, status))

    pool = Pool(POSTING)
    start = time.monotonic()
    for i, (responder_id, url) in enumerate(urls):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)
        bench.check_alive()
        pool.spawn(post, i, responder_id, url)
        progress["sent"] = i + 1
    pool.join()
    return posted


def report_progress(bench: ConsolesBench, progress: dict[str, int], stop: Event) -> None:
    """A line a second on stderr: consoles in the room, answers sent, events in."""
    started = time.monotonic()
    while not stop.wait(1.0):
        joined = bench.joined()
        print(
            f"  ... {time.monotonic() - started:4.0f} s: "
            f"{'?' if joined is None else joined}/{bench.clients} consoles joined, "
            f"{progress['sent']:,} answers sent, {bench.received():,} events received",
            file=sys.stderr,
            flush=True,
        )


def wait_joined(bench: ConsolesBench, timeout: float) -> int:
    """Consoles in the room once every process has joined its own; a process
    or the hub dying on the way ends the bench at once, not at the timeout."""
    deadline = time.monotonic() + timeout
    while (joined := bench.joined()) is None:
        bench.check_alive()
        if time.monotonic() > deadline:
            raise SystemExit(f"connecting the consoles took longer than {timeout:.0f} s")
        gevent.sleep(0.2)
    return joined


def drain(bench: ConsolesBench, expected: int) -> None:
    """Wait until every console has every answer, or nothing arrived for QUIET_SECONDS."""
    last, quiet_since = -1, time.monotonic()
    while bench.received() < expected:
        bench.check_alive()
        if bench.received() != last:
            last, quiet_since = bench.received(), time.monotonic()
        elif time.monotonic() - quiet_since > QUIET_SECONDS:
            return
        gevent.sleep(0.2)


def received_at(db_url: str, incident_id: int) -> dict[int, float]:
    """Responder id -> epoch time the hub recorded the answer (its received_at).

    SQLite gives the UTC time back without its zone; PostgreSQL with it."""
    db = Database(db_url)
    rows = db.session.execute(
        select(Response.responder_id, Response.received_at)
        .join(Alert, Alert.id == Response.alert_id)
        .where(Alert.incident_id == incident_id)
    ).all()
    db.dispose()
    return {rid: _epoch(at) for rid, at in rows}


def _epoch(at: datetime) -> float:
    return as_utc(at).timestamp()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))] if ordered else float("nan")


@dataclass
class Figures:
    consoles: int
    answers: int
    rate: float
    last_ms: list[float]  # per answer: received_at -> the last console got it
    each_ms: list[float]  # per delivery: received_at -> that console got it
    post_ms: list[float]  # per answer: POST sent -> the last console got it
    lost: int  # deliveries missing
    missed: int  # answers at least one console missed
    duplicates: int


def figures(consoles: list[dict], at: dict[int, float], posted: list[Posted]) -> Figures:
    """Delays per answer and per delivery; losses counted, never dropped silently."""
    sent = {p.responder_id: p.sent for p in posted}
    last_ms, each_ms, post_ms = [], [], []
    lost = missed = 0
    received = [c["received"] for c in consoles]
    for rid, t0 in at.items():
        got = [r[key] for r in received if (key := str(rid)) in r]
        if len(got) < len(received):
            lost += len(received) - len(got)
            missed += 1
        if got:
            last_ms.append((max(got) - t0) * 1000)
            each_ms.extend((t - t0) * 1000 for t in got)
            if rid in sent:
                post_ms.append((max(got) - sent[rid]) * 1000)
    span = max(at.values()) - min(at.values()) if len(at) > 1 else 0.0
    return Figures(
        consoles=len(consoles),
        answers=len(at),
        rate=(len(at) - 1) / span if span > 0 else float(len(at)),
        last_ms=last_ms,
        each_ms=each_ms,
        post_ms=post_ms,
        lost=lost,
        missed=missed,
        duplicates=sum(c["duplicates"] for c in consoles),
    )


@dataclass
class Run:
    """What one measured run saw, before the figures are worked out."""

    clients: int  # consoles asked for
    consoles: list[dict]  # each joined console's summary (received, duplicates, error)
    at: dict[int, float]  # responder id -> the hub's received_at
    posted: list[Posted]
    posting_s: float
    busy_s: float  # from the first answer until the last event came
    cpu: dict[str, float]  # process -> CPU seconds over busy_s
    rss_joined: float
    hub_peak: float


def measure(bench: ConsolesBench, rate: float, count: int) -> Run:
    """Seed, start the hub, join the consoles, post `count` answers at `rate`,
    wait for the events; the processes are stopped before this returns."""
    seeded = seed(bench.db_url, count)
    bench.start_hub()
    assert bench.hub is not None
    cookie = bench.sign_in(seeded.username, seeded.password)
    progress, stop_progress = {"sent": 0}, Event()
    gevent.spawn(report_progress, bench, progress, stop_progress)
    try:
        bench.start_consoles(seeded.incident_id, cookie)
        joined = wait_joined(bench, timeout=300)
        for error in sorted({e for g in bench.groups for e in g.errors}):
            print(f"  console error: {error}")
        if not joined:
            raise SystemExit("no console could join the incident's room")
        rss_joined = _status_mib(bench.hub.pid, "VmRSS")
        cpu_before = bench.cpu()
        started = time.monotonic()
        posted = post_answers(bench, answer_urls(bench, seeded), rate, progress)
        posting_s = time.monotonic() - started
        drain(bench, joined * sum(p.status == 200 for p in posted))
        busy_s = time.monotonic() - started
        cpu = {name: s - cpu_before[name] for name, s in bench.cpu().items()}
        hub_peak = _status_mib(bench.hub.pid, "VmHWM")
    finally:
        stop_progress.set()
    consoles = [c for c in bench.stop_consoles() if not c["error"].startswith("could not")]
    bench.stop()
    print(f"  hub pid {bench.hub.pid} stopped (exit {bench.hub.returncode})")
    at = received_at(bench.db_url, seeded.incident_id)
    return Run(bench.clients, consoles, at, posted, posting_s, busy_s, cpu, rss_joined, hub_peak)


def answer_urls(bench: ConsolesBench, seeded: Seeded) -> list[tuple[int, str]]:
    """(responder id, signed answer link) for each notification, signed as the hub signs."""
    signer = LinkSigner(bench.secret, bench.hub_url, 24)
    return [
        (rid, signer.url_for(nid))
        for rid, nid in zip(seeded.responder_ids, seeded.notification_ids, strict=True)
    ]


def main(
    clients: int, rate: float, seconds: float, processes: int, database_url: str | None
) -> None:
    count = max(1, round(rate * seconds))
    bench = ConsolesBench(clients, processes, database_url)
    print(
        f"consoles: {clients} Socket.IO consoles ({bench.processes} client process(es)) on one "
        f"hub (`tocsin run`, embedded transport, {bench.db_url.split(':', 1)[0]}), "
        f"{count:,} answers at {rate:g}/s"
    )
    ok = False
    try:
        ok = report(measure(bench, rate, count))
    finally:
        bench.stop()
        if ok:
            shutil.rmtree(bench.dir, ignore_errors=True)
        else:
            print(f"  logs and data kept in {bench.dir}", file=sys.stderr)
    if not ok:
        sys.exit(1)


def report(run: Run) -> bool:
    """Print the figures, the fixed line last; False when a console could not
    join, an answer failed or an event was lost (the figures are printed all the same)."""
    r = figures(run.consoles, run.at, run.posted)
    failed = sum(p.status != 200 for p in run.posted)
    dropped = sum(1 for c in run.consoles if c["error"])
    print(
        f"  answers: {len(run.posted):,} posted in {run.posting_s:.1f} s, {r.answers:,} recorded, "
        f"{failed} failed; recorded at {r.rate:.1f}/s (hub received_at, first to last)"
    )
    print(
        f"  events: {r.answers * r.consoles - r.lost:,} of {r.answers * r.consoles:,} delivered, "
        f"{r.lost:,} lost ({r.missed} answers missed by some console, "
        f"{dropped} consoles disconnected), {r.duplicates} duplicates"
    )
    print(
        f"  answer received -> every console updated: median {_pct(r.last_ms, 0.5):.0f} ms, "
        f"p99 {_pct(r.last_ms, 0.99):.0f} ms, max {_pct(r.last_ms, 1.0):.0f} ms "
        "(from the hub's received_at; same clock as the consoles)"
    )
    print(
        f"  answer received -> one console (all deliveries): median "
        f"{_pct(r.each_ms, 0.5):.0f} ms, p99 {_pct(r.each_ms, 0.99):.0f} ms"
    )
    print(
        f"  POST sent -> every console updated: median {_pct(r.post_ms, 0.5):.0f} ms, "
        f"p99 {_pct(r.post_ms, 0.99):.0f} ms"
    )
    shares = ", ".join(f"{name} {s:.1f} s ({s / run.busy_s:.0%})" for name, s in run.cpu.items())
    print(
        f"  CPU over {run.busy_s:.1f} s of answers and delivery: {shares}; "
        f"hub {run.cpu['hub'] * 1000 / max(r.answers, 1):.1f} ms per answer; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"  hub memory: {run.rss_joined:.0f} MiB with the consoles joined, "
        f"peak {run.hub_peak:.0f} MiB"
    )
    print(
        f"consoles: {r.consoles} clients, {r.rate:.0f} answers/s, "
        f"median {_pct(r.last_ms, 0.5):.0f} ms, p99 {_pct(r.last_ms, 0.99):.0f} ms, "
        f"hub {run.hub_peak:.0f} MiB"
    )
    complete = r.consoles == run.clients and r.answers == len(run.posted)
    return complete and failed == 0 and r.lost == 0
