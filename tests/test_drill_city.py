"""`tocsin drill city`: a city of simulated responders with answer profiles, reached
only through the provider simulator and only by drills."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from coordinator.cli import cli
from coordinator.errors import ValidationError
from coordinator.models import (
    Agency,
    Alert,
    AuditEvent,
    ContactPoint,
    Notification,
    Responder,
    Response,
    SimulationProfile,
)
from coordinator.seed import CITY
from coordinator.services import roster_csv, sim_city, sim_profiles
from notifier.simulator.profiles import parse as simulator_parse
from tests.conftest import csrf_token, free_port, login
from tests.helpers import wait_until
from tests.helpers.simulator import start_simulator
from tests.helpers.system import start_system

ROOT = Path(__file__).resolve().parent.parent
NUMBER = re.compile(r"^\+1555099(\d\d)(\d{6})$")


def tocsin_cli(*args: str, db_url: str, **env: str) -> Result:
    """The `tocsin` command in this process, with only the database (and `env`) set:
    what a subprocess would print, exit code included, without paying its start-up."""
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("TOCSIN_")}
    clean.update({"TOCSIN_DATABASE_URL": db_url, "TOCSIN_SIM_PORT": str(free_port()), **env})
    return CliRunner().invoke(cli, list(args), env=clean)


def simulated(tocsin) -> list[Responder]:
    rows = tocsin.db.session.scalars(
        select(Responder).where(Responder.simulated.is_(True)).order_by(Responder.id)
    ).all()
    for r in rows:
        _ = r.contact_points, r.agency, r.team
    tocsin.db.remove()
    return list(rows)


def test_it_builds_a_simulated_city_and_tops_it_up_without_duplicates(tocsin, db_url):
    real = tocsin.db.session.scalar(select(func.count()).select_from(Responder))
    tocsin.db.remove()
    made = tocsin_cli("drill", "city", "--responders", "300", "--seed", "3", db_url=db_url)
    assert made.exit_code == 0, made.stderr
    assert "police: 105 wanted, 0 there, creating 105" in made.stdout
    assert "simulated city: 300 responders (300 new) in 4 agencies" in made.stdout
    assert "no provider simulator answered at http://127.0.0.1:" in made.stdout

    people = simulated(tocsin)
    by_agency = {slug: sum(1 for p in people if p.agency.slug == slug)
                 for slug in ("police", "fire", "ambulance", "council")}  # fmt: skip
    assert by_agency == {"police": 105, "fire": 75, "ambulance": 75, "council": 45}
    for person in people:
        assert person.name.endswith(")") and "(sim " in person.name
        assert person.team is not None and person.team.agency_id == person.agency_id
        assert abs(person.lat - CITY[0]) <= 0.04 and abs(person.lon - CITY[1]) <= 0.07
        channels = [(p.channel, p.address) for p in person.contact_points]
        assert [c for c, _ in channels] == ["sms", "push", "email", "voice"]
        sms, push, email, voice = (a for _, a in channels)
        agency_id, index = NUMBER.match(sms).groups()
        assert int(agency_id) == person.agency_id and sms == voice
        assert (
            push
            == f"ntfy://127.0.0.1:{push.split(':')[2].split('/')[0]}/sim-{person.agency.slug}-{index}"
        )
        assert email == f"sim-{index}@{person.agency.slug}.sim.invalid"
    assert len({p.contact_points[0].address for p in people}) == 300
    fire = {p.team.name for p in people if p.agency.slug == "fire"}
    assert fire == {"Blue Watch", "Hazmat"}

    profiles = {a: (p.answer_rate, p.delay_median_s) for p, a in tocsin.db.session.execute(
        select(SimulationProfile, Agency.slug).join(Agency))}  # fmt: skip
    tocsin.db.remove()
    assert profiles["fire"][1] < profiles["police"][1] < profiles["council"][1]
    assert profiles["fire"][0] > profiles["council"][0]

    again = tocsin_cli("drill", "city", "--responders", "300", db_url=db_url)
    assert "simulated city: 300 responders (0 new)" in again.stdout, again.stderr
    report = sim_city.build_city(tocsin.db, 320, [], "test", seed=4)
    assert (report.total, report.created) == (320, 20)
    numbers = tocsin.db.session.scalars(
        select(ContactPoint.address)
        .join(Responder)
        .where(Responder.simulated.is_(True), ContactPoint.channel == "sms")
    ).all()
    assert len(numbers) == len(set(numbers)) == 320
    built = tocsin.db.session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "drill_city.built")
    ).all()
    assert [d["created"] for d in built] == [300, 0, 20]
    tocsin.db.remove()

    removed = tocsin_cli("drill", "city", "--remove", db_url=db_url)
    assert "removed 320 simulated responders never alerted; 0 kept" in removed.stdout
    assert simulated(tocsin) == []
    assert tocsin.db.session.scalar(select(func.count()).select_from(Responder)) == real
    tocsin.db.remove()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("fire:answer=0.9", "--profile fire:answer=0.9: unknown setting 'answer'; use answer_rate"),
        ("fire:answer_rate=1.5", "answer_rate is a share from 0 to 1, not 1.5"),
        ("fire:silent_share=-0.1", "silent_share is a share from 0 to 1"),
        ("fire:delay_median_s=0", "delay_median_s must be more than 0"),
        ("fire:delay_sigma=9", "delay_sigma must be from 0 to 3"),
        ("fire:answer_rate=lots", "answer_rate must be a number, not 'lots'"),
        ("fire:answer_rate", "answer_rate needs a value"),
        ("fire", "write it as AGENCY:SETTING=VALUE"),
        ("coastguard:answer_rate=1", "no agency 'coastguard' in the simulated city"),
    ],
)
def test_it_explains_a_bad_profile_option(option, message):
    with pytest.raises(ValidationError) as info:
        sim_profiles.parse_options([option], sim_city.SHARES)
    assert message in info.value.errors["profile"]


# The options are checked before the database is touched, on either: SQLite will do.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_bad_option_on_the_command_line_changes_nothing(tocsin, db_url):
    before = tocsin.db.session.scalar(select(func.count()).select_from(AuditEvent))
    tocsin.db.remove()
    result = tocsin_cli(
        "drill", "city", "--responders", "10", "--profile", "fire:answer_rate=2", db_url=db_url
    )
    assert result.exit_code == 1
    assert (
        "Error: --profile fire:answer_rate=2: answer_rate is a share from 0 to 1" in result.stderr
    )
    assert tocsin_cli("drill", "city", db_url=db_url).exit_code == 2  # neither N nor --remove
    assert simulated(tocsin) == []
    assert tocsin.db.session.scalar(select(func.count()).select_from(SimulationProfile)) == 0
    assert tocsin.db.session.scalar(select(func.count()).select_from(AuditEvent)) == before
    tocsin.db.remove()


# The same on either database; the simulator is what is tested here.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_it_pushes_the_profiles_to_a_running_simulator_and_prints_them(tocsin, db_url):
    sim = start_simulator("http://127.0.0.1:9")
    try:
        made = tocsin_cli(
            "drill", "city", "--responders", "8", "--profile", "fire:answer_rate=0.5",
            db_url=db_url, TOCSIN_TWILIO_API_URL=sim.url,
        )  # fmt: skip
        assert f"4 answer profile(s) sent to the simulator at {sim.url}" in made.stdout, made.stderr
        shown = requests.get(f"{sim.url}/sim/profiles", timeout=5).json()["profiles"]
    finally:
        sim.stop()
    printed = tocsin_cli("drill", "profiles", db_url=db_url)
    document = json.loads(printed.stdout)
    assert document["profiles"] == shown
    assert [p.name for p in simulator_parse(document)] == ["ambulance", "council", "fire", "police"]
    fire = next(p for p in shown if p["name"] == "fire")
    fire_id = tocsin.db.session.scalar(select(Agency.id).where(Agency.slug == "fire"))
    tocsin.db.remove()
    assert fire["answer_rate"] == 0.5 and fire["number_prefixes"] == [f"+1555099{fire_id:02d}"]
    assert fire["email_domains"] == ["fire.sim.invalid"] and fire["topic_prefixes"] == ["sim-fire-"]


# --- live never, drills always ------------------------------------------------------------


def declare(client, mode: str) -> int:
    token = csrf_token(client.get("/incidents/new").get_data(as_text=True))
    response = client.post("/incidents/new", data={
        "csrf_token": token, "title": f"{mode} call-out", "kind": "fire", "severity": "major",
        "lat": "51.45", "lon": "-2.58", "message": "Attend.", "mode": mode,
        "agencies": ["police", "fire", "ambulance", "council"], "channels": ["sms", "push"],
        "duty": "all",
    })  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def reached(tocsin, incident_id: int) -> tuple[int, int]:
    """(simulated, real) responders the incident's alerts reached."""
    rows = tocsin.db.session.execute(
        select(Responder.simulated, func.count(func.distinct(Responder.id)))
        .join(Notification, Notification.responder_id == Responder.id)
        .join(Alert, Notification.alert_id == Alert.id)
        .where(Alert.incident_id == incident_id)
        .group_by(Responder.simulated)
    ).all()
    tocsin.db.remove()
    counts = dict(rows)
    return counts.get(True, 0), counts.get(False, 0)


