"""`tocsin bench ...`: benchmarks that print figures and end with one summary line.

The code of each lives in coordinator/benchmarks/, apart from the application's
modules; nothing is asserted (compare ratios to a reference measured in the same run).
"""

from __future__ import annotations

import click

from coordinator.benchmarks import consoles as consoles_bench
from coordinator.benchmarks import fanout as fanout_bench
from coordinator.benchmarks import report as report_bench


@click.group()
def bench() -> None:
    """Benchmarks that print figures (nothing is asserted)."""


@bench.command("fanout")
@click.option("--responders", default=10_000, show_default=True, help="each gets SMS and push")
@click.option("--runs", default=3, show_default=True, help="alerts measured; medians are printed")
@click.option("--latency-ms", default=200.0, show_default=True, help="simulator median latency")
@click.option("--concurrency", default=200, show_default=True, help="in flight per channel")
@click.option("--cap", default=100.0, show_default=True, help="SMS/s of the pacing run; 0 skips")
@click.option(
    "--amqp-url",
    envvar="TOCSIN_AMQP_URL",
    default="amqp://guest:guest@127.0.0.1:5672/%2F",
    show_default=True,
)
def bench_fanout(
    responders: int, runs: int, latency_ms: float, concurrency: int, cap: float, amqp_url: str
) -> None:
    """One alert to N responders x 2 channels through RabbitMQ, hub, worker and simulator."""
    fanout_bench.main(responders, runs, latency_ms, concurrency, cap, amqp_url)


@bench.command("consoles")
@click.option(
    "--clients",
    default=500,
    show_default=True,
    type=click.IntRange(min=1),
    help="Socket.IO consoles in the incident's room",
)
@click.option(
    "--rate",
    default=100.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="answers posted per second",
)
@click.option(
    "--seconds",
    default=15.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="how long answers are posted",
)
@click.option(
    "--processes",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="client processes the consoles are spread over",
)
@click.option(
    "--database-url",
    default=None,
    help="an empty database to use (default: SQLite in a temporary directory)",
)
def bench_consoles(
    clients: int, rate: float, seconds: float, processes: int, database_url: str | None
) -> None:
    """C consoles on one hub while answers arrive: answer-to-every-console delay, hub memory."""
    consoles_bench.main(clients, rate, seconds, processes, database_url)


@bench.command("report")
@click.option(
    "--responders",
    default=5000,
    show_default=True,
    type=click.IntRange(min=1),
    help="responders of the drill (each gets SMS, push and email)",
)
@click.option(
    "--runs",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="runs timed; medians are printed",
)
def bench_report(responders: int, runs: int) -> None:
    """Build a closed N-responder drill's report (figures, HTML, PDF, CSV): time and memory."""
    report_bench.main(responders, runs)
