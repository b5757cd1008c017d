"""`tocsin bench fanout`: how fast one alert reaches 10,000 responders x 2 channels.

Everything is real and on this machine: RabbitMQ, a `tocsin hub` and `tocsin
worker` process, and the provider simulator answering with ~200 ms latency.
Two references run against the same simulator: the ceiling (the bare twilio
client, 200 greenlets posting straight to it: no database, no broker) and
apprise notifying as many push endpoints with its own fan-out.
Figures are printed, never asserted: timing on a shared machine is noise.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import apprise
import gevent
import requests
from gevent.pool import Pool
from sqlalchemy import insert, select
from werkzeug.security import generate_password_hash

from broker.rabbit import RabbitTransport
from broker.topology import Topology
from coordinator import migrate
from coordinator.db import Database
from coordinator.models import Agency, ContactPoint, Responder, User
from notifier.twilio_http import twilio_client

SID = "AC" + "b" * 32
TOKEN = "bench-auth-token"
SENDER = "+15005550006"
CLK_TCK = os.sysconf("SC_CLK_TCK")
KINDS = {"sms": "messages", "push": "pushes"}  # the simulator's record of each channel


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    cpu_start: float = 0.0

    def cpu(self) -> float:
        return cpu_seconds(self.popen.pid) - self.cpu_start

    def peak_mib(self) -> float:
        return _peak_rss_mib(self.popen.pid)


@dataclass
class RunResult:
    notifications: int
    seconds: float
    rate: float
    first_ms: float
    p99_ms: float
    cpu: dict[str, float] = field(default_factory=dict)
    peak: dict[str, float] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / CLK_TCK  # utime + stime


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _rabbit_pid() -> int | None:
    out = subprocess.run(["pgrep", "-f", "beam.smp.*rabbit"], capture_output=True, text=True)
    pids = out.stdout.split()
    return int(pids[0]) if pids else None


class Fanout:
    """One bench environment: database, broker prefix, simulator, hub, workers."""

    def __init__(self, responders: int, latency_ms: float, concurrency: int, amqp_url: str) -> None:
        self.responders = responders
        self.latency_ms = latency_ms
        self.concurrency = concurrency
        self.amqp_url = amqp_url
        self.dir = Path(tempfile.mkdtemp(prefix="tocsin-bench-"))
        self.db_url = (
            os.environ.get("TOCSIN_BENCH_DATABASE_URL") or f"sqlite:///{self.dir}/bench.db"
        )
        self.prefix = f"bench{uuid.uuid4().hex[:6]}."
        self.sim_port, self.hub_port = free_port(), free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.hub_url = f"http://127.0.0.1:{self.hub_port}"
        self.procs: list[Proc] = []

    # -- setting up -------------------------------------------------------

    def seed(self) -> None:
        """An agency of N responders, each with an SMS number and an ntfy topic."""
        migrate.upgrade(self.db_url)
        db = Database(self.db_url)
        with db.write() as s:
            s.add(Agency(slug="bench", name="Bench agency"))
            s.add(User(username="bench", password_hash=_hash(), role="commander"))
            s.flush()
            agency_id = s.scalar(select(Agency.id))
            s.execute(
                insert(Responder),
                [
                    {"agency_id": agency_id, "name": f"Responder {i}", "on_duty": True,
                     "language": "en", "skills": []}
                    for i in range(self.responders)
                ],
            )  # fmt: skip
            ids = s.scalars(select(Responder.id).order_by(Responder.id)).all()
            s.execute(
                insert(ContactPoint),
                [
                    row
                    for rid in ids
                    for row in (
                        {"responder_id": rid, "channel": "sms", "position": 0,
                         "address": f"+1555{rid:07d}"},
                        {"responder_id": rid, "channel": "push", "position": 1,
                         "address": f"ntfy://127.0.0.1:{self.sim_port}/bench-{rid}"},
                    )
                ],
            )  # fmt: skip
        db.dispose()

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
        env.update(
            TOCSIN_DATABASE_URL=self.db_url,
            TOCSIN_AMQP_URL=self.amqp_url,
            TOCSIN_AMQP_PREFIX=self.prefix,
            TOCSIN_PUBLIC_URL=self.hub_url,
            TOCSIN_SECRET_KEY=secrets.token_urlsafe(32),
            TOCSIN_TWILIO_ACCOUNT_SID=SID,
            TOCSIN_TWILIO_AUTH_TOKEN=TOKEN,
            TOCSIN_TWILIO_FROM=SENDER,
            TOCSIN_TWILIO_API_URL=self.sim_url,
            TOCSIN_SMS_CONCURRENCY=str(self.concurrency),
            TOCSIN_PUSH_CONCURRENCY=str(self.concurrency),
            TOCSIN_SMS_RATE="100000",
            TOCSIN_PUSH_RATE="100000",
        )
        env.update(extra)
        return env

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> Proc:
        log = open(self.dir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        popen = subprocess.Popen(
            [sys.executable, "-m", "coordinator", *args],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        proc = Proc(name, popen)
        self.procs.append(proc)
        return proc

    def start(self, **worker_env: str) -> None:
        self.spawn(
            "simulator",
            ["simulate", "--port", str(self.sim_port), "--smtp-port", str(free_port()),
             "--hub-url", self.hub_url, "--account-sid", SID, "--auth-token", TOKEN,
             "--answer-rate", "0", "--latency-ms-median", str(self.latency_ms)],
            self.env(),
        )  # fmt: skip
        wait_http(f"{self.sim_url}/sim/health", "the simulator")
        self.spawn("hub", ["hub", "--port", str(self.hub_port)], self.env())
        wait_http(f"{self.hub_url}/login", "the hub")
        # One worker process per channel, as a deployment runs them: each gets its own
        # interpreter (and GIL) instead of sharing one.
        for channel in ("sms", "push"):
            args = ["worker", "--channels", channel]
            self.spawn(f"{channel} worker", args, self.env(**worker_env))
        gevent.sleep(1.0)  # consumers attached
        for proc in self.procs:
            proc.cpu_start = cpu_seconds(proc.popen.pid)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
        try:
            RabbitTransport(self.amqp_url, Topology(self.prefix)).delete_all()
        except Exception as exc:  # noqa: BLE001 - cleanup only; say so and go on
            print(f"  (could not delete bench queues: {exc})", file=sys.stderr)

    # -- one measured alert ---------------------------------------------

    def alert(self, timeout: float, channels: tuple[str, ...] = ("sms", "push")) -> RunResult:
        requests.post(f"{self.sim_url}/sim/reset", timeout=10)
        session = _signed_in(self.hub_url)
        token = csrf(session.get(f"{self.hub_url}/incidents/new", timeout=10).text)
        expected = self.responders * len(channels)
        started = time.time()
        response = session.post(
            f"{self.hub_url}/incidents/new",
            data={
                "csrf_token": token, "title": "Bench fan-out", "kind": "other",
                "severity": "major", "lat": "51.45", "lon": "-2.59",
                "message": "Benchmark alert: no action needed.",
                "agencies": ["bench"], "channels": list(channels),
            },
            timeout=120, allow_redirects=False,
        )  # fmt: skip
        if response.status_code != 302:
            raise SystemExit(f"declaring the bench incident failed: {response.status_code}")
        times = _wait_for_handover(self.sim_url, expected, timeout, channels)
        offsets = sorted((t - started) * 1000 for t in times)
        seconds = (max(times) - started) if times else float("nan")
        return RunResult(
            notifications=len(times),
            seconds=seconds,
            rate=len(times) / seconds if times else 0.0,
            first_ms=offsets[0] if offsets else float("nan"),
            p99_ms=offsets[int(0.99 * (len(offsets) - 1))] if offsets else float("nan"),
            cpu={p.name: p.cpu() for p in self.procs},
            peak={p.name: p.peak_mib() for p in self.procs},
        )


def _hash() -> str:
    return generate_password_hash("bench")


def wait_http(url: str, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        gevent.sleep(0.2)
    raise SystemExit(f"{what} did not start within {timeout:.0f} s ({url})")


def csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    return html.split(marker, 1)[1].split('"', 1)[0]


def _signed_in(hub_url: str) -> requests.Session:
    session = requests.Session()
    token = csrf(session.get(f"{hub_url}/login", timeout=10).text)
    session.post(
        f"{hub_url}/login",
        data={"username": "bench", "password": "bench", "csrf_token": token},
        timeout=10,
    )
    return session


def _wait_for_handover(
    sim_url: str, expected: int, timeout: float, channels: tuple[str, ...]
) -> list[float]:
    """Poll the simulator until every notification was handed over (or time is up);
    return the epoch time at which the provider accepted each one."""
    deadline = time.monotonic() + timeout
    last_report = 0.0
    while time.monotonic() < deadline:
        stats = requests.get(f"{sim_url}/sim/stats", timeout=10).json()
        done = sum(stats[KINDS[c]] for c in channels)
        if time.monotonic() - last_report > 5:
            print(f"  ... {done:,}/{expected:,} handed to providers", file=sys.stderr)
            last_report = time.monotonic()
        if done >= expected:
            break
        gevent.sleep(0.5)
    accepted = requests.get(f"{sim_url}/sim/accepted", timeout=30).json()
    return [t for c in channels for t in accepted[KINDS[c]]]


@dataclass
class Ceiling:
    rate: float
    client_ms: float  # CPU per message, this process (the twilio client)
    simulator_ms: float  # CPU per message, the simulator


def ceiling(sim: Proc, sim_url: str, count: int, concurrency: int) -> Ceiling:
    """The bare twilio client, `concurrency` greenlets, straight at the simulator."""
    client = twilio_client(SID, TOKEN, sim_url)
    pool = Pool(concurrency)
    cpu, sim_cpu = time.process_time(), sim.cpu()
    started = time.perf_counter()
    for i in range(count):
        pool.spawn(client.messages.create, to=f"+1666{i:07d}", from_=SENDER, body="ceiling")
    pool.join()
    rate = count / (time.perf_counter() - started)
    per = 1000 / count
    return Ceiling(rate, (time.process_time() - cpu) * per, (sim.cpu() - sim_cpu) * per)


def apprise_reference(sim_url: str, count: int) -> float:
    """apprise notifying `count` ntfy endpoints at once with its own fan-out."""
    host = sim_url.removeprefix("http://")
    notifier = apprise.Apprise()
    for i in range(count):
        notifier.add(f"ntfy://{host}/apprise-{i}")
    started = time.perf_counter()
    notifier.notify(body="apprise reference", title="bench")
    return count / (time.perf_counter() - started)


def pacing(amqp_url: str, latency_ms: float, cap: float, count: int) -> float:
    """Tocsin sending `count` SMS with the SMS cap at `cap`/s; the rate achieved."""
    fanout = Fanout(count, latency_ms, concurrency=50, amqp_url=amqp_url)
    try:
        fanout.seed()
        fanout.start(TOCSIN_SMS_RATE=str(cap))
        fanout.alert(timeout=count / cap * 3 + 30, channels=("sms",))
        times = sorted(
            requests.get(f"{fanout.sim_url}/sim/accepted", timeout=30).json()["messages"]
        )
    finally:
        fanout.stop()
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def main(
    responders: int, runs: int, latency_ms: float, concurrency: int, cap: float, amqp_url: str
) -> None:
    expected = responders * 2
    results: list[RunResult] = []
    fanout = Fanout(responders, latency_ms, concurrency, amqp_url)
    print(f"fan-out: {responders:,} responders x 2 channels (SMS, push), "
          f"simulator median latency {latency_ms:.0f} ms, RabbitMQ, {runs} run(s)")  # fmt: skip
    try:
        fanout.seed()
        fanout.start()
        for run in range(1, runs + 1):
            result = fanout.alert(timeout=max(120.0, expected / 50))
            results.append(result)
            print(f"  run {run}: {result.notifications:,} in {result.seconds:.1f} s, "
                  f"{result.rate:,.0f}/s, first {result.first_ms:,.0f} ms, "
                  f"p99 {result.p99_ms:,.0f} ms")  # fmt: skip
        handled = sum(r.notifications for r in results)
        print("  process CPU and peak memory over all runs (CPU per notification handed over):")
        total_ms = 0.0
        for proc in fanout.procs:
            ms = proc.cpu() * 1000 / max(handled, 1)
            total_ms += ms
            print(f"    {proc.name:11} cpu {proc.cpu():6.1f} s  {ms:5.2f} ms   "
                  f"peak {proc.peak_mib():7.1f} MiB")  # fmt: skip
        sim = next(p for p in fanout.procs if p.name == "simulator")
        ceilings = [ceiling(sim, fanout.sim_url, expected // 2, 200) for _ in range(runs)]
        apprise_rates = [
            apprise_reference(fanout.sim_url, min(expected // 2, 500)) for _ in range(runs)
        ]
        last = results[-1]
        rabbit = _rabbit_pid()
        if rabbit:
            print(f"    rabbitmq  peak {_peak_rss_mib(rabbit):7.1f} MiB (whole node)")
    finally:
        fanout.stop()
    achieved = pacing(amqp_url, latency_ms, cap, count=int(cap * 10)) if cap else 0.0
    med = {
        k: statistics.median(getattr(r, k) for r in results)
        for k in ("rate", "seconds", "first_ms", "p99_ms")
    }
    ceiling_rate = statistics.median(c.rate for c in ceilings)
    apprise_rate = statistics.median(apprise_rates)
    client_ms = statistics.median(c.client_ms for c in ceilings)
    sim_ms = statistics.median(c.simulator_ms for c in ceilings)
    print(f"  ceiling (bare twilio client, 200 greenlets): median {ceiling_rate:,.0f}/s; "
          f"Tocsin/ceiling = {med['rate'] / ceiling_rate:.2f}")  # fmt: skip
    print(f"    CPU per message: client {client_ms:.2f} ms + simulator {sim_ms:.2f} ms = "
          f"{client_ms + sim_ms:.2f} ms (Tocsin end to end: {total_ms:.2f} ms, "
          f"{total_ms / (client_ms + sim_ms):.1f}x, RabbitMQ not counted)")  # fmt: skip
    print(f"  apprise fan-out to ntfy endpoints: median {apprise_rate:,.0f}/s; "
          f"Tocsin/apprise = {med['rate'] / apprise_rate:.1f}")  # fmt: skip
    if cap:
        off = (achieved / cap - 1) * 100
        print(f"  pacing: SMS cap {cap:g}/s, achieved {achieved:.1f}/s ({off:+.1f}%)")
    print(
        f"fanout: {last.notifications} notifications in {med['seconds']:.1f} s, "
        f"{med['rate']:.0f}/s, first {med['first_ms']:.0f} ms, p99 {med['p99_ms']:.0f} ms, "
        f"ceiling {ceiling_rate:.0f}/s, apprise {apprise_rate:.0f}/s"
    )
