"""Exit 0 when RabbitMQ on loopback declares, fills, empties and deletes a quorum
queue; exit 1 (saying why) when it cannot. A broker left out of file handles or
with a damaged quorum store still accepts connections but answers every declare
with 541 INTERNAL_ERROR, which would fail every RabbitMQ test of the run."""

import re
import subprocess
import sys
import uuid

import pika

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def leftover_test_queues() -> list[str]:
    """Queues of earlier interrupted test runs (prefix t<8 hex>.): they only cost
    file handles."""
    listed = subprocess.run(
        ["rabbitmqctl", "list_queues", "name", "-q"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()  # fmt: skip
    return [name for name in listed if re.match(r"t[0-9a-f]{8}\.", name)]


def main() -> int:
    queue = f"ci-health-{uuid.uuid4().hex[:8]}"
    params = pika.URLParameters(URL)
    params.socket_timeout = params.blocked_connection_timeout = 20
    try:
        connection = pika.BlockingConnection(params)
        channel = connection.channel()
        channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        channel.basic_publish("", queue, b"ping")
        for _ in range(50):
            method, _props, body = channel.basic_get(queue, auto_ack=True)
            if method:
                break
            connection.sleep(0.1)
        else:
            raise RuntimeError("the message published to the health queue never came back")
        channel.queue_delete(queue)
        stale = leftover_test_queues()
        for name in stale:
            channel.queue_delete(name)
        if stale:
            print(f"deleted {len(stale)} queues left by interrupted test runs")
        connection.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "reset the broker"
        print(f"RabbitMQ is not healthy: {exc!r}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
