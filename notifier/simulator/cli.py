"""`python -m notifier.simulator`: run the HTTP API and the SMTP sink until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import make_server

from notifier.simulator.app import create_app
from notifier.simulator.core import Settings, Simulator
from notifier.simulator.smtp import smtp_controller

log = logging.getLogger("tocsin.simulator")
DEFAULTS = Settings()


def option(
    parser: argparse.ArgumentParser, name: str, kind: Callable[[str], Any], text: str
) -> None:
    """--name, defaulting to TOCSIN_SIM_NAME, then to the Settings default."""
    dest = name.replace("-", "_")
    env = os.environ.get("TOCSIN_SIM_" + dest.upper())
    default = kind(env) if env is not None else getattr(DEFAULTS, dest)
    parser.add_argument(f"--{name}", type=kind, default=default, help=f"{text} [{default}]")


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="tocsin simulate",
        description="Provider simulator: Twilio REST API, SMTP sink, simulated responders. "
        "Every option can also be set as TOCSIN_SIM_<OPTION>, e.g. TOCSIN_SIM_PORT.",
    )
    option(parser, "host", str, "address to listen on")
    option(parser, "port", int, "HTTP port (Twilio API and /sim endpoints)")
    option(parser, "smtp-port", int, "SMTP sink port")
    option(parser, "hub-url", str, "hub base URL that receives inbound SMS webhooks")
    option(parser, "account-sid", str, "Twilio account SID clients must use")
    option(parser, "auth-token", str, "Twilio auth token: checks clients, signs webhooks")
    option(parser, "answer-rate", float, "share of messages a simulated responder answers")
    option(parser, "answer-delay", float, "seconds before an answer (+ up to 50%% jitter)")
    option(parser, "status-delay", float, "seconds before each status callback")
    option(parser, "from-number", str, "number responders reply to when a message had none")
    option(parser, "seed", int, "random seed, for repeatable answers")
    args = parser.parse_args(argv)
    if not 0.0 <= args.answer_rate <= 1.0:
        parser.error("--answer-rate must be between 0 and 1")
    return Settings(**vars(args))


def configure_logging() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s sim %(message)s")
    # Our after_request hook logs each request once; aiosmtpd logs several lines per session.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    configure_logging()
    sim = Simulator(settings)
    http = make_server(settings.host, settings.port, create_app(sim), threaded=True)
    smtp = smtp_controller(sim.store, settings.host, settings.smtp_port)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())

    sim.start()
    smtp.start()
    # serve_forever runs in a thread: shutdown() from the thread that serves would deadlock.
    server_thread = threading.Thread(
        target=http.serve_forever, kwargs={"poll_interval": 0.1}, name="sim-http", daemon=True
    )
    server_thread.start()
    log.info(
        "listening http://%s:%d smtp %s:%d hub %s answer_rate %.2f",
        settings.host,
        settings.port,
        settings.host,
        settings.smtp_port,
        settings.hub_url,
        settings.answer_rate,
    )
    try:
        while not stop.wait(0.5):  # a timed wait lets the signal handler run promptly
            pass
    finally:
        log.info("stopping")
        http.shutdown()
        server_thread.join(timeout=5)
        http.server_close()
        smtp.stop()
        sim.stop()
        log.info("stopped")
