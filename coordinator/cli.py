"""The `tocsin` command: one code base, several processes (see ARCHITECTURE.md).

gevent must patch the standard library before anything imports it. The
provider simulator is the exception: it runs plain threads (aiosmtpd brings
its own asyncio loop), so it is not patched.
"""

import sys

if sys.argv[1:2] != ["simulate"]:
    from gevent import monkey

    monkey.patch_all()

import logging
import os
import signal
import subprocess
import time
from urllib.parse import urlparse

import click
import gevent
import requests
from gevent.event import Event

from broker.env import ConfigError, env_bool, env_int, env_str
from broker.topology import Topology
from broker.transport import Transport, make_transport
from coordinator import migrate
from coordinator.app import create_app
from coordinator.background import start_hub_loops
from coordinator.commands import bench as bench_commands
from coordinator.commands import cap as cap_commands
from coordinator.commands import cli_actor
from coordinator.commands import drill as drill_commands
from coordinator.commands import report as report_commands
from coordinator.config import Settings
from coordinator.db import Database
from coordinator.errors import ValidationError
from coordinator.extensions import socketio
from coordinator.seed import seed_demo
from coordinator.services import audit as audit_chain
from coordinator.services import tokens as api_tokens
from notifier import simulator
from notifier.channels import CHANNELS, build_channels
from notifier.config import NotifierSettings
from notifier.worker import Worker

log = logging.getLogger("tocsin")
SIM_ACCOUNT_SID = "AC" + "0" * 32
SIM_AUTH_TOKEN = "simulator-auth-token"  # not a secret: the simulator accepts only this


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Tocsin: emergency inter-agency notification and coordination."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # pika logs every refused connection with a stack trace; broker/ logs one line itself.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    # One line per notification sent is noise at INFO; failures still log.
    logging.getLogger("apprise").setLevel(logging.WARNING)
    # fpdf2's font subsetting logs a dozen lines per PDF (after-action reports).
    logging.getLogger("fontTools").setLevel(logging.WARNING)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def run(host: str, port: int) -> None:
    """Everything in one process: console, relay, workers, simulator unless configured off."""
    simulator = _start_simulator_if_needed(port)
    try:
        settings = Settings.from_env()
        notifier_settings = NotifierSettings.from_env()
        app = create_app(settings)
        stop = _stop_on_signals()
        transport = _transport(settings)
        start_hub_loops(app.extensions["tocsin"], transport, stop)
        channels = [c for c in CHANNELS if not notifier_settings.missing_for(c)]
        worker = Worker(transport, build_channels(channels, notifier_settings), notifier_settings)
        gevent.spawn(worker.run, stop)
        log.info("console on http://%s:%s (channels: %s)", host, port, ", ".join(channels))
        _serve(app, host, port, stop)
    finally:
        if simulator:
            simulator.terminate()
            simulator.wait(10)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def hub(host: str, port: int) -> None:
    """Console, API, webhooks, outbox relay and event consumer (needs TOCSIN_AMQP_URL)."""
    settings = Settings.from_env()
    if not settings.amqp_url:
        raise click.UsageError(
            "tocsin hub needs TOCSIN_AMQP_URL (amqp://...); use `tocsin run` for one machine"
        )
    app = create_app(settings)
    stop = _stop_on_signals()
    start_hub_loops(app.extensions["tocsin"], _transport(settings), stop)
    _serve(app, host, port, stop)


