"""Several hubs: what one hub emits reaches consoles connected to another.

Two real `tocsin hub` processes share one PostgreSQL database and RabbitMQ, as
they do behind a load balancer; consoles are real Socket.IO clients over
websockets. Hub A reaches RabbitMQ's Socket.IO exchange through a TCP proxy
the test can cut, to show a short outage neither crashes the hub nor loses the
answers given meanwhile (the shared broker stays up for everyone else).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import gevent
import pika
import pytest
import requests
import socketio as socketio_client
from gevent.server import StreamServer
from pika.exceptions import ChannelClosedByBroker
from sqlalchemy import select
from sqlalchemy.engine import make_url

from broker.env import ConfigError
from broker.messages import ResultEvent
from broker.rabbit import RabbitTransport
from coordinator.app import create_app
from coordinator.config import Settings
from coordinator.db import Database
from coordinator.extensions import HubQueue, socketio
from coordinator.links import LinkSigner
from coordinator.models import Alert, Notification
from coordinator.seed import seed_demo
from tests.conftest import (
    DEMO_HASH,
    DEMO_PASSWORD,
    PG_URL,
    _pg_admin,
    free_port,
    fresh_topology,
    make_settings,
)
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parent.parent
SECRET = "hubs-test-secret-" + "y" * 32
BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"

# --- the setting ------------------------------------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("TOCSIN_AMQP_URL", "TOCSIN_SOCKETIO_QUEUE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOCSIN_SECRET_KEY", SECRET)
    return monkeypatch


def test_it_shares_emits_through_rabbitmq_when_there_is_one(env):
    assert Settings.from_env().socketio_queue == ""
    env.setenv("TOCSIN_AMQP_URL", BROKER)
    assert Settings.from_env().socketio_queue == BROKER


@pytest.mark.parametrize("off", ["none", "off", "OFF"])
def test_it_keeps_emits_in_one_hub_when_told(env, off):
    env.setenv("TOCSIN_AMQP_URL", BROKER)
    env.setenv("TOCSIN_SOCKETIO_QUEUE", off)
    assert Settings.from_env().socketio_queue == ""


def test_it_takes_a_queue_of_its_own(env):
    env.setenv("TOCSIN_AMQP_URL", BROKER)
    env.setenv("TOCSIN_SOCKETIO_QUEUE", "amqps://hub:pw@rabbit.example:5671/tocsin")
    assert Settings.from_env().socketio_queue == "amqps://hub:pw@rabbit.example:5671/tocsin"


@pytest.mark.parametrize(
    ("name", "url", "says"),
    [
        ("TOCSIN_SOCKETIO_QUEUE", "redis://:s3cret@cache:6379", "unsupported broker URL scheme"),
        ("TOCSIN_SOCKETIO_QUEUE", "amqp://u:s3cret@rabbit:five/", "port in the broker URL"),
        ("TOCSIN_SOCKETIO_QUEUE", "amqp://u:s3cret@rabbit:70000/", "port in the broker URL"),
        ("TOCSIN_AMQP_URL", "kafka://u:s3cret@rabbit", "unsupported broker URL scheme"),
    ],
)
def test_it_refuses_a_bad_queue_url_naming_the_setting(env, name, url, says):
    env.setenv(name, url)
    with pytest.raises(ConfigError, match=f"^{name}: .*{says}") as caught:
        Settings.from_env()
    assert "s3cret" not in str(caught.value)


def test_the_hub_command_stops_at_a_bad_queue_url(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update(
        PYTHONPATH=str(ROOT),
        TOCSIN_DATABASE_URL=f"sqlite:///{tmp_path / 'hub.db'}",
        TOCSIN_AMQP_URL=BROKER,
        TOCSIN_SOCKETIO_QUEUE="http://rabbit:15672/",
    )
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "hub", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "configuration error: TOCSIN_SOCKETIO_QUEUE: unsupported broker URL scheme 'http'" in (
        result.stderr
    )


def test_an_app_without_a_queue_does_not_inherit_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'apps.db'}"
    queued = create_app(make_settings(url, socketio_queue=BROKER, amqp_prefix="t-apps."))
    manager = socketio.server.manager
    assert isinstance(manager, HubQueue)
    assert manager.channel == "t-apps.tocsin.socketio"
    assert manager.queue_name == f"t-apps.tocsin.socketio.{socket.gethostname()}.{os.getpid()}"
    queued.extensions["tocsin"].db.dispose()

    plain = create_app(make_settings(url), TESTING=True)
    assert not isinstance(socketio.server.manager, HubQueue)
    client = plain.test_client()
    board = socketio.test_client(plain, flask_test_client=client)  # refuses a queue manager
    assert board.is_connected()
    board.disconnect()
    plain.extensions["tocsin"].db.dispose()


# --- two hub processes ------------------------------------------------------


class Proxy:
    """A TCP relay to RabbitMQ that the test can cut and restore on one port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: StreamServer | None = None
        self._sockets: list[socket.socket] = []

    def start(self) -> None:
        self._server = StreamServer(("127.0.0.1", self.port), self._relay)
        self._server.start()

    def cut(self) -> None:
        """Refuse new connections and drop the open ones, as a broker going away does."""
        assert self._server is not None
        self.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()

    def _relay(self, client: socket.socket, _address: object) -> None:
        upstream = socket.create_connection(self.target)
        self._sockets += [client, upstream]
        pumps = [gevent.spawn(_pump, client, upstream), gevent.spawn(_pump, upstream, client)]
        gevent.joinall(pumps, count=1)
        gevent.killall(pumps)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass


