"""The provider simulator's answer profiles: people at profiled addresses fail, stay
silent, answer and say unavailable in the proportions their profile gives, after a
lognormal delay, and answer once whatever the channels that reached them."""

from __future__ import annotations

import json
import re
import smtplib
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import pytest
import requests

from notifier.simulator.dice import Dice
from notifier.simulator.people import QUIET_SECONDS, SETTLE_SECONDS, People
from notifier.simulator.profiles import Match, ProfileError, Profiles, parse
from tests.helpers import wait_until
from tests.helpers.simulator import REPO_ROOT, Simulator, start_simulator
from tests.test_simulator import OUR_NUMBER, Receiver, client_for, place_call, serve_voice

PREFIX = "+155509901"
PROFILE = {
    "name": "fire",
    "number_prefixes": [PREFIX],
    "email_domains": ["fire.sim.invalid"],
    "topic_prefixes": ["sim-fire-"],
    "answer_rate": 0.7,
    "delay_median_s": 0.4,
    "delay_sigma": 0.4,
    "unavailable_share": 0.2,
    "silent_share": 0.15,
    "fail_share": 0.1,
}
INBOUND = "/hooks/twilio/sms"


class TimedReceiver(Receiver):
    """The stand-in hub, noting when each request arrived."""

    def app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        reply = super().app(environ, start_response)
        self.requests[-1]["at"] = time.monotonic()
        return reply


@pytest.fixture(scope="module")
def receiver() -> Iterator[TimedReceiver]:
    receiver = TimedReceiver()
    yield receiver
    receiver.server.stop()


@pytest.fixture(scope="module")
def sim(receiver: TimedReceiver) -> Iterator[Simulator]:
    sim = start_simulator(receiver.url, seed=11)
    yield sim
    sim.stop()


@pytest.fixture(autouse=True)
def clean(sim: Simulator, receiver: TimedReceiver) -> None:
    sim.reset()
    receiver.requests.clear()
    receiver.replies.clear()


def put_profiles(sim: Simulator, *profiles: dict[str, Any]) -> requests.Response:
    return requests.put(f"{sim.url}/sim/profiles", json={"profiles": list(profiles)}, timeout=5)


def stats(sim: Simulator) -> dict[str, int]:
    return requests.get(f"{sim.url}/sim/profiles", timeout=5).json()["stats"].get("fire", {})


def paths(receiver: TimedReceiver, path: str) -> list[dict[str, Any]]:
    return [r for r in receiver.requests if r["path"] == path]


def test_it_answers_in_the_proportions_and_delays_of_the_profile(sim, receiver):
    assert put_profiles(sim, PROFILE).status_code == 200
    client = client_for(sim)
    numbers = [f"{PREFIX}{n:06d}" for n in range(1, 201)]
    for number in numbers:  # no status callbacks: the hub hears the answers only
        client.messages.create(to=number, from_=OUR_NUMBER, body="EXERCISE drill")
    finals = wait_until(lambda: final_statuses(sim, 200), what="every message delivered or not")
    counted = stats(sim)
    wait_until(lambda: len(paths(receiver, INBOUND)) >= counted["answered"], what="the answers")
    time.sleep(0.5)  # an answer beyond the profile's would arrive by now

    failed = {n for n, status in finals.items() if status == "undelivered"}
    answers = paths(receiver, INBOUND)
    answered = {a["params"]["From"] for a in answers}
    assert len(answers) == len(answered) == counted["answered"]  # one answer per person
    assert 8 <= len(failed) <= 35  # 10% of 200
    assert not failed & answered  # a handset that never got the message cannot answer
    assert counted["people"] == 200 - len(failed)
    assert 0.07 <= counted["silent"] / counted["people"] <= 0.25
    reachable = counted["people"] - counted["silent"]
    assert 0.55 <= counted["answered"] / reachable <= 0.85
    unavailable = [a for a in answers if a["params"]["Body"] == "3"]
    assert len(unavailable) == counted["unavailable"]
    assert 0.08 <= len(unavailable) / len(answers) <= 0.35
    assert {a["params"]["Body"] for a in answers} <= {"1", "2", "3"}
    # Delays as the simulator took the message and posted the answer (the hub's own
    # pace in this test process is not the profile's).
    taken = {m["to"]: datetime.fromisoformat(m["created_at"]) for m in sim.messages()}
    posted = [c for c in sim.callbacks() if c["kind"] == "inbound"]
    delays = [(datetime.fromisoformat(c["at"]) - taken[c["params"]["From"]]).total_seconds()
              for c in posted]  # fmt: skip
    assert len(delays) == len(answers)
    assert 0.25 <= statistics.median(delays) <= 0.65  # lognormal around 0.4 s
    assert max(delays) < 0.4 * 20 + 1  # clipped at twenty times the median

    # The same numbers fail again: failing is a property of the number.
    sim.reset()
    receiver.requests.clear()
    for number in sorted(failed)[:5]:
        client.messages.create(to=number, from_=OUR_NUMBER, body="x")
    again = wait_until(lambda: final_statuses(sim, 5), what="the failing numbers' statuses")
    assert set(again.values()) == {"undelivered"}


