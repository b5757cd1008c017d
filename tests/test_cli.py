"""The `tocsin` command as a user runs it: one process serving the demo system."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port
from tests.helpers import wait_until

TOCSIN = [sys.executable, "-m", "coordinator"]


def tocsin(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*TOCSIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def env(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    clean["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    clean["TOCSIN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    return clean


def test_it_runs_the_demo_system_in_one_process(tmp_path, env):
    upgrade = tocsin("db", "upgrade", cwd=tmp_path, env=env)
    assert upgrade.returncode == 0, upgrade.stderr
    seed = tocsin("seed-demo", "--password", "pw-for-test", cwd=tmp_path, env=env)
    assert "demo city loaded; sign in as commander" in seed.stdout
    again = tocsin("seed-demo", cwd=tmp_path, env=env)
    assert "already present; nothing changed" in again.stdout

    port, sim_port, smtp_port = free_port(), free_port(), free_port()
    env.update(
        TOCSIN_SIM_PORT=str(sim_port),
        TOCSIN_SIM_SMTP_PORT=str(smtp_port),
        TOCSIN_SIM_ANSWER_RATE="0",
    )
    with open(tmp_path / "run.log", "w") as log:
        process = subprocess.Popen(
            [*TOCSIN, "run", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(f"{base}/login"), timeout=30, what="tocsin run to serve")
        session = requests.Session()
        token = re.search(r'csrf_token" value="([^"]+)"', session.get(f"{base}/login").text)[1]
        session.post(
            f"{base}/login",
            data={"username": "commander", "password": "pw-for-test", "csrf_token": token},
        )
        page = session.get(f"{base}/incidents/new").text
        token = re.search(r'csrf_token" value="([^"]+)"', page)[1]
        declared = session.post(
            f"{base}/incidents/new",
            data={
                "csrf_token": token,
                "title": "Gas leak",
                "kind": "chemical",
                "severity": "major",
                "lat": "51.45",
                "lon": "-2.59",
                "message": "Evacuate Broadmead.",
                "agencies": ["council"],
                "channels": ["sms", "email"],
            },
        )
        assert declared.ok and "Gas leak" in declared.text
        sim = f"http://127.0.0.1:{sim_port}"
        wait_until(
            lambda: len(requests.get(f"{sim}/sim/messages", timeout=2).json()) >= 3,
            what="the SMS of the council's 3 responders to reach the simulator",
        )
        messages = requests.get(f"{sim}/sim/messages", timeout=2).json()
        assert len(messages) == 3
        assert all("Evacuate Broadmead." in m["body"] for m in messages)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
    assert code == 0, (tmp_path / "run.log").read_text()[-3000:]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{sim_port}/sim/health", timeout=2)


def test_it_says_what_a_hub_without_a_broker_needs(tmp_path, env):
    result = tocsin("hub", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "tocsin hub needs TOCSIN_AMQP_URL" in result.stderr


def test_it_reports_bad_configuration_clearly(tmp_path, env):
    env["TOCSIN_LINK_TTL_HOURS"] = "a day"
    result = tocsin("run", cwd=tmp_path, env={**env, "TOCSIN_SIMULATOR": "0"})
    assert result.returncode == 2
    assert "TOCSIN_LINK_TTL_HOURS must be an integer" in result.stderr
    env["TOCSIN_LINK_TTL_HOURS"] = "24"
    env["TOCSIN_AMQP_URL"] = "redis://localhost"
    result = tocsin("run", cwd=tmp_path, env={**env, "TOCSIN_SIMULATOR": "0"})
    assert result.returncode == 2
    assert "unsupported broker URL scheme" in result.stderr


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.ConnectionError:
        return False