@dataclass
class Hub:
    name: str
    url: str
    process: subprocess.Popen
    log: Path

    def queue_name(self, prefix: str) -> str:
        """The queue HubQueue reads in that process."""
        return f"{prefix}tocsin.socketio.{socket.gethostname()}.{self.process.pid}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Hubs:
    a: Hub
    b: Hub
    db: Database
    prefix: str
    topology: object
    proxy: Proxy
    links: LinkSigner
    consoles: list[socketio_client.Client] = field(default_factory=list)

    def signed_in(self, hub: Hub, username: str = "commander") -> requests.Session:
        session = requests.Session()
        page = session.get(f"{hub.url}/login", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        response = session.post(
            f"{hub.url}/login",
            data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token[1]},
            timeout=10,
        )
        assert response.ok, response.text
        return session

    def declare(self, hub: Hub) -> int:
        session = self.signed_in(hub)
        page = session.get(f"{hub.url}/incidents/new", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
        response = session.post(
            f"{hub.url}/incidents/new",
            data={
                "csrf_token": token,
                "title": "Warehouse fire, Avonmouth",
                "kind": "fire",
                "severity": "major",
                "lat": "51.50",
                "lon": "-2.70",
                "message": "Smoke over the M5.",
                "agencies": ["fire"],
                "channels": ["sms"],
            },
            timeout=20,
            allow_redirects=False,
        )
        assert response.status_code == 302, response.text
        return int(response.headers["Location"].rsplit("/", 1)[1])

    def notifications(self, incident_id: int) -> list[Notification]:
        rows = self.db.session.scalars(
            select(Notification)
            .join(Notification.alert)
            .where(Alert.incident_id == incident_id)
            .order_by(Notification.id)
        ).all()
        self.db.remove()
        return list(rows)

    def console(self, hub: Hub, incident_id: int) -> dict[str, list[dict]]:
        """A signed-in board on `hub`, in the incident's room; returns what it receives.

        Waits until the hub reads its queue: only then can another hub's emit reach it.
        """
        cookie = self.signed_in(hub).cookies["session"]
        received: dict[str, list[dict]] = {"response": [], "notifications": []}
        client = socketio_client.Client(reconnection=False)
        client.on("responses", lambda batch: received["response"].extend(batch))
        client.on("notifications", lambda batch: received["notifications"].extend(batch))
        client.connect(
            hub.url, headers={"Cookie": f"session={cookie}"}, transports=["websocket"],
            wait_timeout=10,
        )  # fmt: skip
        self.consoles.append(client)
        assert client.call("join", {"incident_id": incident_id}, timeout=10) == {"ok": True}
        self.wait_listening(hub)
        return received

    def wait_listening(self, hub: Hub) -> None:
        name = hub.queue_name(self.prefix)
        wait_until(lambda: _consumers(name) > 0, timeout=30, what=f"{hub.name} reads {name}")

    def answer(self, hub: Hub, notification_id: int, answer: str, **form: str) -> str:
        path = urlparse(self.links.url_for(notification_id)).path
        response = requests.post(f"{hub.url}{path}", data={"answer": answer, **form}, timeout=30)
        assert response.status_code == 200, response.text
        return response.text


def _consumers(queue: str) -> int:
    """Consumers on `queue`, 0 while it does not exist."""
    connection = pika.BlockingConnection(pika.URLParameters(BROKER))
    try:
        channel = connection.channel()
        try:
            return channel.queue_declare(queue, passive=True).method.consumer_count
        except ChannelClosedByBroker:
            return 0
    finally:
        connection.close()


def _delete(queues: list[str], exchange: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(BROKER))
    try:
        channel = connection.channel()
        for queue in queues:
            channel.queue_delete(queue)
        channel.exchange_delete(exchange)
    finally:
        connection.close()


def _start_hub(name: str, tmp: Path, env: dict[str, str], public_url: str) -> Hub:
    port = int(urlparse(public_url).port) if name == "A" else free_port()
    log = tmp / f"hub-{name}.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "coordinator", "hub", "--port", str(port)],
            cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    hub = Hub(name, f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until(lambda: _serving(hub), timeout=60, what=f"hub {name} to serve")
    except BaseException:
        hub.stop()
        raise
    return hub


def _serving(hub: Hub) -> bool:
    assert hub.process.poll() is None, f"hub {hub.name} exited:\n{hub.log.read_text()[-3000:]}"
    try:
        return requests.get(f"{hub.url}/login", timeout=2).ok
    except requests.ConnectionError:
        return False


@pytest.fixture(scope="module")
def hubs(
    amqp_url: str, pg_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hubs]:
    """Hubs A and B on one fresh PostgreSQL database and a fresh RabbitMQ prefix;
    everything is stopped and deleted at the end."""
    name = f"tocsin_hubs_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    db_url = make_url(PG_URL).set(database=name).render_as_string(False)
    db = Database(db_url)
    seed_demo(db, DEMO_PASSWORD, DEMO_HASH)
    topology = fresh_topology()
    broker = urlparse(amqp_url)
    proxy = Proxy((broker.hostname, broker.port or 5672))
    proxy.start()
    tmp = tmp_path_factory.mktemp("hubs")
    public_url = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update(
        PYTHONPATH=str(ROOT),
        TOCSIN_DATABASE_URL=db_url,
        TOCSIN_AMQP_URL=amqp_url,
        TOCSIN_AMQP_PREFIX=topology.prefix,
        TOCSIN_SECRET_KEY=SECRET,
        TOCSIN_PUBLIC_URL=public_url,
    )
    started: list[Hub] = []
    try:
        credentials = broker.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{proxy.port}".lstrip("@")
        via_proxy = urlunparse(broker._replace(netloc=netloc))
        started.append(
            _start_hub("A", tmp, {**env, "TOCSIN_SOCKETIO_QUEUE": via_proxy}, public_url)
        )
        started.append(_start_hub("B", tmp, env, public_url))
        links = LinkSigner(SECRET, public_url, 24)
        hubs = Hubs(*started, db, topology.prefix, topology, proxy, links)
        yield hubs
        for console in hubs.consoles:
            console.disconnect()
    finally:
        for hub in started:
            hub.stop()
        proxy.close()
        queues = [hub.queue_name(topology.prefix) for hub in started]
        _delete(queues, f"{topology.prefix}tocsin.socketio")
        RabbitTransport(amqp_url, topology).delete_all()
        db.dispose()
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.rabbitmq
@pytest.mark.postgres
def test_an_answer_through_one_hub_reaches_consoles_on_both(hubs: Hubs):
    incident_id = hubs.declare(hubs.a)
    on_a = hubs.console(hubs.a, incident_id)
    on_b = hubs.console(hubs.b, incident_id)
    first, second = hubs.notifications(incident_id)[:2]

    hubs.answer(hubs.a, first.id, "en_route", eta_minutes="12", lat="51.46", lon="-2.59")
    for board in (on_a, on_b):
        seen = wait_until(lambda b=board: b["response"], what="the answer on both boards")
        assert [(r["responder_id"], r["answer"], r["eta_minutes"], r["lat"], r["lon"])
                for r in seen] == [(first.responder_id, "en_route", 12, 51.46, -2.59)]  # fmt: skip

    # And the other way round: answered through B, shown on A.
    hubs.answer(hubs.b, second.id, "unavailable")
    for board in (on_a, on_b):
        wait_until(lambda b=board: len(b["response"]) == 2, what="the second answer")
        assert (board["response"][1]["responder_id"], board["response"][1]["answer"]) == (
            second.responder_id,
            "unavailable",
        )


@pytest.mark.rabbitmq
@pytest.mark.postgres
def test_statuses_from_a_background_loop_reach_consoles_on_both(hubs: Hubs):
    """Worker results land on whichever hub RabbitMQ hands them to; its status
    writer (a greenlet, no request) emits, and both boards see every status."""
    incident_id = hubs.declare(hubs.b)
    on_a = hubs.console(hubs.a, incident_id)
    on_b = hubs.console(hubs.b, incident_id)
    sms = hubs.notifications(incident_id)
    worker = RabbitTransport(BROKER, hubs.topology)
    try:
        for n in sms:
            worker.publish_event(ResultEvent(n.id, incident_id, "sms", "sent", f"SM{n.id:032x}"))
    finally:
        worker.close()
    expected = {n.id for n in sms}
    for board in (on_a, on_b):
        wait_until(
            lambda b=board: (
                {s["id"] for s in b["notifications"] if s["status"] == "sent"} == expected
            ),
            timeout=30,
            what="every notification shown sent on both boards",
        )


@pytest.mark.rabbitmq
@pytest.mark.postgres
def test_a_short_rabbitmq_outage_delays_but_loses_nothing(hubs: Hubs):
    incident_id = hubs.declare(hubs.a)
    on_a = hubs.console(hubs.a, incident_id)
    on_b = hubs.console(hubs.b, incident_id)
    first, second = hubs.notifications(incident_id)[:2]

    hubs.proxy.cut()  # hub A can no longer reach RabbitMQ for Socket.IO
    page = hubs.answer(hubs.a, first.id, "acknowledged")  # answers without waiting for it
    assert "Recorded" in page
    wait_until(lambda: on_a["response"], what="the answer on hub A's own board at once")
    hubs.answer(hubs.b, second.id, "on_scene")  # waits in hub A's queue meanwhile
    wait_until(lambda: on_b["response"], what="hub B's answer on its own board")
    assert hubs.a.process.poll() is None

    hubs.proxy.start()
    wait_until(lambda: len(on_b["response"]) == 2, timeout=60, what="A's answer on B's board")
    wait_until(lambda: len(on_a["response"]) == 2, timeout=90, what="B's answer on A's board")
    assert {(r["responder_id"], r["answer"]) for r in on_b["response"]} == {
        (first.responder_id, "acknowledged"),
        (second.responder_id, "on_scene"),
    }
    assert {(r["responder_id"], r["answer"]) for r in on_a["response"]} == {
        (first.responder_id, "acknowledged"),
        (second.responder_id, "on_scene"),
    }
    log = hubs.a.log.read_text()
    assert "Socket.IO queue: cannot publish to RabbitMQ" in log
    assert "Socket.IO queue: publishing to RabbitMQ again" in log
