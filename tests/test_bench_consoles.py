"""`tocsin bench consoles`: run small, as a user runs it, and its console client."""

import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import gevent
import pytest
from click.testing import CliRunner

from coordinator.benchmarks.consoles import Console, Posted, figures
from coordinator.cli import cli

ROOT = Path(__file__).resolve().parent.parent
LAST_LINE = re.compile(
    r"^consoles: (\d+) clients, (\d+) answers/s, median \d+ ms, p99 \d+ ms, hub \d+ MiB$"
)


def bench(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update(PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", "coordinator", "bench", "consoles", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=110,
    )  # fmt: skip


def test_it_measures_every_console_getting_every_answer(tmp_path):
    run = bench("--clients", "20", "--rate", "10", "--seconds", "2", tmp_path=tmp_path)

    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    last = LAST_LINE.match(lines[-1])
    assert last, lines[-1]
    assert last[1] == "20"
    assert "20 posted" in run.stdout and "20 recorded, 0 failed" in run.stdout
    assert "events: 400 of 400 delivered, 0 lost" in run.stdout
    assert "0 consoles disconnected), 0 duplicates" in run.stdout
    hub_pid = re.search(r"hub pid (\d+) stopped", run.stdout)[1]
    assert not Path(f"/proc/{hub_pid}").exists(), "the hub outlived the bench"
    assert not list(tmp_path.glob("tocsin-bench-consoles-*")), "temporary files left behind"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clients", "0"], "Invalid value for '--clients'"),
        (["--rate", "-5"], "Invalid value for '--rate'"),
        (["--seconds", "0"], "Invalid value for '--seconds'"),
        (["--processes", "0"], "Invalid value for '--processes'"),
    ],
)
def test_it_refuses_bad_arguments_before_starting_anything(tmp_path, monkeypatch, args, message):
    # In this process (the command line's own parsing, without a Python start-up each).
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    run = CliRunner().invoke(cli, ["bench", "consoles", *args])

    assert run.exit_code == 2
    assert message in run.stderr
    assert run.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_it_counts_an_answer_a_console_missed():
    consoles = [
        {"received": {"1": 100.050, "2": 100.210}, "duplicates": 0, "error": ""},
        {"received": {"1": 100.080}, "duplicates": 1, "error": "the hub closed the websocket"},
    ]
    at = {1: 100.0, 2: 100.2}
    posted = [Posted(1, 99.99, 200), Posted(2, 100.19, 200)]

    r = figures(consoles, at, posted)

    assert (r.consoles, r.answers, r.lost, r.missed, r.duplicates) == (2, 2, 1, 1, 1)
    assert [round(ms) for ms in r.last_ms] == [80, 10]  # the last console, per answer
    assert sorted(round(ms) for ms in r.each_ms) == [10, 50, 80]
    assert [round(ms) for ms in r.post_ms] == [90, 20]


def _frame(text: bytes, opcode: int = 0x1, fin: bool = True) -> bytes:
    """A server frame: unmasked, with the 16-bit length form when it is long."""
    head = bytes([(0x80 if fin else 0) | opcode])
    if len(text) < 126:
        return head + bytes([len(text)]) + text
    return head + bytes([126]) + len(text).to_bytes(2, "big") + text


def _client_text(conn: socket.socket) -> bytes:
    """Read one masked client frame (short: our client sends only short ones)."""
    first, second = conn.recv(2, socket.MSG_WAITALL)
    assert first == 0x81 and second & 0x80, "client frames are final, text and masked"
    mask = conn.recv(4, socket.MSG_WAITALL)
    data = conn.recv(second & 0x7F, socket.MSG_WAITALL)
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def test_it_reads_events_split_anyhow_and_answers_pings():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    seen: list[bytes] = []

    def hub() -> None:
        conn, _ = server.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        seen.append(request)
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
        conn.sendall(_frame(b'0{"sid":"x"}'))
        seen.append(_client_text(conn))
        conn.sendall(_frame(b'40{"sid":"y"}'))
        seen.append(_client_text(conn))
        conn.sendall(_frame(b'430[{"ok":true}]'))
        long_event = b'42["responses",[{"responder_id":7,"label":"' + b"x" * 300 + b'"}]]'
        stream = (
            _frame(b'42["responses",[{"responder_id":5,"answer":"en_route"}]]')
            + _frame(b'42["queues",{"sms":{"queued":0}}]')
            + _frame(long_event)
            + _frame(b'42["responses",[{"respon', fin=False)
            + _frame(b'der_id":9}]]', opcode=0x0)
            + _frame(b'42["responses",[{"responder_id":11},{"responder_id":12}]]')
            + _frame(b"2")
            + _frame(b'42["responses",[{"responder_id":5,"answer":"en_route"}]]')
        )
        for i in range(len(stream)):  # one byte at a time: every split point
            conn.sendall(stream[i : i + 1])
            gevent.sleep(0)
        seen.append(_client_text(conn))
        conn.close()

    server_task = gevent.spawn(hub)
    console = Console("127.0.0.1", port, "session=abc")
    console.join(42)
    console.listen()  # returns when the hub closes
    console.close()
    server_task.get(timeout=10)
    server.close()

    assert b"Cookie: session=abc\r\n" in seen[0]
    assert seen[1:] == [b"40", b'420["join",{"incident_id":42}]', b"3"]
    assert sorted(console.received) == [5, 7, 9, 11, 12]
    assert console.duplicates == 1
    assert console.error == "the hub closed the connection"
