"""The provider simulator, driven by the same twilio and apprise clients Tocsin uses."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, quote

import apprise
import pytest
import requests
from gevent.pywsgi import WSGIServer
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator

from notifier.simulator import ntfy
from notifier.simulator.dice import Dice
from notifier.twilio_http import SimulatorHttpClient, twilio_client
from tests.helpers.simulator import Simulator, start_simulator

RESPONDER = "+15551230001"
OUR_NUMBER = "+15005550006"


Reply = str | Callable[[dict[str, str]], str]


class Receiver:
    """A stand-in hub: records every request the simulator makes to it, answers from `replies`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.replies: dict[str, Reply] = {}
        self.server = WSGIServer(("127.0.0.1", 0), self.app, log=None, error_log=None)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read().decode()
        params = dict(parse_qsl(body, keep_blank_values=True))
        path, query = environ["PATH_INFO"], environ.get("QUERY_STRING", "")
        self.requests.append(
            {
                "path": path,
                "query": query,
                "params": params,
                "signature": environ.get("HTTP_X_TWILIO_SIGNATURE", ""),
            }
        )
        reply = self.replies.get(path, "<Response/>")
        text = reply(params) if callable(reply) else reply
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [text.encode()]

    def wait_for(self, path: str, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = [r for r in self.requests if r["path"] == path]
            if len(seen) >= count:
                return seen
            time.sleep(0.02)
        raise AssertionError(f"expected {count} POSTs to {path}, saw {self.requests!r}")

    def signed_by(self, token: str, request: dict[str, Any]) -> bool:
        url = self.url + request["path"] + (f"?{request['query']}" if request["query"] else "")
        return RequestValidator(token).validate(url, request["params"], request["signature"])


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.stop()


@pytest.fixture(scope="module")
def sim(receiver: Receiver) -> Iterator[Simulator]:
    sim = start_simulator(receiver.url)
    yield sim
    sim.stop()


@pytest.fixture(autouse=True)
def clean(sim: Simulator, receiver: Receiver) -> None:
    sim.reset()
    receiver.requests.clear()
    receiver.replies.clear()


def client_for(sim: Simulator, auth_token: str | None = None) -> Any:
    return twilio_client(sim.account_sid, auth_token or sim.auth_token, api_url=sim.url)


def test_it_creates_a_message_with_the_real_twilio_client(sim: Simulator) -> None:
    message = client_for(sim).messages.create(
        to=RESPONDER, from_=OUR_NUMBER, body="Fire at depot", validity_period=600
    )

    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.status, message.to, message.from_) == ("queued", RESPONDER, OUR_NUMBER)
    assert message.num_segments == "1" and message.date_created is not None
    [stored] = sim.messages()
    assert stored["sid"] == message.sid
    assert (stored["body"], stored["validity_period"]) == ("Fire at depot", 600)


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+15005550001", 21211),
        ("+15005550002", 21612),
        ("+15005550003", 21408),
        ("+15005550004", 21610),
        ("+15005550009", 21614),
        ("0123 456", 21211),
    ],
)
def test_it_rejects_twilio_test_numbers(sim: Simulator, to: str, code: int) -> None:
    with pytest.raises(TwilioRestException) as caught:
        client_for(sim).messages.create(to=to, from_=OUR_NUMBER, body="x")

    assert (caught.value.status, caught.value.code) == (400, code)
    assert sim.messages() == []


def test_it_requires_a_body(sim: Simulator) -> None:
    with pytest.raises(TwilioRestException) as caught:
        client_for(sim).messages.create(to=RESPONDER, from_=OUR_NUMBER)

    assert caught.value.code == 21602


def test_it_rejects_wrong_credentials(sim: Simulator) -> None:
    with pytest.raises(TwilioRestException) as caught:
        client_for(sim, auth_token="wrong").messages.create(
            to=RESPONDER, from_=OUR_NUMBER, body="x"
        )

    assert (caught.value.status, caught.value.code) == (401, 20003)


