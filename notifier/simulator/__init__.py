"""Provider simulator: a Twilio-compatible REST API, an SMTP sink and simulated responders.

It runs as its own process with plain threads (no gevent), so that Tocsin's
real twilio and apprise clients talk to it over real sockets exactly as they
would talk to the providers. Start it with `python -m notifier.simulator`.
"""

from notifier.simulator.cli import main

__all__ = ["main"]