@cli.command()
@click.option(
    "--channels", default="sms,voice,email,push", show_default=True, help="comma-separated"
)
def worker(channels: str) -> None:
    """Notifier worker: consume notify queues and send (needs TOCSIN_AMQP_URL)."""
    amqp_url = env_str("TOCSIN_AMQP_URL")
    if not amqp_url:
        raise click.UsageError("tocsin worker needs TOCSIN_AMQP_URL (amqp://...)")
    names = [c.strip() for c in channels.split(",") if c.strip()]
    settings = NotifierSettings.from_env()
    missing = {name: settings.missing_for(name) for name in names if settings.missing_for(name)}
    if missing:
        raise click.UsageError(f"missing settings: {missing}")
    try:
        built = build_channels(names, settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    transport = _make_transport(amqp_url, env_str("TOCSIN_AMQP_PREFIX"))
    Worker(transport, built, settings).run(_stop_on_signals())


@cli.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def simulate(args: tuple[str, ...]) -> None:
    """Provider simulator: Twilio REST, SMTP sink, simulated responders (--help for options)."""
    simulator.main(list(args))


@cli.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    settings = Settings.from_env()
    migrate.upgrade(settings.database_url)
    click.echo(f"database at revision head: {_redact(settings.database_url)}")


@cli.command("seed-demo")
@click.option("--password", envvar="TOCSIN_DEMO_PASSWORD", default="tocsin-demo", show_default=True)
def seed_demo_command(password: str) -> None:
    """Load a demo city (agencies, teams, responders, console users)."""
    database = Database(Settings.from_env().database_url)
    created = seed_demo(database, password)
    database.dispose()
    if created:
        click.echo(f"demo city loaded; sign in as commander / {password}")
    else:
        click.echo("demo city already present; nothing changed")


@cli.group("audit")
def audit_group() -> None:
    """The audit log's hash chain."""


@audit_group.command("verify")
@click.option("--progress-every", default=100_000, show_default=True, help="rows per progress line")
def audit_verify(progress_every: int) -> None:
    """Walk the chain in id order; exit 1 naming each edited, deleted or unhashed row."""
    database = Database(Settings.from_env().database_url)
    try:
        result = audit_chain.verify(
            database.session,
            progress=lambda n: click.echo(f"audit: {n:,} entries checked", err=True),
            every=max(1, progress_every),
        )
    finally:
        database.dispose()
    for problem in result.reported:
        click.echo(f"audit: {problem}")
    if result.intact:
        click.echo(f"audit: {result.entries} entries, chain intact")
        if result.head_hash:
            click.echo(f"audit: head is row {result.head_id}, hash {result.head_hash}")
        return
    if result.problems > len(result.reported):
        click.echo(f"audit: ... and {result.problems - len(result.reported)} more")
    click.echo(f"audit: {result.entries} entries, {result.problems} problem(s): chain broken")
    sys.exit(1)


@cli.group("api-token")
def api_token() -> None:
    """REST API tokens, one agency each: shown once, stored hashed."""


@api_token.command("create")
@click.option("--agency", required=True, help="agency slug, e.g. fire")
@click.option("--name", required=True, help='the system that uses it, e.g. "Fire CAD"')
def api_token_create(agency: str, name: str) -> None:
    """Make a token; it alone goes to stdout, this once."""
    database = Database(Settings.from_env().database_url)
    try:
        with database.write() as session:
            token, plaintext = api_tokens.create(session, agency, name, cli_actor())
    except ValidationError as exc:
        raise click.ClickException(" ".join(exc.errors.values())) from None
    finally:
        database.dispose()
    click.echo(f"token {token.id} for {agency} ({token.name}); it is not shown again:", err=True)
    click.echo(plaintext)


@api_token.command("list")
def api_token_list() -> None:
    """Every token: id, agency, name, prefix, made, last used, revoked."""
    database = Database(Settings.from_env().database_url)
    try:
        for t in api_tokens.all_tokens(database.session):
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "live"
            click.echo(
                f"{t.id}\t{t.agency.slug}\t{t.name}\t{api_tokens.PREFIX}{t.prefix}...\t"
                f"made {t.created_at:%Y-%m-%d %H:%M} by {t.created_by}\tused {used}\t{state}"
            )
    finally:
        database.dispose()


@api_token.command("revoke")
@click.argument("token_id", type=int)
def api_token_revoke(token_id: int) -> None:
    """Revoke a token at once: its next request gets 401."""
    database = Database(Settings.from_env().database_url)
    try:
        with database.write() as session:
            token = api_tokens.revoke(session, token_id, cli_actor())
            said = f"token {token.id} ({token.agency.slug}, {token.name}) revoked"
    except ValidationError as exc:
        raise click.ClickException(" ".join(exc.errors.values())) from None
    finally:
        database.dispose()
    click.echo(said)


# Areas with commands of their own (coordinator/commands/).
cli.add_command(bench_commands.bench)
cli.add_command(cap_commands.cap)
cli.add_command(drill_commands.drill)
cli.add_command(report_commands.report)


def main() -> None:
    try:
        cli()
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


def _make_transport(amqp_url: str | None, prefix: str) -> Transport:
    try:
        return make_transport(amqp_url or None, Topology(prefix))
    except ValueError as exc:
        raise ConfigError(f"TOCSIN_AMQP_URL: {exc}") from None


def _transport(settings: Settings) -> Transport:
    """The hub's transport, declared."""
    transport = _make_transport(settings.amqp_url, settings.amqp_prefix)
    transport.declare()
    return transport


def _serve(app, host: str, port: int, stop: Event) -> None:  # type: ignore[no-untyped-def]
    server = gevent.spawn(socketio.run, app, host=host, port=port, log_output=False)
    stop.wait()
    log.info("stopping")
    server.kill(timeout=5)


def _stop_on_signals() -> Event:
    stop = Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, stop.set)
    return stop


