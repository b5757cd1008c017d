"""Run the provider simulator as a subprocess and talk to it, for any test that needs providers.

    sim = start_simulator(hub_url)
    client = twilio_client(sim.account_sid, sim.auth_token, api_url=sim.url)
    ...
    sim.wait_for("callbacks", 2)
    sim.stop()

Any other command-line option of the simulator passes as a keyword:
`start_simulator(hub_url, call_answer_mode="manual", rate_limit=5)`.

The simulator runs in its own process because it uses plain threads while
the test process is gevent-patched, exactly as in production.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import requests

from tests.conftest import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
START_DEADLINE_SECONDS = 15.0
BIND_ATTEMPTS = 3
Kind = Literal["messages", "calls", "emails", "pushes", "callbacks"]


class Simulator:
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        stderr: Any,
        url: str,
        smtp_port: int,
        account_sid: str,
        auth_token: str,
    ) -> None:
        self.process = process
        self._stderr = stderr
        self.url = url
        self.smtp_port = smtp_port
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._http = requests.Session()

    # Inspection

    def messages(self) -> list[dict[str, Any]]:
        return self._get("messages")

    def calls(self) -> list[dict[str, Any]]:
        return self._get("calls")

    def emails(self) -> list[dict[str, Any]]:
        return self._get("emails")

    def pushes(self) -> list[dict[str, Any]]:
        return self._get("pushes")

    def callbacks(self) -> list[dict[str, Any]]:
        return self._get("callbacks")

    def wait_for(self, kind: Kind, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """Poll until at least `count` items of `kind` exist; fail showing what did arrive."""
        deadline = time.monotonic() + timeout
        while True:
            items = self._get(kind)
            if len(items) >= count:
                return items
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} {kind} within {timeout}s, saw {items!r}")
            time.sleep(0.05)

    # Actions

    def reset(self) -> None:
        self._http.post(f"{self.url}/sim/reset", timeout=5).raise_for_status()

    def inbound(self, from_: str, to: str, body: str, forge: bool = False) -> dict[str, Any]:
        """Make a responder text the hub now; returns {"status": hub status, "body": hub text}."""
        payload: dict[str, Any] = {"from": from_, "to": to, "body": body, "forge": forge}
        response = self._http.post(f"{self.url}/sim/inbound", json=payload, timeout=15)
        response.raise_for_status()
        return response.json()

    def call_answer(self, sid: str, digits: str, timeout: float = 10) -> dict[str, Any]:
        """Press keys on a call (manual answer mode), once it waits at a <Gather>."""
        payload = {"sid": sid, "digits": digits}
        deadline = time.monotonic() + timeout
        while True:
            response = self._http.post(f"{self.url}/sim/call-answer", json=payload, timeout=5)
            if response.status_code != 409 or time.monotonic() > deadline:
                response.raise_for_status()
                return response.json()
            time.sleep(0.02)  # 409: still ringing, or the hub's TwiML is on its way

    def stop(self) -> None:
        self._http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stderr.close()

    def stderr_text(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def _get(self, kind: Kind) -> list[dict[str, Any]]:
        response = self._http.get(f"{self.url}/sim/{kind}", timeout=5)
        response.raise_for_status()
        return response.json()


def start_simulator(
    hub_url: str,
    *,
    account_sid: str = "AC" + "0" * 32,
    auth_token: str = "test-auth-token",
    answer_rate: float = 0.0,
    answer_delay: float = 0.1,
    status_delay: float = 0.05,
    seed: int = 1,
    **options: Any,
) -> Simulator:
    """Start `python -m notifier.simulator` on free ports and wait until it answers.

    `options` are further command-line options, underscores for dashes:
    latency_ms_median=200 becomes --latency-ms-median 200.
    """
    # A free port can be taken between free_port() and the simulator's bind (another
    # process's outgoing connection picks from the same ephemeral range): try again.
    for attempt in range(BIND_ATTEMPTS):
        port, smtp_port = free_port(), free_port()
        # stderr goes to a file, not a pipe: a busy simulator logs enough to fill a pipe
        # nobody reads, and would then block.
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by Simulator.stop()
        command = [
            sys.executable, "-m", "notifier.simulator",
            "--host", "127.0.0.1", "--port", str(port), "--smtp-port", str(smtp_port),
            "--hub-url", hub_url, "--account-sid", account_sid, "--auth-token", auth_token,
            "--answer-rate", str(answer_rate), "--answer-delay", str(answer_delay),
            "--status-delay", str(status_delay), "--seed", str(seed),
        ]  # fmt: skip
        for name, value in options.items():
            command += ["--" + name.replace("_", "-"), str(value)]
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=stderr,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        sim = Simulator(process, stderr, url, smtp_port, account_sid, auth_token)
        try:
            _wait_healthy(sim)
            return sim
        except RuntimeError as exc:
            if "address already in use" not in str(exc).lower() or attempt == BIND_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _wait_healthy(sim: Simulator) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline and sim.process.poll() is None:
        try:
            if sim._http.get(f"{sim.url}/sim/health", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    output = sim.stderr_text()
    sim.stop()
    raise RuntimeError(f"simulator did not become healthy at {sim.url}; stderr:\n{output}")
