"""The provider simulator, driven by the same twilio and apprise clients Tocsin uses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import apprise
import pytest
import requests
from gevent.pywsgi import WSGIServer
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator

from notifier.twilio_http import SimulatorHttpClient, twilio_client
from tests.helpers.simulator import Simulator, start_simulator

RESPONDER = "+15551230001"
OUR_NUMBER = "+15005550006"


class Receiver:
    """A stand-in hub: records every form POST the simulator makes to it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.server = WSGIServer(("127.0.0.1", 0), self.app, log=None, error_log=None)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read().decode()
        self.requests.append(
            {
                "path": environ["PATH_INFO"],
                "params": dict(parse_qsl(body, keep_blank_values=True)),
                "signature": environ.get("HTTP_X_TWILIO_SIGNATURE", ""),
            }
        )
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [b"<Response/>"]

    def wait_for(self, path: str, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = [r for r in self.requests if r["path"] == path]
            if len(seen) >= count:
                return seen
            time.sleep(0.02)
        raise AssertionError(f"expected {count} POSTs to {path}, saw {self.requests!r}")

    def signed_by(self, token: str, request: dict[str, Any]) -> bool:
        url = self.url + request["path"]
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