def test_it_posts_signed_status_callbacks_in_order(sim: Simulator, receiver: Receiver) -> None:
    message = client_for(sim).messages.create(
        to=RESPONDER, from_=OUR_NUMBER, body="x", status_callback=f"{receiver.url}/status"
    )

    sent, delivered = receiver.wait_for("/status", 2)
    assert [sent["params"]["MessageStatus"], delivered["params"]["MessageStatus"]] == [
        "sent",
        "delivered",
    ]
    assert {sent["params"]["MessageSid"], delivered["params"]["SmsSid"]} == {message.sid}
    assert receiver.signed_by(sim.auth_token, sent) and receiver.signed_by(
        sim.auth_token, delivered
    )
    assert [c["status"] for c in sim.wait_for("callbacks", 2)] == [200, 200]
    assert client_for(sim).messages(message.sid).fetch().status == "delivered"


def test_it_answers_like_a_responder(receiver: Receiver) -> None:
    answering = start_simulator(receiver.url, answer_rate=1.0, answer_delay=0.05)
    try:
        client_for(answering).messages.create(to=RESPONDER, from_=OUR_NUMBER, body="Ack? 1/2/3")

        [answer] = receiver.wait_for("/hooks/twilio/sms", 1)
    finally:
        answering.stop()
    params = answer["params"]
    assert (params["From"], params["To"], params["AccountSid"]) == (
        RESPONDER,
        OUR_NUMBER,
        answering.account_sid,
    )
    assert params["Body"] in {"1", "2", "3"} and params["MessageSid"].startswith("SM")
    assert receiver.signed_by(answering.auth_token, answer)


def test_it_sends_inbound_sms_on_request_signed_or_forged(
    sim: Simulator, receiver: Receiver
) -> None:
    assert sim.inbound(RESPONDER, OUR_NUMBER, "1") == {"status": 200, "body": "<Response/>"}
    assert sim.inbound(RESPONDER, OUR_NUMBER, "1", forge=True)["status"] == 200

    genuine, forged = receiver.wait_for("/hooks/twilio/sms", 2)
    assert genuine["params"]["Body"] == "1"
    assert receiver.signed_by(sim.auth_token, genuine)
    assert not receiver.signed_by(sim.auth_token, forged)


# apprise imports its email plugin lazily, and that imports imghdr, deprecated in 3.11.
@pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")
def test_it_keeps_mail_sent_by_apprise(sim: Simulator) -> None:
    notifier = apprise.Apprise()
    assert notifier.add(
        f"mailto://127.0.0.1:{sim.smtp_port}?mode=insecure&format=text"
        "&from=tocsin@tocsin.local&to=someone@example.org"
    )

    result = notifier.notify(title="Incident 42", body="Fire at depot\nReply 1 to acknowledge")

    assert result and [r.status.name for r in result] == ["SUCCESS"]
    [mail] = sim.wait_for("emails", 1)
    assert (mail["from"], mail["to"], mail["subject"]) == (
        "tocsin@tocsin.local",
        ["someone@example.org"],
        "Incident 42",
    )
    assert mail["body"].strip() == "Fire at depot\nReply 1 to acknowledge"
    assert mail["message_id"]


def test_it_answers_unknown_routes_and_bad_json_with_json_errors(sim: Simulator) -> None:
    missing = requests.get(f"{sim.url}/nowhere", timeout=5)
    malformed = requests.post(
        f"{sim.url}/sim/inbound", data="{", headers={"Content-Type": "application/json"}, timeout=5
    )

    assert (missing.status_code, missing.json()["status"]) == (404, 404)
    assert (malformed.status_code, malformed.json()["status"]) == (400, 400)


def test_it_points_only_twilio_hosts_at_the_simulator() -> None:
    client = SimulatorHttpClient("http://127.0.0.1:5050")

    assert (
        client.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?x=1")
        == "http://127.0.0.1:5050/2010-04-01/Accounts/AC1/Messages.json?x=1"
    )
    assert client.rewrite("https://api.us1.twilio.com/v1/x") == "http://127.0.0.1:5050/v1/x"
    assert client.rewrite("https://example.org/a") == "https://example.org/a"
    real = twilio_client("AC" + "1" * 32, "token", api_url=None).http_client
    assert type(real) is TwilioHttpClient and real.timeout == 10


# --- voice -------------------------------------------------------------------

