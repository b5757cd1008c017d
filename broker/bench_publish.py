"""How fast the RabbitMQ transport publishes: publish_many against publish() in a loop.

    python -m broker.bench_publish --count 20000 --url amqp://guest:guest@127.0.0.1:5672/%2F

Every method gets a throwaway topology (random prefix, deleted afterwards) and
persistent notify messages of a realistic size routed to a quorum queue.
"""

# ruff: noqa: E402  (gevent must patch before pika is imported)
from gevent import monkey

monkey.patch_all()

import argparse
import os
import time
import uuid
from collections.abc import Callable

import gevent

from broker.base import Outgoing
from broker.messages import NotifyMessage
from broker.rabbit import RabbitTransport
from broker.topology import Topology

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def sample(count: int, exchange: str) -> list[Outgoing]:
    items: list[Outgoing] = []
    for n in range(count):
        msg = NotifyMessage(
            notification_id=n,
            alert_id=1,
            incident_id=1,
            responder_id=n,
            channel="sms",
            address=f"+1555{n:07d}",
            subject="CRITICAL chemical: Fire at the docks",
            body="Chlorine leak at berth 4. Report to the east gate; stay upwind. " * 3,
            ack_url=f"https://tocsin.example/a/{uuid.uuid4().hex}",
        )
        items.append((exchange, "sms", msg.to_json(), msg.message_id))
    return items


def publish_many(transport: RabbitTransport, items: list[Outgoing]) -> None:
    results = transport.publish_many(items)
    if not all(results):
        raise SystemExit(f"publish_many: {results.count(False)} of {len(items)} not confirmed")


def publish_loop(greenlets: int) -> Callable[[RabbitTransport, list[Outgoing]], None]:
    def run(transport: RabbitTransport, items: list[Outgoing]) -> None:
        def publish_share(share: list[Outgoing]) -> None:
            for exchange, key, body, message_id in share:
                transport.publish(exchange, key, body, message_id=message_id)

        workers = [gevent.spawn(publish_share, items[i::greenlets]) for i in range(greenlets)]
        gevent.joinall(workers, raise_error=True)

    return run


def measure(
    url: str, count: int, method: Callable[[RabbitTransport, list[Outgoing]], None]
) -> float:
    transport = RabbitTransport(url, Topology(prefix=f"bench{uuid.uuid4().hex[:8]}."))
    transport.declare()
    items = sample(count, transport.topology.notify_exchange)
    try:
        method(transport, items[:10])  # connections open outside the timing
        started = time.perf_counter()
        method(transport, items)
        return count / (time.perf_counter() - started)
    finally:
        transport.close()
        transport.delete_all()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("TOCSIN_AMQP_URL") or DEFAULT_URL)
    parser.add_argument("--count", type=int, default=20000, help="messages for publish_many")
    parser.add_argument(
        "--loop-count", type=int, default=3000, help="messages for the publish() loops (slower)"
    )
    args = parser.parse_args(argv)
    runs = [
        ("publish_many", args.count, publish_many),
        ("publish() loop, 1 greenlet", args.loop_count, publish_loop(1)),
        ("publish() loop, 8 greenlets", args.loop_count, publish_loop(8)),
    ]
    for name, count, method in runs:
        rate = measure(args.url, count, method)
        print(f"{name:<28} {count:>6} messages {rate:>8,.0f} msg/s", flush=True)


if __name__ == "__main__":
    main()
