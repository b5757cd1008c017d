"""The REST API as a computer-aided dispatch system uses it: a token of one agency
declares incidents, alerts that agency's responders and reads their answers;
anything else gets a JSON error and changes nothing. schemathesis fuzzes every
operation of the OpenAPI document against the app."""

import json
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import func, select

from coordinator.api.openapi import DOCUMENT
from coordinator.extensions import socketio
from coordinator.models import (
    Agency,
    Alert,
    ApiToken,
    AuditEvent,
    Incident,
    Notification,
    Outbox,
    Responder,
    Response,
    Team,
)
from coordinator.services import incidents, responses, tokens
from coordinator.services.alerts import IncidentForm, declare_incident
from tests.conftest import login

INCIDENT = {
    "title": "Warehouse fire",
    "kind": "fire",
    "severity": "major",
    "lat": 51.4545,
    "lon": -2.5879,
    "message": "Smoke from the roof; hydrant on the north side.",
}
TABLES = (Incident, Alert, Notification, Outbox, AuditEvent, Response)


def make_token(tocsin, agency: str = "fire", name: str = "Fire CAD") -> str:
    with tocsin.db.write() as session:
        return tokens.create(session, agency, name, "user:admin")[1]


@pytest.fixture
def fire(tocsin) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(tocsin)}"}


def rows(tocsin) -> dict[str, int]:
    tocsin.db.remove()
    session = tocsin.db.session
    return {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in TABLES}


def declare(client, headers, **fields):
    return client.post("/api/v1/incidents", json={**INCIDENT, **fields}, headers=headers)


def police_incident(tocsin) -> int:
    form = IncidentForm(
        title="Break-in", kind="other", severity="minor", lat="51.45", lon="-2.58",
        message="Alarm at the depot.", agency_slugs=["police"],
    )  # fmt: skip
    with tocsin.db.write() as session:
        return declare_incident(session, form, None, tocsin.links, actor="user:commander").id


def agency_of_notified(tocsin, incident_id: int) -> set[str]:
    return set(
        tocsin.db.session.scalars(
            select(Agency.slug)
            .join(Responder, Responder.agency_id == Agency.id)
            .join(Notification, Notification.responder_id == Responder.id)
            .join(Alert, Notification.alert_id == Alert.id)
            .where(Alert.incident_id == incident_id)
        )
    )


# --- declaring and alerting -------------------------------------------------------


def test_it_declares_an_incident_and_alerts_the_tokens_agency(client, tocsin, fire):
    created = declare(client, fire, channels=["sms", "push"])
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert created.headers["Location"] == f"/api/v1/incidents/{body['id']}"
    assert body["status"] == "open" and body["title"] == "Warehouse fire"
    assert body["links"]["answers"] == f"/api/v1/incidents/{body['id']}/answers"
    on_duty_fire = tocsin.db.session.scalars(
        select(Responder.id).join(Agency).where(Agency.slug == "fire", Responder.on_duty)
    ).all()
    notified = tocsin.db.session.execute(
        select(Notification.responder_id, Notification.channel)
        .join(Alert)
        .where(Alert.incident_id == body["id"])
    ).all()
    assert {r for r, _ in notified} == set(on_duty_fire)
    assert {c for _, c in notified} == {"sms", "push"}
    assert body["alert"]["notifications"] == len(notified) == 2 * len(on_duty_fire)
    assert agency_of_notified(tocsin, body["id"]) == {"fire"}
    assert tocsin.outbox_written.is_set()


def test_it_alerts_only_the_responders_the_targeting_names(client, tocsin, fire):
    hazmat = tocsin.db.session.scalar(select(Team.id).where(Team.name == "Hazmat"))
    created = declare(
        client, fire, targeting={"teams": [hazmat], "skills": ["hazmat"]}, quorum={"hazmat": 2}
    )
    assert created.status_code == 201, created.get_json()
    notified = set(
        tocsin.db.session.scalars(
            select(Notification.responder_id)
            .join(Alert)
            .where(Alert.incident_id == created.get_json()["id"])
        )
    )
    in_team = set(
        tocsin.db.session.scalars(select(Responder.id).where(Responder.team_id == hazmat))
    )
    assert notified == in_team and notified


