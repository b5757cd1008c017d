"""`python -m notifier.simulator`: run the HTTP API and the SMTP sink until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from logging.handlers import QueueHandler, QueueListener
from typing import Any

from notifier.simulator.app import create_app
from notifier.simulator.base import Settings
from notifier.simulator.core import Simulator
from notifier.simulator.profiles import ProfileError, load_file
from notifier.simulator.server import HttpServer
from notifier.simulator.smtp import smtp_controller

log = logging.getLogger("tocsin.simulator")
DEFAULTS = Settings()


def option(
    parser: argparse.ArgumentParser,
    name: str,
    kind: Callable[[str], Any],
    text: str,
    choices: tuple[str, ...] | None = None,
) -> None:
    """--name, defaulting to TOCSIN_SIM_NAME, then to the Settings default."""
    dest = name.replace("-", "_")
    env = os.environ.get("TOCSIN_SIM_" + dest.upper())
    default = kind(env) if env is not None else getattr(DEFAULTS, dest)
    parser.add_argument(
        f"--{name}", type=kind, default=default, choices=choices, help=f"{text} [{default}]"
    )


RATES = (
    "answer-rate",
    "sms-fail-rate",
    "silence-rate",
    "call-no-answer-rate",
    "call-busy-rate",
    "call-fail-rate",
)


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="tocsin simulate",
        description="Provider simulator: Twilio REST API (messages, calls), SMTP sink, ntfy and "
        "Gotify push, simulated responders. Every option can also be set as "
        "TOCSIN_SIM_<OPTION>, e.g. TOCSIN_SIM_PORT.",
    )
    option(parser, "host", str, "address to listen on")
    option(parser, "port", int, "HTTP port (Twilio API, push endpoints, /sim endpoints)")
    option(parser, "smtp-port", int, "SMTP sink port")
    option(parser, "hub-url", str, "hub base URL that receives inbound SMS webhooks")
    option(parser, "account-sid", str, "Twilio account SID clients must use")
    option(parser, "auth-token", str, "Twilio auth token: checks clients, signs webhooks")
    option(parser, "answer-rate", float, "share of messages and answered calls a responder answers")
    option(parser, "answer-delay", float, "seconds before an answer (+ up to 50%% jitter)")
    option(parser, "status-delay", float, "seconds before each status callback")
    option(parser, "from-number", str, "number responders reply to when a message had none")
    option(parser, "seed", int, "random seed, for repeatable answers")
    option(parser, "sms-fail-rate", float, "share of messages that end undelivered (30003)")
    option(parser, "silence-rate", float, "share of responders (by number) who never answer")
    option(parser, "call-no-answer-rate", float, "share of calls nobody picks up")
    option(parser, "call-busy-rate", float, "share of calls that end busy")
    option(parser, "call-fail-rate", float, "share of calls that fail")
    option(
        parser,
        "call-answer-mode",
        str,
        "auto: responders press keys; manual: calls wait for POST /sim/call-answer",
        choices=("auto", "manual"),
    )
    option(parser, "latency-ms-median", float, "median latency of provider requests, ms")
    option(parser, "rate-limit", float, "Twilio requests/s per account before 429 (0: none)")
    option(parser, "http-threads", int, "threads running the app (latency holds none of them)")
    option(parser, "webhook-workers", int, "threads posting callbacks and webhooks to the hub")
    option(
        parser,
        "profiles",
        str,
        "JSON file of answer profiles by address (`tocsin drill profiles` prints one); "
        "also PUT /sim/profiles",
    )
    args = parser.parse_args(argv)
    for name in RATES:
        if not 0.0 <= getattr(args, name.replace("-", "_")) <= 1.0:
            parser.error(f"--{name} must be between 0 and 1")
    if args.call_no_answer_rate + args.call_busy_rate + args.call_fail_rate > 1.0:
        parser.error("the call no-answer, busy and fail rates add up to more than 1")
    if args.http_threads < 1 or args.webhook_workers < 1:
        parser.error("--http-threads and --webhook-workers must be at least 1")
    if args.profiles:
        try:
            load_file(args.profiles)
        except ProfileError as exc:
            parser.error(f"--profiles: {exc}")
    return Settings(**vars(args))


def configure_logging() -> QueueListener:
    """Log to stderr from one thread: HTTP and webhook threads only queue their lines.

    Under load the simulator logs a few thousand lines a second; threads that
    wrote them themselves queued up on the stream handler's lock.
    """
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter("%(asctime)s sim %(message)s"))
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    enqueue = QueueHandler(lines)
    enqueue.setFormatter(logging.Formatter("%(message)s"))  # the stream handler adds the rest
    logging.basicConfig(level=logging.INFO, handlers=[enqueue], force=True)
    # aiosmtpd logs several lines per session.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    listener = QueueListener(lines, stream)
    listener.start()
    return listener


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    logs = configure_logging()
    sim = Simulator(settings)
    app = create_app(sim)
    http = HttpServer(settings.host, settings.port, app, settings.http_threads, sim.request_delay)
    smtp = smtp_controller(sim.store, settings.host, settings.smtp_port, sim.email_received)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())

    sim.start()
    smtp.start()
    http.start()
    log.info(
        "listening http://%s:%d smtp %s:%d hub %s answer_rate %.2f latency %gms rate_limit %g/s"
        " profiles %d",
        settings.host,
        settings.port,
        settings.host,
        settings.smtp_port,
        settings.hub_url,
        settings.answer_rate,
        settings.latency_ms_median,
        settings.rate_limit,
        len(sim.profiles.all()),
    )
    try:
        while not stop.wait(0.5):  # a timed wait lets the signal handler run promptly
            pass
    finally:
        log.info("stopping")
        http.stop()
        smtp.stop()
        sim.stop()
        log.info("stopped")
        logs.stop()
