"""CAP 1.2 through the REST API (POST /api/v1/cap with an agency's token) and the
CLI (`tocsin cap import FILE`, `tocsin cap export INCIDENT_ID`, `tocsin cap
area-codes import FILE.csv`): what works, and every refusal answered clearly
with nothing created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from coordinator import cap
from coordinator.commands.cap import cap as cap_command
from coordinator.models import AuditEvent, CapAreaCode, CapMessage, Incident
from coordinator.services import tokens
from coordinator.services.alerts import send_alert
from coordinator.services.targeting import Targeting
from tests.helpers.cap import document, fixture, reference_to, rows

ROOT = Path(__file__).resolve().parent.parent
WARNING = document()


@pytest.fixture
def fire(tocsin) -> dict[str, str]:
    with tocsin.db.write() as session:
        plaintext = tokens.create(session, "fire", "Met feed", "user:admin")[1]
    return {"Authorization": f"Bearer {plaintext}"}


def post_cap(client, headers, data: bytes, content_type: str = "application/cap+xml"):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/cap", data=data, headers=headers, content_type=content_type)


# --- the API ----------------------------------------------------------------------


def test_the_api_imports_a_document_for_the_tokens_agency(client, tocsin, fire):
    created = post_cap(client, fire, WARNING)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["title"], body["kind"], body["severity"], body["mode"], body["origin"]) == (
        "Severe thunderstorm over the harbour", "storm", "major", "live", "cap",
    )  # fmt: skip
    assert body["cap"] | {"id": 0} == {
        "id": 0, "sender": "warnings@met.example.org", "identifier": "MET-2026-0001",
        "msg_type": "Alert", "status": "Actual", "action": "opened",
    }  # fmt: skip
    assert body["alerts"] == [] and created.headers["Location"] == body["links"]["self"]
    # the token's agency reads the incident it imported, and may send its first alert
    status = client.get(body["links"]["self"], headers=fire)
    assert status.status_code == 200 and status.get_json()["responders"] == 0
    sent = client.post(body["links"]["alerts"], json={"message": "Pumps to the harbour"},
                       headers=fire)  # fmt: skip
    assert sent.status_code == 201 and sent.get_json()["notifications"] > 0
    actors = tocsin.db.session.scalars(
        select(AuditEvent.actor).where(AuditEvent.action == "cap.imported")
    ).all()
    assert actors == ["api:fire:Met feed"]


def test_an_update_through_the_api_answers_200(client, tocsin, fire):
    post_cap(client, fire, WARNING, "text/xml")
    update = document(identifier="MET-2026-0002", msg_type="Update",
                      references=reference_to(WARNING), severity="Extreme")  # fmt: skip
    changed = post_cap(client, fire, update, "application/xml")
    assert changed.status_code == 200
    assert (changed.get_json()["cap"]["action"], changed.get_json()["severity"]) == (
        "updated", "critical",
    )  # fmt: skip


API_REFUSALS = [
        (WARNING.replace(b"cap:1.2", b"cap:1.1"), "application/cap+xml", 400, "alert",
         "line 2: <alert> has namespace"),
        (WARNING.replace(b"<severity>Severe", b"<severity>Bad"), "text/xml", 400, "severity",
         "line 15: <severity> 'Bad' is not one of"),
        (b"not xml at all", "application/xml", 400, "document", "not well-formed"),
        (WARNING.replace(b"<status>Actual", b"<status>Test"), "application/cap+xml", 400,
         "status", "only Actual"),
        (document(msg_type="Update", references="x@y,Z,2026-01-01T00:00:00+00:00"),
         "application/cap+xml", 400, "references", "names no message Tocsin imported"),
        (WARNING, "application/json", 415, None, "application/cap+xml"),
        (WARNING, "text/plain", 415, None, "text/xml"),
    ]  # fmt: skip


def test_the_api_refuses_with_a_json_error_and_creates_nothing(client, tocsin, fire, subtests):
    for data, content_type, status, key, said in API_REFUSALS:
        with subtests.test(msg=f"{status} {key}: {said}"):
            before = rows(tocsin)
            answer = post_cap(client, fire, data, content_type)
            assert answer.status_code == status and answer.is_json, answer.data
            body = answer.get_json()
            assert said in (body["errors"].get(key, "") if key else body["error"]), body
            assert rows(tocsin) == before


def test_the_same_message_twice_answers_409_naming_the_incident(client, tocsin, fire):
    incident_id = post_cap(client, fire, WARNING).get_json()["id"]
    before = rows(tocsin)
    again = post_cap(client, fire, WARNING)
    assert again.status_code == 409
    assert f"was imported already (incident {incident_id})" in again.get_json()["error"]
    assert rows(tocsin) == before


def test_the_api_refuses_a_document_larger_than_1_mib(client, tocsin, fire):
    big = WARNING.replace(b"<scope>", b"<!--" + b"x" * cap.MAX_BYTES + b"--><scope>")
    answer = post_cap(client, fire, big)
    assert answer.status_code == 413 and answer.is_json


def test_the_api_needs_a_token(client, tocsin):
    assert post_cap(client, {}, WARNING).status_code == 401


def test_the_openapi_document_describes_the_cap_import(client):
    document_ = client.get("/api/v1/openapi.json").get_json()
    operation = document_["paths"]["/api/v1/cap"]["post"]
    assert set(operation["requestBody"]["content"]) == {
        "application/cap+xml", "application/xml", "text/xml",
    }  # fmt: skip
    assert {"201", "200", "400", "401", "409", "413", "415"} <= set(operation["responses"])


# --- the CLI ------------------------------------------------------------------------


@pytest.fixture
def cli(db_url, app, monkeypatch):
    """CliRunner on the test database (the `app` fixture migrated and seeded it)."""
    monkeypatch.setenv("TOCSIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TOCSIN_SECRET_KEY", "test-secret-key-" + "x" * 32)
    monkeypatch.setenv("TOCSIN_PUBLIC_URL", "http://127.0.0.1:5000")
    runner = CliRunner()
    return lambda *args: runner.invoke(cap_command, list(args), catch_exceptions=False)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_cap_import_prints_the_incidents_id_last(cli, tocsin, tmp_path):
    result = cli("import", str(write(tmp_path, "warning.xml", WARNING)))
    assert result.exit_code == 0, result.stderr
    incident_id = int(result.stdout.strip().splitlines()[-1])
    incident = tocsin.db.session.get(Incident, incident_id)
    assert (incident.title, incident.origin) == ("Severe thunderstorm over the harbour", "cap")
    assert "nobody alerted" in result.stderr
    cancel = document(identifier="MET-2026-0002", msg_type="Cancel",
                      references=reference_to(WARNING))  # fmt: skip
    result = cli("import", str(write(tmp_path, "cancel.xml", cancel)))
    assert result.exit_code == 0 and result.stdout.strip().splitlines()[-1] == str(incident_id)
    tocsin.db.remove()
    assert tocsin.db.session.get(Incident, incident_id).status == "stood_down"
    actor = tocsin.db.session.scalar(
        select(AuditEvent.actor).where(AuditEvent.action == "cap.imported")
    )
    assert actor.startswith("cli:")


def test_cap_import_of_a_bad_file_exits_1_saying_why(cli, tocsin, tmp_path, subtests):
    bad_files = [
        fixture("oasis_a1_homeland_security.xml"),
        WARNING.replace(b"cap:1.2", b"cap:1.1"),
        WARNING.replace(b"</info>", b""),
    ]
    for n, data in enumerate(bad_files):
        with subtests.test(msg=f"bad file {n}"):
            before = rows(tocsin)
            result = cli("import", str(write(tmp_path, "bad.xml", data)))
            assert result.exit_code == 1 and result.stdout == ""
            assert "not imported, nothing was changed" in result.stderr
            assert "line " in result.stderr and "<" in result.stderr
            assert rows(tocsin) == before


def test_cap_export_prints_the_latest_alerts_xml(cli, tocsin, client, tmp_path):
    incident_id = int(cli("import", str(write(tmp_path, "w.xml", WARNING))).stdout.split()[-1])
    nothing = cli("export", str(incident_id))
    assert nothing.exit_code == 1 and "alerted nobody yet" in nothing.stderr
    assert cli("export", "999999").exit_code == 1
    with tocsin.db.write() as session:
        incident = session.get(Incident, incident_id)
        send_alert(session, incident, "Go", Targeting(["fire"]), ["sms"], None, tocsin.links)
    result = cli("export", str(incident_id))
    assert result.exit_code == 0
    exported = cap.parse(result.stdout.encode())
    assert (exported.msg_type, exported.status, exported.infos[0].description) == (
        "Alert", "Actual", "Go",
    )  # fmt: skip
    assert [str(r) for r in exported.references] == [
        "warnings@met.example.org,MET-2026-0001,2026-03-01T10:00:00-00:00"
    ]
    assert cli("export", str(incident_id)).stdout == result.stdout


def tokens_for(tocsin) -> str:
    """A fire token: the API may alert an incident its agency imported."""
    with tocsin.db.write() as session:
        return tokens.create(session, "fire", "CAD", "user:admin")[1]


def test_a_token_alerts_and_exports_the_incident_it_imported(cli, tocsin, client, tmp_path):
    headers = {"Authorization": f"Bearer {tokens_for(tocsin)}"}
    incident_id = client.post("/api/v1/cap", data=WARNING, headers=headers,
                              content_type="text/xml").get_json()["id"]  # fmt: skip
    assert client.post(f"/api/v1/incidents/{incident_id}/alerts", json={"message": "Go"},
                       headers=headers).status_code == 201  # fmt: skip
    assert cli("export", str(incident_id)).exit_code == 0


def test_area_codes_are_loaded_from_csv(cli, tocsin, tmp_path):
    good = b"value_name,value,name,lat,lon,radius_m\nGSS,E05010892,Hotwells,51.449,-2.615,900\n"
    result = cli("area-codes", "import", str(write(tmp_path, "codes.csv", good)))
    assert result.exit_code == 0 and "1 added, 0 replaced" in result.stdout
    again = good.replace(b"900", b"950")
    assert "0 added, 1 replaced" in cli("area-codes", "import",
                                        str(write(tmp_path, "c2.csv", again))).stdout  # fmt: skip
    code = tocsin.db.session.scalar(select(CapAreaCode).where(CapAreaCode.value == "E05010892"))
    assert (code.name, code.radius_m) == ("Hotwells", 950)


def test_a_bad_area_code_file_names_each_line_and_loads_nothing(cli, tocsin, tmp_path):
    tocsin.db.remove()
    count = len(tocsin.db.session.scalars(select(CapAreaCode)).all())
    bad = (b"value_name,value,name,lat,lon,radius_m\n"
           b"GSS,A,Fine,51.4,-2.6,100\nGSS,B,North of the pole,91,-2.6,100\n"
           b"GSS,A,Twice,51.4,-2.6,100\n")  # fmt: skip
    result = cli("area-codes", "import", str(write(tmp_path, "bad.csv", bad)))
    assert result.exit_code == 1
    assert "line 3: lat must be within -90..90" in result.stderr
    assert "line 4: GSS A is also on line 2" in result.stderr
    tocsin.db.remove()
    assert len(tocsin.db.session.scalars(select(CapAreaCode)).all()) == count


def test_tocsin_cap_import_runs_as_a_command(tmp_path, db_url, app):
    """The real `tocsin` entry point, in a subprocess, on the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update(PYTHONPATH=str(ROOT), TOCSIN_DATABASE_URL=db_url,
               TOCSIN_SECRET_KEY="test-secret-key-" + "x" * 32)  # fmt: skip
    path = write(tmp_path, "storm.xml", fixture("oasis_a2_severe_thunderstorm.xml"))
    command = [sys.executable, "-m", "coordinator", "cap", "import", str(path)]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    incident_id = int(done.stdout.strip().splitlines()[-1])
    tocsin = app.extensions["tocsin"]
    kept = tocsin.db.session.scalar(select(CapMessage).where(CapMessage.incident_id == incident_id))
    assert kept.identifier == "KSTO1055887203"