def test_it_audits_what_the_token_did(client, tocsin, fire):
    incident_id = declare(client, fire).get_json()["id"]
    client.post(f"/api/v1/incidents/{incident_id}/alerts", json={"message": "More"}, headers=fire)
    actions = tocsin.db.session.execute(
        select(AuditEvent.actor, AuditEvent.action)
        .where(AuditEvent.incident_id == incident_id, AuditEvent.actor.like("api:%"))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == [
        ("api:fire:Fire CAD", "incident.declared"),
        ("api:fire:Fire CAD", "alert.sent"),
        ("api:fire:Fire CAD", "alert.sent"),
    ]


def test_it_sends_a_further_alert_to_the_same_agency(client, tocsin, fire):
    incident_id = declare(client, fire).get_json()["id"]
    tocsin.outbox_written.clear()
    sent = client.post(
        f"/api/v1/incidents/{incident_id}/alerts",
        json={"message": "Second pump needed", "channels": ["voice"],
              "targeting": {"on_duty_only": False}},
        headers=fire,
    )  # fmt: skip
    assert sent.status_code == 201, sent.get_json()
    alert = tocsin.db.session.get(Alert, sent.get_json()["id"])
    assert alert.message == "Second pump needed" and alert.incident_id == incident_id
    assert [a.slug for a in alert.agencies] == ["fire"]
    assert {n.channel for n in alert.notifications} == {"voice"}
    assert tocsin.outbox_written.is_set()


def test_a_further_alert_shows_on_the_boards_open_on_its_incident(app, client, tocsin, fire):
    incident_id = declare(client, fire).get_json()["id"]
    console = app.test_client()
    login(console)
    board = socketio.test_client(app, flask_test_client=console)
    assert board.emit("join", {"incident_id": incident_id}, callback=True) == {"ok": True}
    board.get_received()
    sent = client.post(
        f"/api/v1/incidents/{incident_id}/alerts", json={"message": "Second pump"}, headers=fire
    )
    assert sent.status_code == 201
    alerts = [e["args"][0] for e in board.get_received() if e["name"] == "alert"]
    assert [(a["id"], a["kind"], a["message"]) for a in alerts] == [
        (sent.get_json()["id"], "alert", "Second pump")
    ]
    board.disconnect()


def test_it_alerts_no_more_once_the_incident_is_stood_down(client, tocsin, fire):
    incident_id = declare(client, fire).get_json()["id"]
    with tocsin.db.write() as session:
        incidents.change_status(session, session.get(Incident, incident_id), "stood_down", None)
    before = rows(tocsin)
    sent = client.post(
        f"/api/v1/incidents/{incident_id}/alerts", json={"message": "x"}, headers=fire
    )
    assert sent.status_code == 409
    assert sent.get_json()["error"] == f"Incident {incident_id} is stood down."
    assert rows(tocsin) == before


# --- reading ----------------------------------------------------------------------


def test_it_returns_the_answers_responses_recorded(client, tocsin, fire):
    body = declare(client, fire, quorum={"firefighter": 2}, quorum_minutes=5).get_json()
    notes = tocsin.db.session.scalars(
        select(Notification).join(Alert).where(Alert.incident_id == body["id"])
        .order_by(Notification.id)
    ).all()  # fmt: skip
    first, second = notes[0], next(n for n in notes if n.responder_id != notes[0].responder_id)
    responses.record(tocsin.db, responses.Answer(first.id, "en_route", "sms", eta_minutes=7))
    responses.record(tocsin.db, responses.Answer(second.id, "unavailable", "push"))
    stored = tocsin.db.session.scalars(select(Response).order_by(Response.id)).all()

    got = client.get(f"/api/v1/incidents/{body['id']}/answers", headers=fire)
    assert got.status_code == 200
    answers = got.get_json()["answers"]
    assert [
        (a["responder_id"], a["answer"], a["eta_minutes"], a["channel"], a["alert_id"])
        for a in answers
    ] == [(r.responder_id, r.answer, r.eta_minutes, r.channel, r.alert_id) for r in stored]
    names = {r.id: r.name for r in tocsin.db.session.scalars(select(Responder))}
    assert [a["responder"] for a in answers] == [names[r.responder_id] for r in stored]

    status = client.get(f"/api/v1/incidents/{body['id']}", headers=fire).get_json()
    assert status["answers"] == {"en_route": 1, "unavailable": 1}
    assert status["quorum"][0]["needed"] == {"firefighter": 2}
    assert status["quorum"][0]["answered"] == {"firefighter": 1}
    assert status["quorum"][0]["met"] is False and status["quorum"][0]["deadline_at"]
    assert status["agency"] == "fire" and status["responders"] == len(
        {n.responder_id for n in notes}
    )
    assert sum(status["notifications"]["sms"].values()) == sum(n.channel == "sms" for n in notes)


def test_it_shows_an_agency_only_its_own_responders(client, tocsin, fire):
    """A console alert to fire and police: the fire token sees fire's side only."""
    form = IncidentForm(
        title="Crash", kind="collision", severity="major", lat="51.45", lon="-2.58",
        message="Motorway", agency_slugs=["fire", "police"],
    )  # fmt: skip
    with tocsin.db.write() as session:
        incident_id = declare_incident(session, form, None, tocsin.links, actor="x").id
    police_note = tocsin.db.session.scalars(
        select(Notification).join(Responder).join(Agency).where(Agency.slug == "police")
    ).first()
    responses.record(tocsin.db, responses.Answer(police_note.id, "acknowledged", "sms"))
    status = client.get(f"/api/v1/incidents/{incident_id}", headers=fire).get_json()
    fire_count = tocsin.db.session.scalar(
        select(func.count(func.distinct(Notification.responder_id)))
        .join(Responder).join(Agency).where(Agency.slug == "fire")
    )  # fmt: skip
    assert status["responders"] == fire_count
    assert status["answers"] == {}
    answers = client.get(f"/api/v1/incidents/{incident_id}/answers", headers=fire).get_json()
    assert answers["answers"] == []


def test_it_notes_when_a_token_was_last_used(client, tocsin, fire):
    token = tocsin.db.session.scalars(select(ApiToken)).one()
    assert token.last_used_at is None
    incident_id = declare(client, fire).get_json()["id"]
    tocsin.db.remove()
    assert tocsin.db.session.get(ApiToken, token.id).last_used_at is not None
    assert client.get(f"/api/v1/incidents/{incident_id}", headers=fire).status_code == 200


# --- refusals: each is JSON and changes nothing -----------------------------------


def assert_refused(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] and isinstance(body["errors"], dict)
    for name in fields:
        assert name in body["errors"], body
    return body


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "Bearer tcn_unknown", "Token tcn_x"],
)
def test_it_refuses_a_call_without_a_good_token(client, tocsin, header):
    make_token(tocsin)
    incident_id = police_incident(tocsin)
    before = rows(tocsin)
    headers = {} if header is None else {"Authorization": header}
    for response in (
        declare(client, headers),
        client.post(f"/api/v1/incidents/{incident_id}/alerts", json={"message": "x"},
                    headers=headers),
        client.get(f"/api/v1/incidents/{incident_id}", headers=headers),
        client.get(f"/api/v1/incidents/{incident_id}/answers", headers=headers),
    ):  # fmt: skip
        assert_refused(response, 401)
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="tocsin"')
    assert rows(tocsin) == before