def test_a_live_incident_never_reaches_the_simulated_city_and_a_drill_does(client, tocsin):
    sim_city.build_city(tocsin.db, 40, [], "test", seed=1)
    login(client, "commander")
    live = declare(client, "live")
    drill = declare(client, "drill")
    assert reached(tocsin, live) == (0, 18)
    assert reached(tocsin, drill) == (40, 18)
    board = client.get(f"/incidents/{drill}").get_data(as_text=True)
    assert board.count('data-simulated="yes"') == 40 and "tag-sim" in board
    assert 'data-simulated="yes"' not in client.get(f"/incidents/{live}").get_data(as_text=True)


def test_simulated_responders_are_marked_on_the_roster_and_can_be_left_out(client, tocsin):
    sim_city.build_city(tocsin.db, 20, [], "test", seed=1)
    login(client, "fire-coordinator")
    page = client.get("/rosters/fire").get_data(as_text=True)
    assert page.count('data-simulated="yes"') == 5 and "5 simulated responders" in page
    hidden = client.get("/rosters/fire?sim=hide").get_data(as_text=True)
    assert 'data-simulated="yes"' not in hidden and hidden.count("data-responder=") == 6
    only = client.get("/rosters/fire?sim=only").get_data(as_text=True)
    assert only.count("data-responder=") == 5