def _start_simulator_if_needed(port: int) -> subprocess.Popen | None:
    """With no Twilio credentials, `tocsin run` brings its own provider simulator."""
    if env_str("TOCSIN_TWILIO_ACCOUNT_SID") or not env_bool("TOCSIN_SIMULATOR", True):
        return None
    sim_port = env_int("TOCSIN_SIM_PORT", 5050)
    smtp_port = env_int("TOCSIN_SIM_SMTP_PORT", 2525)
    hub_url = env_str("TOCSIN_PUBLIC_URL", f"http://127.0.0.1:{port}")
    os.environ.update(
        TOCSIN_TWILIO_ACCOUNT_SID=SIM_ACCOUNT_SID,
        TOCSIN_TWILIO_AUTH_TOKEN=SIM_AUTH_TOKEN,
        TOCSIN_TWILIO_FROM=env_str("TOCSIN_TWILIO_FROM", "+15005550006"),
        TOCSIN_TWILIO_API_URL=f"http://127.0.0.1:{sim_port}",
        TOCSIN_PUBLIC_URL=hub_url,
    )
    # The simulator has no carrier limits; real numbers keep the safe defaults.
    os.environ.setdefault("TOCSIN_SMS_RATE", "20")
    os.environ.setdefault("TOCSIN_VOICE_RATE", "5")
    os.environ.setdefault(
        "TOCSIN_EMAIL_URL",
        f"mailto://127.0.0.1:{smtp_port}?mode=insecure&format=text&from=tocsin@tocsin.local",
    )
    command = [
        sys.executable, "-m", "notifier.simulator",
        "--port", str(sim_port), "--smtp-port", str(smtp_port), "--hub-url", hub_url,
        "--account-sid", SIM_ACCOUNT_SID, "--auth-token", SIM_AUTH_TOKEN,
    ]  # fmt: skip
    process = subprocess.Popen(command)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{sim_port}/sim/health", timeout=1).ok:
                log.info("provider simulator on http://127.0.0.1:%s, SMTP %s", sim_port, smtp_port)
                # The simulated city's people answer as their agency's profile says.
                drill_commands.push_stored_profiles(f"http://127.0.0.1:{sim_port}")
                return process
        except requests.RequestException:
            time.sleep(0.2)
    process.terminate()
    raise click.ClickException(f"the provider simulator did not start on port {sim_port}")


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url