def test_it_refuses_a_revoked_token(client, tocsin, fire):
    token = tocsin.db.session.scalars(select(ApiToken)).one()
    with tocsin.db.write() as session:
        tokens.revoke(session, token.id, "user:admin")
    before = rows(tocsin)
    refused = assert_refused(declare(client, fire), 401)
    assert "revoked" in refused["error"]
    assert 'error="invalid_token"' in declare(client, fire).headers["WWW-Authenticate"]
    assert rows(tocsin) == before


def test_it_lets_a_token_alert_only_its_own_agency(client, tocsin, fire):
    before = rows(tocsin)
    for agencies in (["police"], ["fire", "police"]):
        refused = assert_refused(declare(client, fire, agencies=agencies), 403, "agencies")
        assert "not police" in refused["error"]
    assert rows(tocsin) == before
    assert declare(client, fire, agencies=["fire"]).status_code == 201


def test_it_keeps_another_agencys_incident_from_a_token(client, tocsin, fire):
    incident_id = police_incident(tocsin)
    before = rows(tocsin)
    assert_refused(client.get(f"/api/v1/incidents/{incident_id}", headers=fire), 403)
    assert_refused(client.get(f"/api/v1/incidents/{incident_id}/answers", headers=fire), 403)
    sent = client.post(
        f"/api/v1/incidents/{incident_id}/alerts", json={"message": "mine now"}, headers=fire
    )
    assert_refused(sent, 403)
    assert rows(tocsin) == before