def test_a_roster_import_never_changes_or_makes_a_simulated_responder(tocsin):
    sim_city.build_city(tocsin.db, 20, [], "test", seed=1)
    session = tocsin.db.session
    fire = session.scalar(select(Agency).where(Agency.slug == "fire"))
    name = session.scalar(
        select(Responder.name).where(Responder.simulated.is_(True), Responder.agency_id == fire.id)
    )
    plan = roster_csv.check(session, fire, f"name,sms\n{name},+447700900111\n".encode())
    assert not plan.clean and plan.errors[0].line == 2
    assert "is a simulated responder (tocsin drill city)" in plan.errors[0].problems[0]
    plan = roster_csv.check(session, fire, b"name,simulated\nNew Person,yes\n")
    assert not plan.clean and "simulated" in plan.errors[0].problems[0]
    tocsin.db.remove()


# --- the city's people answer as their profile says, through the whole system ---------------


def test_a_drill_to_the_simulated_city_is_answered_once_per_person_on_any_channel(tmp_path):
    system = start_system(f"sqlite:///{tmp_path / 'city.db'}", None, answer_delay=0.05)
    try:
        t = system.tocsin
        port = int(system.sim.url.rsplit(":", 1)[1])
        always = "answer_rate=1,silent_share=0,fail_share=0,unavailable_share=0,delay_median_s=0.2"
        # The police's numbers all fail: they answer through the push or email link.
        options = [f"{s}:{always}" for s in sim_city.SHARES] + ["police:fail_share=1"]
        sim_city.build_city(t.db, 24, options, "test", seed=2, sim_port=port)
        pushed, said = sim_profiles.push(system.sim.url, sim_profiles.export(t.db.session))
        t.db.remove()
        assert pushed, said
        commander = system.browser()
        page = commander.get(f"{system.url}/incidents/new", timeout=5).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = commander.post(f"{system.url}/incidents/new", data={
            "csrf_token": token, "title": "City drill", "kind": "fire", "severity": "major",
            "lat": "51.45", "lon": "-2.58", "message": "Exercise.", "mode": "drill",
            "agencies": list(sim_city.SHARES), "channels": ["sms", "push", "email"],
        }, timeout=10, allow_redirects=False)  # fmt: skip
        assert response.status_code == 302

        def answered() -> dict[int, list[Response]]:
            rows = t.db.session.scalars(
                select(Response).join(Responder).where(Responder.simulated.is_(True))
            ).all()
            t.db.remove()
            found: dict[int, list[Response]] = {}
            for r in rows:
                found.setdefault(r.responder_id, []).append(r)
            return found if len(found) == 24 else {}

        by_person = wait_until(answered, timeout=30, what="every simulated responder answering")
        assert all(len(answers) == 1 for answers in by_person.values())
        police_sim = Responder.simulated.is_(True) & Responder.agency.has(Agency.slug == "police")
        police = set(t.db.session.scalars(select(Responder.id).where(police_sim)))
        t.db.remove()
        assert len(police) == 8
        assert {by_person[rid][0].channel for rid in police} == {"link"}  # push or email
        assert {a[0].channel for rid, a in by_person.items() if rid not in police} <= {
            "sms",
            "link",
        }
        assert {a[0].answer for a in by_person.values()} <= {"acknowledged", "en_route"}
    finally:
        system.shutdown()


def test_tocsin_run_hands_the_stored_profiles_to_the_simulator_it_starts(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'run.db'}"
    sim_port, smtp_port, port = free_port(), free_port(), free_port()
    ports = {"TOCSIN_SIM_PORT": str(sim_port), "TOCSIN_SIM_SMTP_PORT": str(smtp_port)}
    for args in (
        ("db", "upgrade"),
        ("seed-demo",),
        ("drill", "city", "--responders", "4", "--profile", "fire:answer_rate=0.3"),
    ):
        done = tocsin_cli(*args, db_url=db_url, **ports)  # fmt: skip
        assert done.exit_code == 0, done.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update(PYTHONPATH=str(ROOT), TOCSIN_DATABASE_URL=db_url, **ports)
    with open(tmp_path / "run.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "coordinator", "run", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    try:

        def profiles() -> list[dict]:
            try:
                url = f"http://127.0.0.1:{sim_port}/sim/profiles"
                return requests.get(url, timeout=1).json()["profiles"]
            except requests.RequestException:
                return []

        shown = wait_until(profiles, timeout=30, what="the simulator holding the profiles")
        assert {p["name"]: p["answer_rate"] for p in shown}["fire"] == 0.3
        assert len(shown) == 4
    finally:
        process.terminate()
        process.wait(timeout=20)