GATHER = (
    '<Response><Gather action="/voice/answer?n=7" numDigits="1" method="POST">'
    "<Say>Fire at depot. Press 1 to acknowledge, 2 if unavailable, 9 to repeat.</Say>"
    "</Gather><Say>No answer received.</Say><Hangup/></Response>"
)
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def serve_voice(receiver: Receiver) -> None:
    """The hub's side of a call: a menu, repeated on 9, thanks on any other key."""

    def answer(params: dict[str, str]) -> str:
        if params["Digits"] == "9":
            return GATHER
        return f"<Response><Say>Thank you, answer {params['Digits']}.</Say><Hangup/></Response>"

    receiver.replies.update({"/voice/twiml": GATHER, "/voice/answer": answer})


def place_call(sim: Simulator, receiver: Receiver, to: str = RESPONDER) -> Any:
    return client_for(sim).calls.create(
        to=to,
        from_=OUR_NUMBER,
        url=f"{receiver.url}/voice/twiml",
        status_callback=f"{receiver.url}/voice/status",
        status_callback_event=ALL_EVENTS,
    )


def call_statuses(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    return receiver.wait_for("/voice/status", count)


@pytest.fixture
def start(receiver: Receiver) -> Iterator[Callable[..., Simulator]]:
    """Start a simulator of the test's own, with options; it is stopped after the test."""
    started: list[Simulator] = []

    def start(**options: Any) -> Simulator:
        started.append(start_simulator(receiver.url, **options))
        return started[-1]

    yield start
    for sim in started:
        sim.stop()


def test_it_plays_a_call_through_the_hubs_twiml(
    start: Callable[..., Simulator], receiver: Receiver
) -> None:
    voice_sim = start(answer_rate=1.0, answer_delay=0.05)
    serve_voice(receiver)

    call = place_call(voice_sim, receiver)

    assert call.sid.startswith("CA") and len(call.sid) == 34
    assert (call.status, call.to, call.from_formatted, call.direction) == (
        "queued",
        RESPONDER,
        OUR_NUMBER,
        "outbound-api",
    )
    statuses = call_statuses(receiver, 4)
    assert [s["params"]["CallStatus"] for s in statuses] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [s["params"]["SequenceNumber"] for s in statuses] == ["0", "1", "2", "3"]
    assert all(receiver.signed_by(voice_sim.auth_token, r) for r in receiver.requests)
    assert int(statuses[-1]["params"]["CallDuration"]) >= 1
    [fetch] = receiver.wait_for("/voice/twiml", 1)
    assert (fetch["params"]["CallSid"], fetch["params"]["CallStatus"]) == (call.sid, "in-progress")
    presses = receiver.wait_for("/voice/answer", 1)
    assert all(p["query"] == "n=7" and p["params"]["CallSid"] == call.sid for p in presses)
    [stored] = voice_sim.calls()
    *repeats, digit = stored["digits_sent"]
    assert set(repeats) <= {"9"} and digit in {"1", "2", "3"}
    assert stored["said"][-1] == f"Thank you, answer {digit}."
    assert len(stored["twiml_fetched"]) == len(presses) + 1
    assert client_for(voice_sim).calls(call.sid).fetch().status == "completed"


def test_it_waits_for_a_test_to_press_keys(
    start: Callable[..., Simulator], receiver: Receiver
) -> None:
    voice_sim = start(call_answer_mode="manual")
    serve_voice(receiver)
    call = place_call(voice_sim, receiver)

    assert voice_sim.call_answer(call.sid, "9")["ok"]
    assert voice_sim.call_answer(call.sid, "2")["ok"]

    assert call_statuses(receiver, 4)[-1]["params"]["CallStatus"] == "completed"
    [stored] = voice_sim.calls()
    assert stored["digits_sent"] == ["9", "2"]
    assert stored["said"][-1] == "Thank you, answer 2."
    ended = requests.post(
        f"{voice_sim.url}/sim/call-answer", json={"sid": call.sid, "digits": "1"}, timeout=5
    )
    assert ended.status_code == 404


def test_it_fails_calls_and_messages_at_the_configured_rates(
    start: Callable[..., Simulator], receiver: Receiver
) -> None:
    voice_sim = start(call_no_answer_rate=1.0, sms_fail_rate=1.0, answer_rate=1.0)
    serve_voice(receiver)
    place_call(voice_sim, receiver)
    message = client_for(voice_sim).messages.create(
        to=RESPONDER, from_=OUR_NUMBER, body="x", status_callback=f"{receiver.url}/status"
    )

    statuses = call_statuses(receiver, 3)
    assert [s["params"]["CallStatus"] for s in statuses] == ["initiated", "ringing", "no-answer"]
    sent, undelivered = receiver.wait_for("/status", 2)
    assert (undelivered["params"]["MessageStatus"], undelivered["params"]["ErrorCode"]) == (
        "undelivered",
        "30003",
    )
    time.sleep(0.3)  # long enough for a TwiML fetch or an answer that must not come
    paths = {r["path"] for r in receiver.requests}
    assert "/voice/twiml" not in paths and "/hooks/twilio/sms" not in paths
    [stored] = voice_sim.calls()
    assert (stored["status"], stored["twiml_fetched"]) == ("no-answer", [])
    assert client_for(voice_sim).messages(message.sid).fetch().error_code == 30003


def test_it_goes_on_after_a_gather_nobody_answers(sim: Simulator, receiver: Receiver) -> None:
    serve_voice(receiver)  # the module's simulator has answer_rate 0: nobody presses a key

    place_call(sim, receiver)

    assert call_statuses(receiver, 4)[-1]["params"]["CallStatus"] == "completed"
    [stored] = sim.calls()
    assert (stored["digits_sent"], stored["said"][-1]) == ([], "No answer received.")
    assert "/voice/answer" not in {r["path"] for r in receiver.requests}


@pytest.mark.parametrize(("to", "code"), [("+15005550001", 21211), ("+15005550009", 13224)])
def test_it_rejects_twilio_voice_test_numbers(
    sim: Simulator, receiver: Receiver, to: str, code: int
) -> None:
    with pytest.raises(TwilioRestException) as caught:
        place_call(sim, receiver, to=to)

    assert (caught.value.status, caught.value.code) == (400, code)
    assert sim.calls() == []


# --- push --------------------------------------------------------------------

# A link with "," must be quoted in ntfy's format; "%2F" must survive apprise.
ACTIONS = (
    'http, Acknowledge, "http://127.0.0.1:5000/r/tok%2Fen?n=5,a", method=POST, clear=true; '
    "view, Open map, https://hub.example/incidents/42"
)


def apprise_arg(value: str) -> str:
    # apprise unquotes a URL argument twice (its URL parser, then the ntfy plugin).
    return quote(quote(value, safe=""), safe="")


def test_it_keeps_ntfy_pushes_with_their_actions(sim: Simulator) -> None:
    host = sim.url.removeprefix("http://")
    notifier = apprise.Apprise()
    assert notifier.add(
        f"ntfy://{host}/tocsin-alerts?priority=high&xtags=fire&actions={apprise_arg(ACTIONS)}"
    )

    assert notifier.notify(title="Incident 42", body="Fire at depot")

    [push] = sim.wait_for("pushes", 1)
    assert (push["service"], push["target"], push["title"], push["body"]) == (
        "ntfy",
        "tocsin-alerts",
        "Incident 42",
        "Fire at depot",
    )
    assert (push["priority"], push["tags"], push["headers"]["X-Actions"]) == (4, ["fire"], ACTIONS)
    assert push["actions"] == [
        {
            "action": "http",
            "label": "Acknowledge",
            "url": "http://127.0.0.1:5000/r/tok%2Fen?n=5,a",
            "method": "POST",
            "clear": True,
        },
        {
            "action": "view",
            "label": "Open map",
            "url": "https://hub.example/incidents/42",
            "clear": False,
        },
    ]


def test_it_refuses_ntfy_actions_ntfy_would_refuse(sim: Simulator) -> None:
    host = sim.url.removeprefix("http://")
    notifier = apprise.Apprise()
    assert notifier.add(f"ntfy://{host}/tocsin-alerts?actions={apprise_arg('view, Open')}")

    assert not notifier.notify(body="x")
    assert sim.pushes() == []


def test_it_reads_ntfy_actions_quoted_or_as_json() -> None:
    quoted = ntfy.parse_actions('view, "Map, live", https://hub/m; broadcast, Page, extras.cmd=pg')
    as_json = ntfy.parse_actions(
        '[{"action": "view", "label": "Map, live", "url": "https://hub/m"}]'
    )

    view = {"action": "view", "label": "Map, live", "url": "https://hub/m", "clear": False}
    assert quoted[0] == as_json[0] == view
    assert quoted[1]["extras"] == {"cmd": "pg"}


def test_it_keeps_gotify_pushes(sim: Simulator) -> None:
    host = sim.url.removeprefix("http://")
    notifier = apprise.Apprise()
    assert notifier.add(f"gotify://{host}/AppToken123?priority=high")

    assert notifier.notify(title="Incident 42", body="Fire at depot")

    [push] = sim.wait_for("pushes", 1)
    assert (push["service"], push["target"], push["title"], push["body"]) == (
        "gotify",
        "AppToken123",
        "Incident 42",
        "Fire at depot",
    )
    assert push["priority"] == 8 and push["headers"]["X-Gotify-Key"] == "AppToken123"


def test_it_keeps_web_push_payloads_raw(sim: Simulator) -> None:
    response = requests.post(
        f"{sim.url}/push/webpush/sub-1",
        data=b"\x01\x02encrypted",
        headers={"TTL": "60", "Content-Encoding": "aes128gcm", "Urgency": "high"},
        timeout=5,
    )

    assert response.status_code == 201
    [push] = sim.pushes()
    assert (push["service"], push["target"], push["size"]) == ("webpush", "sub-1", 11)
    assert push["headers"]["Urgency"] == "high"


# --- load knobs --------------------------------------------------------------


def test_it_answers_429_above_the_rate_limit(start: Callable[..., Simulator]) -> None:
    sim = start(rate_limit=2)
    client = client_for(sim)
    outcomes = []
    for _ in range(5):
        try:
            client.messages.create(to=RESPONDER, from_=OUR_NUMBER, body="x")
            outcomes.append("ok")
        except TwilioRestException as exc:
            outcomes.append((exc.status, exc.code))

    assert outcomes[0] == "ok" and (429, 20429) in outcomes
    time.sleep(0.6)  # the bucket refills at 2 requests a second
    assert client.messages.create(to=RESPONDER, from_=OUR_NUMBER, body="x").sid


def test_it_adds_latency_to_rest_requests(start: Callable[..., Simulator]) -> None:
    sim = start(latency_ms_median=60)
    client = client_for(sim)
    durations, sent_at, answered_at = [], [], []
    for _ in range(20):
        started = time.perf_counter()
        sent_at.append(time.time())
        client.messages.create(to=RESPONDER, from_=OUR_NUMBER, body="x")
        answered_at.append(time.time())
        durations.append(time.perf_counter() - started)

    assert 0.03 < statistics.median(durations) < 0.3
    # A message counts as taken when its request arrived, not after the latency.
    taken = requests.get(f"{sim.url}/sim/accepted", timeout=5).json()["messages"]
    waits = [answered - at for answered, at in zip(answered_at, taken, strict=True)]
    assert all(sent <= at for sent, at in zip(sent_at, taken, strict=True))
    assert statistics.median(waits) > 0.03


def test_it_keeps_silent_responders_silent() -> None:
    dice = Dice(seed=7)
    numbers = [f"+1555000{n:04d}" for n in range(1000)]

    silent = [n for n in numbers if dice.silent(n, 0.2)]

    assert 150 < len(silent) < 250
    assert silent == [n for n in numbers if dice.silent(n, 0.2)]


def test_it_speaks_keep_alive_http_and_refuses_chunked_bodies(sim: Simulator) -> None:
    host, port = sim.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        for _ in range(2):
            conn.sendall(b"GET /sim/health HTTP/1.1\r\nHost: sim\r\n\r\n")
            assert conn.recv(4096).startswith(b"HTTP/1.1 200 OK")
        conn.sendall(
            b"POST /sim/inbound HTTP/1.1\r\nHost: sim\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        assert conn.recv(4096).startswith(b"HTTP/1.1 411 Length Required")
        assert conn.recv(4096) == b""  # and the connection is closed


def test_it_counts_and_times_what_it_took(sim: Simulator) -> None:
    client = client_for(sim)
    before = time.time()
    for n in range(3):
        client.messages.create(to=f"+1555010000{n}", from_="+15005550006", body="count me")
    stats = requests.get(f"{sim.url}/sim/stats", timeout=5).json()
    assert stats["messages"] == 3 and stats["calls"] == 0
    taken = requests.get(f"{sim.url}/sim/accepted", timeout=5).json()["messages"]
    assert len(taken) == 3 and before <= taken[0] <= taken[-1] <= time.time()