def test_it_answers_404_for_what_does_not_exist(client, tocsin, fire):
    before = rows(tocsin)
    for path in (
        "/api/v1/incidents/4242",
        "/api/v1/incidents/4242/answers",
        "/api/v1/incidents/99999999999999999999999",
        "/api/v1/nothing",
        "/api/v2",
    ):
        assert_refused(client.get(path, headers=fire), 404)  # fmt: skip
    sent = client.post("/api/v1/incidents/4242/alerts", json={"message": "x"}, headers=fire)
    assert_refused(sent, 404)
    assert rows(tocsin) == before


def test_it_answers_405_in_json_with_the_methods_allowed(client, fire):
    refused = client.delete("/api/v1/incidents", headers=fire)
    assert_refused(refused, 405)
    assert "POST" in refused.headers["Allow"]
    assert_refused(client.put("/api/v1/incidents/1", headers=fire), 405)


def test_it_wants_json_bodies(client, tocsin, fire):
    before = rows(tocsin)
    as_form = client.post("/api/v1/incidents", data=INCIDENT, headers=fire)
    assert_refused(as_form, 415)
    as_text = client.post(
        "/api/v1/incidents", data=json.dumps(INCIDENT), content_type="text/plain", headers=fire
    )
    assert_refused(as_text, 415)
    assert rows(tocsin) == before


def test_it_refuses_a_body_too_large(client, tocsin, fire):
    before = rows(tocsin)
    huge = {**INCIDENT, "message": "x" * 70_000}
    assert_refused(declare(client, fire, **huge), 413)
    assert rows(tocsin) == before


@pytest.mark.parametrize(
    "raw, field",
    [
        ("{not json", "body"),
        ("[1, 2]", "body"),
        ('{"title": NaN}', "body"),
        ("[" * 10_000 + "]" * 10_000, "body"),
        ("\xff\xfe", "body"),
    ],
)
def test_it_refuses_a_body_that_is_not_a_json_object(client, tocsin, fire, raw, field):
    before = rows(tocsin)
    response = client.post(
        "/api/v1/incidents", data=raw.encode("latin-1"), content_type="application/json",
        headers=fire,
    )  # fmt: skip
    assert_refused(response, 400, field)
    assert rows(tocsin) == before


@pytest.mark.parametrize(
    "change, fields",
    [
        ({"title": ""}, ["title"]),
        ({"title": "   "}, ["title"]),
        ({"title": "a\x00b"}, ["title"]),
        ({"title": 7}, ["title"]),
        ({"kind": "volcano", "severity": "apocalyptic"}, ["kind", "severity"]),
        ({"lat": 91, "lon": "east"}, ["lat", "lon"]),
        ({"lat": 0, "lon": 0}, ["lat"]),
        ({"lat": True}, ["lat"]),
        ({"message": "x" * 1001}, ["message"]),
        ({"mode": "exercise"}, ["mode"]),
        ({"channels": []}, ["channels"]),
        ({"channels": ["sms", "sms"]}, ["channels"]),
        ({"channels": ["pigeon"]}, ["channels[0]"]),
        ({"targeting": {"radius_m": 0}}, ["targeting.radius_m"]),
        ({"targeting": {"teams": [1, "two"]}}, ["targeting.teams[1]"]),
        ({"targeting": {"teams": [2147483648]}}, ["targeting.teams[0]"]),
        ({"targeting": {"teams": [999]}}, ["targeting.teams"]),
        ({"targeting": {"colour": "red"}}, ["targeting.colour"]),
        ({"quorum": {"firefighter": 0}}, ["quorum.firefighter"]),
        ({"quorum": {"Fire Fighter": 2}}, ["quorum.Fire Fighter"]),
        ({"quorum_minutes": 0}, ["quorum_minutes"]),
        ({"quorum_minutes": 1.5}, ["quorum_minutes"]),
        ({"surprise": 1}, ["surprise"]),
    ],
)
def test_it_names_each_bad_field_and_changes_nothing(client, tocsin, fire, change, fields):
    before = rows(tocsin)
    assert_refused(declare(client, fire, **change), 400, *fields)
    assert rows(tocsin) == before


