"""Alerts declared while RabbitMQ is down wait in the outbox and all go out after."""

from sqlalchemy import func, select

from coordinator.models import Outbox
from tests.helpers import wait_until
from tests.helpers.rabbit import broker_stopped
from tests.helpers.system import start_system


def unpublished(system) -> int:
    count = system.tocsin.db.session.scalar(
        select(func.count()).select_from(Outbox).where(Outbox.published_at.is_(None))
    )
    system.tocsin.db.remove()
    return count


def test_it_loses_nothing_when_the_broker_stops(tmp_path, amqp_url):
    system = start_system(f"sqlite:///{tmp_path / 'outage.db'}", amqp_url)
    try:
        commander = system.browser()
        system.declare(commander, ["police"])
        system.sim.wait_for("messages", 6)  # before the outage: police has 2 teams of 3

        with broker_stopped():
            system.declare(commander, ["fire", "ambulance"])
            system.declare(commander, ["council"])
            waiting = unpublished(system)
            assert waiting == 2 * (9 + 3)  # SMS and email for each responder
            # The relay keeps trying; nothing is marked published while the broker is away.
            wait_until(
                lambda: system.tocsin.db.session.scalar(
                    select(func.max(Outbox.attempts)).where(Outbox.published_at.is_(None))
                ),
                what="the relay to try and fail",
            )
            assert unpublished(system) == waiting
            assert len(system.sim.messages()) == 6

        wait_until(lambda: unpublished(system) == 0, timeout=60, what="the outbox to drain")
        sms = [n for n in system.notifications() if n.channel == "sms"]
        delivered = system.sim.wait_for("messages", len(sms), timeout=60)
        assert sorted(m["to"] for m in delivered) == sorted(n.address for n in sms)
        system.sim.wait_for("emails", len(sms), timeout=60)
        wait_until(
            lambda: all(n.status in ("sent", "delivered") for n in system.notifications()),
            timeout=60,
            what="every notification to be reported sent",
        )
    finally:
        system.shutdown()
        system.transport.delete_all()
