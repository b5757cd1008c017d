"""Channels against the provider simulator: what goes out, and how failures are classed."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from twilio.base.exceptions import TwilioRestException

from broker.env import ConfigError
from broker.messages import NotifyMessage
from notifier import smstext
from notifier.channels import CHANNELS, SendError, Sent, build_channels
from notifier.channels.email import EmailChannel
from notifier.channels.push import PushChannel, ntfy_actions
from notifier.channels.sms import SmsChannel
from notifier.channels.twilio_errors import NUMBER_CODES, SMS_CODES, send_error
from notifier.channels.voice import VoiceChannel
from notifier.config import NotifierSettings
from tests.conftest import free_port
from tests.helpers.simulator import Simulator, start_simulator

HUB = "http://127.0.0.1:9"  # nothing listens: no callback of these tests needs the hub
LONG_BODY = (
    "Chemical fire at the docks, warehouse 4. Evacuate the north gate area and keep "
    "upwind; muster at the Harbour Road car park. Bring breathing apparatus, the "
    "foam tender and the decontamination unit. Police close Dock Street both ways. "
) * 3


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    sim = start_simulator(HUB, status_delay=5.0)
    yield sim
    sim.stop()


@pytest.fixture(autouse=True)
def _fresh(sim: Simulator) -> None:
    sim.reset()


def settings_for(sim: Simulator, **kw) -> NotifierSettings:
    values = dict(
        twilio_account_sid=sim.account_sid,
        twilio_auth_token=sim.auth_token,
        twilio_from="+15005550006",
        twilio_api_url=sim.url,
        email_url=f"mailto://127.0.0.1:{sim.smtp_port}?mode=insecure&from=tocsin@tocsin.local",
    )
    values.update(kw)
    return NotifierSettings(**values)


def message(channel: str, address: str, **kw) -> NotifyMessage:
    values = dict(
        notification_id=41,
        alert_id=3,
        incident_id=7,
        responder_id=12,
        channel=channel,
        address=address,
        subject="CRITICAL chemical: Fire at the docks",
        body="Evacuate the “north” gate – now.",
        ack_url="https://tocsin.example/r/eyJuIjo0MX0.Zk3x.sig-_A",
        status_url="https://tocsin.example/hooks/twilio/status?n=41",
        details="Where: Dock Street 4\nDrill: no",
        voice_url="https://tocsin.example/hooks/twilio/voice?n=41",
    )
    values.update(kw)
    return NotifyMessage(**values)


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


# Registry and settings


def test_it_registers_every_channel():
    assert list(CHANNELS) == ["sms", "voice", "email", "push"]
    built = build_channels(list(CHANNELS), NotifierSettings(twilio_from="+15005550006"))
    assert [c.name for c in built.values()] == list(CHANNELS)


def test_it_names_missing_settings_per_channel():
    bare = NotifierSettings()
    assert bare.missing_for("sms") == [
        "TOCSIN_TWILIO_ACCOUNT_SID",
        "TOCSIN_TWILIO_AUTH_TOKEN",
        "TOCSIN_TWILIO_FROM",
    ]
    assert "TOCSIN_TWILIO_VOICE_FROM or TOCSIN_TWILIO_FROM" in bare.missing_for("voice")
    assert bare.missing_for("email") == ["TOCSIN_EMAIL_URL"]
    assert bare.missing_for("push") == []
    voice = NotifierSettings(twilio_account_sid="AC1", twilio_auth_token="t", twilio_from="+1555")
    assert voice.missing_for("voice") == []


def test_it_reads_validity_ring_time_and_caller_from_the_environment(monkeypatch):
    assert (NotifierSettings().sms_validity_seconds, NotifierSettings().voice_ring_seconds) == (
        900,
        30,
    )
    monkeypatch.setenv("TOCSIN_SMS_VALIDITY_SECONDS", "600")
    monkeypatch.setenv("TOCSIN_VOICE_RING_SECONDS", "45")
    monkeypatch.setenv("TOCSIN_TWILIO_VOICE_FROM", "+15005550007")
    loaded = NotifierSettings.from_env()
    assert (loaded.sms_validity_seconds, loaded.voice_ring_seconds) == (600, 45)
    assert loaded.twilio_voice_from == "+15005550007"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TOCSIN_SMS_VALIDITY_SECONDS", "0"),
        ("TOCSIN_SMS_VALIDITY_SECONDS", "14401"),
        ("TOCSIN_SMS_VALIDITY_SECONDS", "15m"),
        ("TOCSIN_VOICE_RING_SECONDS", "2"),
        ("TOCSIN_VOICE_RING_SECONDS", "601"),
    ],
)
def test_it_refuses_out_of_range_provider_settings(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        NotifierSettings.from_env()


# Twilio error mapping


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (400, 21211, True),  # invalid To
        (400, 21610, True),  # opted out
        (400, 21614, True),  # not a mobile number
        (400, 21999, True),  # any other 400: the same request fails again
        (429, 20429, False),  # throttled: always safe to retry
        (400, 20429, False),
        (429, 429, False),
        (500, 20500, False),
        (503, 503, False),
        (401, 20003, False),  # our credentials: fixable, then the dead letter is resent
        (404, 20404, False),
    ],
)
def test_it_classes_twilio_errors(status, code, permanent):
    exc = TwilioRestException(status, "https://api.twilio.com/x", "msg", code)
    error = send_error(exc, NUMBER_CODES | SMS_CODES)
    assert error.permanent is permanent
    assert str(code) in str(error) and str(status) in str(error)


def test_it_classes_an_unreachable_twilio_as_transient():
    error = send_error(ConnectionRefusedError("refused"), NUMBER_CODES)
    assert not error.permanent and "unreachable" in str(error)


# SMS


def test_it_sends_an_sms_that_fits_with_validity_and_status_callback(sim):
    channel = SmsChannel(settings_for(sim, sms_validity_seconds=600))
    msg = message("sms", "+15551230001", body=LONG_BODY)
    sent = channel.send(msg)
    [record] = sim.messages()
    assert sent.provider_id == record["sid"] and sent.provider_id.startswith("SM")
    body = record["body"]
    assert smstext.encoding(body) == "GSM-7"
    assert smstext.segments(body) == 3 == sent.segments
    assert body.startswith("Tocsin CRITICAL chemical: Fire at the docks. Chemical fire")
    assert body.endswith(f"... Reply 1 ACK, 2 EN ROUTE, 3 UNAVAILABLE. {msg.ack_url}")
    assert record["validity_period"] == 600
    assert record["status_callback"] == msg.status_url
    assert (record["to"], record["from"]) == ("+15551230001", "+15005550006")


def test_it_sends_a_short_sms_as_one_gsm_segment(sim):
    sent = SmsChannel(settings_for(sim)).send(
        message("sms", "+15551230002", ack_url="https://t.io/r/x")
    )
    [record] = sim.messages()
    assert record["body"] == (
        'Tocsin CRITICAL chemical: Fire at the docks. Evacuate the "north" gate - now. '
        "Reply 1 ACK, 2 EN ROUTE, 3 UNAVAILABLE. https://t.io/r/x"
    )
    assert sent.segments == 1
    assert record["validity_period"] == 900


@pytest.mark.parametrize(
    ("to", "code"),
    [("+15005550001", 21211), ("+15005550002", 21612), ("+15005550004", 21610), ("12345", 21211)],
)
def test_it_reports_an_unreachable_number_as_permanent(sim, to, code):
    with pytest.raises(SendError) as info:
        SmsChannel(settings_for(sim)).send(message("sms", to))
    assert info.value.permanent
    assert f"Twilio {code}" in str(info.value)


def test_it_reports_a_twilio_it_cannot_reach_as_transient(sim):
    channel = SmsChannel(settings_for(sim, twilio_api_url=closed_port_url()))
    with pytest.raises(SendError) as info:
        channel.send(message("sms", "+15551230001"))
    assert not info.value.permanent
    assert "Twilio unreachable" in str(info.value)


def test_it_treats_wrong_credentials_as_transient_not_a_lost_alert(sim):
    channel = SmsChannel(settings_for(sim, twilio_auth_token="wrong"))
    with pytest.raises(SendError) as info:
        channel.send(message("sms", "+15551230001"))
    assert not info.value.permanent and "20003" in str(info.value)


# Email


def test_it_emails_subject_message_details_and_the_answer_link(sim):
    sent = EmailChannel(settings_for(sim)).send(message("email", "duty.officer@fire.example"))
    assert sent == Sent()
    [email] = sim.wait_for("emails", 1)
    assert email["subject"] == "CRITICAL chemical: Fire at the docks"
    text = email["body"]
    assert "Evacuate the “north” gate – now." in text
    assert "Where: Dock Street 4\nDrill: no" in text.replace("\r\n", "\n")
    assert "Answer: https://tocsin.example/r/eyJuIjo0MX0.Zk3x.sig-_A" in text


def test_it_names_the_target_of_an_email_server_it_cannot_reach(sim):
    url = f"mailto://127.0.0.1:{free_port()}?mode=insecure&from=tocsin@tocsin.local"
    with pytest.raises(SendError) as info:
        EmailChannel(settings_for(sim, email_url=url)).send(message("email", "a@fire.example"))
    assert not info.value.permanent
    assert "failure" in str(info.value) and "127.0.0.1" in str(info.value)


def test_it_refuses_a_malformed_email_address_for_good(sim):
    with pytest.raises(SendError) as info:
        EmailChannel(settings_for(sim)).send(message("email", "not an address"))
    assert info.value.permanent


# Voice


def test_it_places_a_call_that_fetches_the_hubs_twiml_and_reports_progress(sim):
    channel = VoiceChannel(settings_for(sim, twilio_voice_from="+15005550007"))
    msg = message("voice", "+15551230001", voice_url=f"{HUB}/hooks/twilio/voice?n=41")
    sent = channel.send(msg)
    [call] = sim.calls()
    assert sent == Sent(call["sid"]) and call["sid"].startswith("CA")
    assert (call["to"], call["from"]) == ("+15551230001", "+15005550007")
    assert call["url"] == msg.voice_url
    assert call["status_callback"] == msg.status_url
    assert call["status_callback_events"] == sorted(
        ["initiated", "ringing", "answered", "completed"]
    )
    assert call["timeout"] == 30


def test_it_calls_from_the_sms_number_when_no_voice_number_is_set(sim):
    VoiceChannel(settings_for(sim, voice_ring_seconds=20)).send(message("voice", "+15551230001"))
    [call] = sim.calls()
    assert (call["from"], call["timeout"]) == ("+15005550006", 20)


@pytest.mark.parametrize(
    ("to", "code"),
    [("+15005550001", 21211), ("+15005550002", 21214), ("+15005550003", 21215),
     ("+15005550009", 13224)],
)  # fmt: skip
def test_it_gives_up_at_once_on_a_number_no_call_can_reach(sim, to, code):
    with pytest.raises(SendError) as info:
        VoiceChannel(settings_for(sim)).send(message("voice", to))
    assert info.value.permanent and f"Twilio {code}" in str(info.value)
    assert sim.calls() == []


def test_it_retries_calls_when_twilio_is_unreachable(sim):
    channel = VoiceChannel(settings_for(sim, twilio_api_url=closed_port_url()))
    with pytest.raises(SendError) as info:
        channel.send(message("voice", "+15551230001"))
    assert not info.value.permanent


def test_it_needs_a_twiml_url_to_call():
    channel = VoiceChannel(NotifierSettings(twilio_from="+15005550006"))
    with pytest.raises(SendError) as info:
        channel.send(message("voice", "+15551230001", voice_url=""))
    assert info.value.permanent


# Push


def test_it_builds_ntfy_actions_that_post_each_answer():
    actions = ntfy_actions("https://tocsin.example/r/abc")
    assert actions.split("; ") == [
        f"http, {label}, https://tocsin.example/r/abc, method=POST, "
        "headers.Content-Type=application/x-www-form-urlencoded, "
        f"body=answer={value}, clear=true"
        for label, value in [
            ("Acknowledged", "acknowledged"),
            ("En route", "en_route"),
            ("Unavailable", "unavailable"),
        ]
    ]
    assert '"https://x.example/r/a,b"' in ntfy_actions("https://x.example/r/a,b")


@pytest.mark.parametrize(
    "address",
    ["json://127.0.0.1/hook", "mailto://a@b.example", "dbus://", "+15551230001", "https://x.io"],
)
def test_it_refuses_what_is_not_a_push_service(address):
    with pytest.raises(SendError) as info:
        PushChannel(NotifierSettings()).send(message("push", address))
    assert info.value.permanent


def test_it_refuses_a_push_url_apprise_cannot_parse():
    with pytest.raises(SendError) as info:
        PushChannel(NotifierSettings()).send(message("push", "pover://"))
    assert info.value.permanent
    assert "pover://" in str(info.value)


def test_it_pushes_to_ntfy_with_a_button_per_answer_and_a_tap_to_the_answer_page(sim):
    port = sim.url.rsplit(":", 1)[1]
    msg = message("push", f"ntfy://127.0.0.1:{port}/tocsin-r12")
    assert PushChannel(NotifierSettings()).send(msg) == Sent()
    [push] = sim.pushes()
    assert (push["service"], push["target"]) == ("ntfy", "tocsin-r12")
    assert push["title"] == msg.subject
    assert push["body"] == f"{msg.body}\n\nAnswer: {msg.ack_url}"
    assert push["click"] == msg.ack_url
    assert [(a["action"], a["label"]) for a in push["actions"]] == [
        ("http", "Acknowledged"),
        ("http", "En route"),
        ("http", "Unavailable"),
    ]
    for action, answer in zip(
        push["actions"], ("acknowledged", "en_route", "unavailable"), strict=True
    ):
        assert (action["url"], action["method"]) == (msg.ack_url, "POST")
        assert action["body"] == f"answer={answer}"
        assert action["headers"] == {"Content-Type": "application/x-www-form-urlencoded"}
        assert action["clear"] is True


def test_it_delivers_an_awkward_answer_link_intact(sim):
    port = sim.url.rsplit(":", 1)[1]
    link = "https://tocsin.example/r/a+b,c;d_e-f.g~h?x=1&y=2"
    msg = message("push", f"ntfy://127.0.0.1:{port}/tocsin-r12?priority=high", ack_url=link)
    PushChannel(NotifierSettings()).send(msg)
    [push] = sim.pushes()
    assert {a["url"] for a in push["actions"]} == {link}
    assert unquote(push["click"]) == link  # apprise percent-encodes the X-Click header
    assert push["priority"] == 4  # the responder's own URL arguments are kept


def test_it_pushes_to_gotify_with_the_link_in_the_text(sim):
    port = sim.url.rsplit(":", 1)[1]
    msg = message("push", f"gotify://127.0.0.1:{port}/AppToken123")
    PushChannel(NotifierSettings()).send(msg)
    [push] = sim.pushes()
    assert (push["service"], push["target"]) == ("gotify", "AppToken123")
    assert push["title"] == msg.subject
    assert msg.ack_url in push["body"]


def test_it_says_why_a_push_service_that_is_down_failed(sim):
    msg = message("push", f"ntfy://127.0.0.1:{free_port()}/tocsin-r12")
    with pytest.raises(SendError) as info:
        PushChannel(NotifierSettings()).send(msg)
    text = str(info.value)
    assert not info.value.permanent
    assert "ntfy ntfy://127.0.0.1:" in text and "failure" in text and "Connection error" in text
    assert msg.ack_url not in text  # the answer link is a capability: never in an error


def test_it_reports_pushover_out_of_reach_as_the_failure_it_is():
    # No route to Pushover from here: apprise must say so, not pretend it was sent.
    msg = message("push", "pover://u" + "a" * 29 + "@a" + "b" * 29)
    with pytest.raises(SendError) as info:
        PushChannel(NotifierSettings()).send(msg)
    assert not info.value.permanent
    assert "Pushover" in str(info.value) and "failure" in str(info.value)
    assert "b" * 29 not in str(info.value)  # the token is masked


def test_it_gives_up_on_a_push_service_whose_plugin_is_not_installed():
    # apprise's FCM plugin needs the cryptography package, which we do not ship.
    msg = message("push", "fcm://AIzaSyA1234567890abcdefghijklmnopqrstu/device-token")
    with pytest.raises(SendError) as info:
        PushChannel(NotifierSettings()).send(msg)
    assert info.value.permanent and "fcm:// is disabled here" in str(info.value)