def test_it_refuses_a_team_of_another_agency(client, tocsin, fire):
    police_team = tocsin.db.session.scalar(
        select(Team.id).join(Agency).where(Agency.slug == "police")
    )
    before = rows(tocsin)
    refused = declare(client, fire, targeting={"teams": [police_team]})
    assert_refused(refused, 400, "targeting.teams")
    assert rows(tocsin) == before


@pytest.mark.parametrize(
    "body, fields",
    [
        ({}, ["message"]),
        ({"message": "  "}, ["message"]),
        ({"message": "x", "channels": "sms"}, ["channels"]),
        ({"message": "x", "kind": "stand_down"}, ["kind"]),
        ({"message": "x", "targeting": {"skills": ["no spaces"]}}, ["targeting.skills[0]"]),
    ],
)
def test_it_refuses_a_bad_further_alert(client, tocsin, fire, body, fields):
    incident_id = declare(client, fire).get_json()["id"]
    before = rows(tocsin)
    sent = client.post(f"/api/v1/incidents/{incident_id}/alerts", json=body, headers=fire)
    assert_refused(sent, 400, *fields)
    assert rows(tocsin) == before


# --- the OpenAPI document ---------------------------------------------------------


def test_it_describes_every_api_route(app, client):
    served = client.get("/api/v1/openapi.json")
    assert served.status_code == 200 and served.get_json() == DOCUMENT
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in DOCUMENT["paths"].items() for method in ops}
    assert routes == documented
    for path, ops in DOCUMENT["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            if op.get("security") != []:
                assert {"401"} <= codes, (path, method)
            if "requestBody" in op:
                assert {"400", "413", "415"} <= codes, (path, method)
            if "{incident_id}" in path:
                assert {"403", "404"} <= codes, (path, method)
    assert DOCUMENT["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


# --- schemathesis -----------------------------------------------------------------

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_it_survives_schemathesis(app, tocsin, fire, mode):
    """Every operation with schema-valid (positive) and schema-breaking (negative)
    data: no 500, every answer as the document says; negative data is refused.
    Operations on an incident run on random ids and on one the token may use."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    incident_id = declare(app.test_client(), fire).get_json()["id"]
    checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])
    operations = [result.ok() for result in schema.get_all_operations()]
    # schemathesis leaves out the operation that serves the document itself
    assert {op.label for op in operations} == {
        "POST /api/v1/cap",
        "POST /api/v1/incidents",
        "GET /api/v1/incidents/{incident_id}",
        "POST /api/v1/incidents/{incident_id}/alerts",
        "GET /api/v1/incidents/{incident_id}/answers",
    }
    runs = 0
    seen: list[tuple[str, int]] = []
    for operation in operations:
        fixed = [None]
        on_incident = any(p.name == "incident_id" for p in operation.path_parameters)
        # with the id and the headers fixed, a GET has nothing left to break
        if on_incident and (mode == GenerationMode.POSITIVE or len(operation.body)):
            fixed.append({"incident_id": incident_id})
        for path_parameters in fixed:
            strategy = operation.as_strategy(
                generation_mode=mode, headers=dict(fire), path_parameters=path_parameters
            )

            @settings(
                max_examples=15, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck),
            )  # fmt: skip
            @given(case=strategy)
            def call(case) -> None:
                response = case.call(headers=dict(fire))
                seen.append((case.operation.label, response.status_code))
                case.validate_response(response, checks=checks)

            call()
            runs += 1
    assert runs == (8 if mode == GenerationMode.POSITIVE else 6)
    statuses = {status for _, status in seen}
    # a real run: data the API took and data it refused
    wanted = {200, 201, 400} if mode == GenerationMode.POSITIVE else {400}
    assert wanted <= statuses, seen
