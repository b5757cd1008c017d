"""A whole Tocsin hub in the test process, served on a real port, with workers.

It is composed exactly as `tocsin run` / `tocsin hub` + `tocsin worker` compose
it, around a provider simulator subprocess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import gevent
import requests
from gevent.event import Event
from gevent.pywsgi import WSGIServer
from sqlalchemy import select

from broker.topology import Topology
from broker.transport import Transport, make_transport
from coordinator import migrate
from coordinator.app import create_app
from coordinator.background import start_hub_loops
from coordinator.context import Tocsin
from coordinator.models import Notification
from coordinator.seed import seed_demo
from notifier.channels import CHANNELS, build_channels
from notifier.config import NotifierSettings
from notifier.worker import Worker
from tests.conftest import (
    DEMO_HASH,
    DEMO_PASSWORD,
    TWILIO_TOKEN,
    free_port,
    fresh_topology,
    make_settings,
)
from tests.helpers.simulator import Simulator, start_simulator


@dataclass
class System:
    app: object
    tocsin: Tocsin
    transport: Transport
    sim: Simulator
    url: str
    stop: Event
    greenlets: list[gevent.Greenlet] = field(default_factory=list)

    def browser(self, username: str = "commander") -> requests.Session:
        """A signed-in console session over real HTTP."""
        session = requests.Session()
        page = session.get(f"{self.url}/login", timeout=5).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = session.post(
            f"{self.url}/login",
            data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token},
            timeout=5,
        )
        assert response.ok, response.text
        return session

    def declare(
        self,
        session: requests.Session,
        agencies: list[str],
        channels: tuple[str, ...] = ("sms", "email"),
    ) -> int:
        page = session.get(f"{self.url}/incidents/new", timeout=5).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = session.post(
            f"{self.url}/incidents/new",
            data={
                "csrf_token": token,
                "title": "Collision on the M32",
                "kind": "collision",
                "severity": "critical",
                "lat": "51.47",
                "lon": "-2.57",
                "message": "Multi-vehicle, people trapped.",
                "agencies": agencies,
                "channels": list(channels),
            },
            timeout=10,
            allow_redirects=False,
        )
        assert response.status_code == 302, response.text
        return int(response.headers["Location"].rsplit("/", 1)[1])

    def notifications(self) -> list[Notification]:
        rows = self.tocsin.db.session.scalars(select(Notification).order_by(Notification.id)).all()
        self.tocsin.db.remove()
        return list(rows)

    def shutdown(self) -> None:
        self.stop.set()
        gevent.joinall(self.greenlets, timeout=10)
        gevent.killall(self.greenlets, timeout=5)
        self.transport.close()
        self.sim.stop()
        self.tocsin.db.dispose()


def start_system(
    db_url: str,
    amqp_url: str | None,
    *,
    max_attempts: int = 5,
    retry_delays: tuple[float, ...] | None = None,
    **sim_options: object,
) -> System:
    """The hub and a worker for every channel, in this process, on a free port.

    `sim_options` are the provider simulator's options (see start_simulator);
    `max_attempts` and `retry_delays` set how soon the notifier gives up.
    """
    migrate.upgrade(db_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sim = start_simulator(url, auth_token=TWILIO_TOKEN, **sim_options)
    try:
        app = create_app(make_settings(db_url, public_url=url), TESTING=False)
        t: Tocsin = app.extensions["tocsin"]
        seed_demo(t.db, DEMO_PASSWORD, DEMO_HASH)
        delays = {"retry_delays": retry_delays} if retry_delays else {}
        topology = fresh_topology(**delays) if amqp_url else Topology(**delays)
        transport = make_transport(amqp_url, topology)
        transport.declare()
    except BaseException:
        sim.stop()  # never leave a simulator process behind a failed start
        raise
    notifier = NotifierSettings(
        sms_rate=1000.0,
        voice_rate=1000.0,
        email_rate=1000.0,
        push_rate=1000.0,
        max_attempts=max_attempts,
        twilio_account_sid=sim.account_sid,
        twilio_auth_token=sim.auth_token,
        twilio_from="+15005550006",
        twilio_api_url=sim.url,
        email_url=f"mailto://127.0.0.1:{sim.smtp_port}?mode=insecure&format=text&from=tocsin@tocsin.local",
    )
    stop = Event()
    server = WSGIServer(("127.0.0.1", port), app, log=None)
    server.start()
    system = System(app, t, transport, sim, url, stop)
    system.greenlets = [
        *start_hub_loops(t, transport, stop),
        gevent.spawn(
            Worker(transport, build_channels(list(CHANNELS), notifier), notifier).run, stop
        ),
        gevent.spawn(lambda: (stop.wait(), server.stop(timeout=2))),
    ]
    return system