def final_statuses(sim: Simulator, count: int) -> dict[str, str]:
    """{number: delivered or undelivered} once `count` messages got that far, else {}."""
    done = {m["to"]: m["status"] for m in sim.messages()
            if m["status"] in ("delivered", "undelivered")}  # fmt: skip
    return done if len(done) >= count else {}


def test_a_person_reached_on_every_channel_answers_once(sim, receiver):
    always = {**PROFILE, "answer_rate": 1.0, "silent_share": 0.0, "fail_share": 0.0,
              "unavailable_share": 0.0, "delay_median_s": 0.1}  # fmt: skip
    assert put_profiles(sim, always).status_code == 200
    client_for(sim).messages.create(to=f"{PREFIX}000007", from_=OUR_NUMBER, body="drill")
    send_mail(sim, "sim-000007@fire.sim.invalid", f"{receiver.url}/r/token-7")
    push(sim, "sim-fire-000007", f"{receiver.url}/r/token-7p")
    # Someone reached by email only answers through the mail's link, with a POST.
    send_mail(sim, "sim-000008@FIRE.sim.invalid", f"{receiver.url}/r/token-8")
    # ... and by push only, through the action button of their answer.
    push(sim, "sim-fire-000009", f"{receiver.url}/r/token-9")

    wait_until(lambda: len(answers(receiver)) >= 3, what="three people answering")
    time.sleep(0.5)  # a second answer of person 7 would have come by now
    by_person = answers(receiver)
    seven = [a for a in by_person if a["path"] in ("/r/token-7", "/r/token-7p")
             or a["params"].get("From") == f"{PREFIX}000007"]  # fmt: skip
    assert len(seven) == 1 and len(by_person) == 3
    links = {a["path"]: a["params"]["answer"] for a in by_person if a["path"].startswith("/r/")}
    assert links["/r/token-8"] in ("acknowledged", "en_route")
    assert links["/r/token-9"] in ("acknowledged", "en_route")
    assert stats(sim)["people"] == 3


def answers(receiver: TimedReceiver) -> list[dict[str, Any]]:
    return [r for r in receiver.requests if r["path"] == INBOUND or r["path"].startswith("/r/")]


def send_mail(sim: Simulator, to: str, link: str) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "tocsin@tocsin.local", to, "EXERCISE drill"
    mail.set_content(f"EXERCISE EXERCISE EXERCISE\nDrill.\nAnswer: {link}\n")
    with smtplib.SMTP("127.0.0.1", sim.smtp_port, timeout=5) as smtp:
        smtp.send_message(mail)


def push(sim: Simulator, topic: str, link: str) -> None:
    actions = [
        {"action": "http", "label": label, "url": link, "method": "POST",
         "body": f"answer={value}", "clear": True}
        for label, value in (("Acknowledge", "acknowledged"), ("En route", "en_route"),
                             ("Unavailable", "unavailable"))
    ]  # fmt: skip
    body = {"topic": topic, "title": "EXERCISE", "message": "Drill", "actions": actions}
    requests.post(f"{sim.url}/", json=body, timeout=5).raise_for_status()


def test_a_call_to_a_profiled_number_fails_or_is_answered_as_the_person_decided(sim, receiver):
    failing = {**PROFILE, "fail_share": 1.0}
    assert put_profiles(sim, failing).status_code == 200
    serve_voice(receiver)
    place_call(sim, receiver, to=f"{PREFIX}000020")
    statuses = receiver.wait_for("/voice/status", 2)
    assert [s["params"]["CallStatus"] for s in statuses] == ["initiated", "failed"]

    answering = {**PROFILE, "answer_rate": 1.0, "silent_share": 0.0, "fail_share": 0.0,
                 "unavailable_share": 1.0}  # fmt: skip
    assert put_profiles(sim, answering).status_code == 200
    receiver.requests.clear()
    place_call(sim, receiver, to=f"{PREFIX}000021")
    [press] = receiver.wait_for("/voice/answer", 1)
    assert press["params"]["Digits"] == "3"  # unavailable, pressed once, no repeats

    silent = {**PROFILE, "silent_share": 1.0, "fail_share": 0.0}
    assert put_profiles(sim, silent).status_code == 200
    receiver.requests.clear()
    place_call(sim, receiver, to=f"{PREFIX}000022")
    statuses = receiver.wait_for("/voice/status", 3)
    assert statuses[-1]["params"]["CallStatus"] == "no-answer"


def test_addresses_no_profile_covers_keep_the_global_settings(sim, receiver):
    assert put_profiles(sim, {**PROFILE, "answer_rate": 1.0, "silent_share": 0.0,
                              "fail_share": 0.0}).status_code == 200  # fmt: skip
    client_for(sim).messages.create(
        to="+15551230001", from_=OUR_NUMBER, body="x", status_callback=f"{receiver.url}/s"
    )
    receiver.wait_for("/s", 2)
    time.sleep(0.3)  # the module's simulator has --answer-rate 0: nobody outside answers
    assert paths(receiver, INBOUND) == [] and stats(sim) == {}


def test_it_shows_and_replaces_profiles_and_refuses_bad_ones(sim):
    assert put_profiles(sim, PROFILE).status_code == 200
    shown = requests.get(f"{sim.url}/sim/profiles", timeout=5).json()["profiles"]
    assert shown == [PROFILE]
    bad = put_profiles(sim, {**PROFILE, "answer_rate": 1.5})
    assert bad.status_code == 400 and "profiles[0].answer_rate" in bad.json()["error"]
    assert requests.get(f"{sim.url}/sim/profiles", timeout=5).json()["profiles"] == [PROFILE]
    assert put_profiles(sim).status_code == 200
    assert requests.get(f"{sim.url}/sim/profiles", timeout=5).json()["profiles"] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"answer_rate": "high"}, "profiles[0].answer_rate: a number is required"),
        ({"delay_median_s": 0}, "profiles[0].delay_median_s: more than 0"),
        ({"delay_sigma": 9}, "profiles[0].delay_sigma: from 0 to 3"),
        ({"number_prefixes": ["0155"]}, "is not '+' and digits"),
        ({"number_prefixes": [], "email_domains": [], "topic_prefixes": []}, "at least one of"),
        ({"colour": "red"}, "unknown field colour"),
        ({"name": ""}, "profiles[0].name"),
    ],
)
def test_it_names_the_field_of_a_bad_profile(change, message):
    with pytest.raises(ProfileError, match=re.escape(message)):
        parse({"profiles": [{**PROFILE, **change}]})


def test_the_longest_prefix_wins_and_people_are_known_by_their_digits():
    wide = {**PROFILE, "name": "city", "number_prefixes": ["+1555099"], "email_domains": [],
            "topic_prefixes": []}  # fmt: skip
    profiles = Profiles(parse({"profiles": [wide, PROFILE]}))
    sms = profiles.for_number(f"{PREFIX}000017")
    assert sms.profile.name == "fire" and sms.person == "fire:000017"
    assert profiles.for_number("+15550990300001").profile.name == "city"
    assert profiles.for_email("sim-000017@Fire.Sim.Invalid").person == "fire:000017"
    assert profiles.for_topic("sim-fire-000017").person == "fire:000017"
    assert profiles.for_number("+15550100001") is None


def test_the_command_line_refuses_a_bad_profiles_file(tmp_path):
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"profiles": [{**PROFILE, "silent_share": -1}]}))
    result = subprocess.run(
        [sys.executable, "-m", "notifier.simulator", "--profiles", str(path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--profiles: profiles[0].silent_share: a share from 0 to 1" in result.stderr


def test_it_starts_with_the_profiles_of_a_file(tmp_path, receiver):
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"profiles": [PROFILE]}))
    sim = start_simulator(receiver.url, profiles=str(path))
    try:
        shown = requests.get(f"{sim.url}/sim/profiles", timeout=5).json()["profiles"]
        assert shown == [PROFILE]
    finally:
        sim.stop()


def test_a_person_keeps_their_decision_for_one_call_out_then_decides_afresh():
    clock = [1000.0]
    people = People(Dice(seed=3), clock=lambda: clock[0])
    answering = Match(parse({"profiles": [{**PROFILE, "answer_rate": 1.0, "silent_share": 0.0,
                                            "delay_median_s": 30}]})[0], "fire:000001")  # fmt: skip
    first, made = people.decide(answering)
    assert made and first.answer in ("1", "2", "3")
    clock[0] += first.delay + SETTLE_SECONDS - 1  # the other channels' copies: same decision
    assert people.decide(answering) == (first, False)
    clock[0] += 2  # settled: the next message is a new call-out
    assert people.decide(answering)[1] is True

    silent = Match(parse({"profiles": [{**PROFILE, "silent_share": 1.0}]})[0], "fire:000002")
    quiet, _ = people.decide(silent)
    assert quiet.answer is None
    clock[0] += QUIET_SECONDS - 1  # through the escalation steps: still the same call-out
    assert people.decide(silent)[1] is False
    clock[0] += 2
    assert people.decide(silent)[1] is True
    assert people.stats()["fire"]["people"] == 4 and people.stats()["fire"]["silent"] == 2
