"""After the alert: updates and stand-downs reach the same people where they were
reached; incidents move open -> stood down -> closed; templates fill the text."""

import pytest
from sqlalchemy import func, select

from broker.messages import NotifyMessage
from coordinator.extensions import socketio
from coordinator.models import (
    Alert,
    AlertEscalation,
    AuditEvent,
    Incident,
    Notification,
    Outbox,
    Template,
)
from coordinator.services import message_templates
from tests.conftest import csrf_token, login
from tests.test_console import counts, declare


def incident_id(tocsin) -> int:
    value = tocsin.db.session.scalar(select(Incident.id))
    tocsin.db.remove()
    return value


def post(client, path: str, **data):
    page = client.get("/")
    return client.post(path, data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))})


def notifications(tocsin, kind: str) -> list[Notification]:
    rows = tocsin.db.session.scalars(
        select(Notification).join(Alert).where(Alert.kind == kind).order_by(Notification.id)
    ).all()
    tocsin.db.remove()
    return list(rows)


def test_an_update_reaches_everyone_where_they_were_reached(client, tocsin):
    login(client)
    declare(client, agencies=["ambulance"], channels=["sms", "email"])
    first = notifications(tocsin, "alert")
    # One responder's SMS failed: the update goes to their email only.
    with tocsin.db.write() as s:
        s.get(Notification, first[0].id).status = "failed"
    response = post(
        client,
        f"/incidents/{incident_id(tocsin)}/follow-up",
        message="Casualty clearing moved to gate 5.",
    )
    assert response.status_code == 302
    update = notifications(tocsin, "update")
    expected = {(n.responder_id, n.channel, n.address) for n in first if n.id != first[0].id}
    assert {(n.responder_id, n.channel, n.address) for n in update} == expected
    payloads = [
        NotifyMessage.from_json(o.payload)
        for o in tocsin.db.session.scalars(
            select(Outbox).where(Outbox.notification_id.in_([n.id for n in update]))
        )
    ]
    assert all(
        p.subject.startswith("UPDATE - ") and p.body == "Casualty clearing moved to gate 5."
        for p in payloads
    )
    page = client.get(f"/incidents/{incident_id(tocsin)}").get_data(as_text=True)
    assert 'data-alert-kind="update"' in page


def test_stand_down_tells_everyone_and_close_ends_it(client, tocsin):
    login(client)
    declare(client, agencies=["police"], channels=["sms"])
    iid = incident_id(tocsin)
    alerted = {n.responder_id for n in notifications(tocsin, "alert")}
    response = post(
        client, f"/incidents/{iid}/status", status="stood_down", message="Stand down, all clear."
    )
    assert response.status_code == 302
    incident = tocsin.db.session.get(Incident, iid)
    assert incident.status == "stood_down" and incident.stood_down_at is not None
    # The demo police policy had steps waiting: none of them will run now.
    escalations = tocsin.db.session.scalars(select(AlertEscalation)).all()
    assert escalations and all(e.due_at is None for e in escalations)
    tocsin.db.remove()
    stand_down = notifications(tocsin, "stand_down")
    assert {n.responder_id for n in stand_down} == alerted
    payload = NotifyMessage.from_json(
        tocsin.db.session.scalars(
            select(Outbox.payload).where(Outbox.notification_id == stand_down[0].id)
        ).one()
    )
    assert payload.subject.startswith("STAND DOWN - ")
    # Closed: no more follow-ups, nothing is sent, the page says why.
    assert post(client, f"/incidents/{iid}/status", status="closed").status_code == 302
    before = counts(tocsin)
    refused = post(client, f"/incidents/{iid}/follow-up", message="one more thing")
    assert refused.status_code == 400
    assert "closed" in refused.get_data(as_text=True)
    assert counts(tocsin) == before
    actions = tocsin.db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.incident_id == iid)
    ).all()
    assert {"incident.stand_down", "incident.status"} <= set(actions)


@pytest.mark.parametrize(
    "start, target, ok",
    [("open", "stood_down", True), ("stood_down", "open", True), ("open", "closed", True),
     ("closed", "open", False), ("closed", "stood_down", False), ("open", "open", False),
     ("open", "archived", False)],
)  # fmt: skip
def test_only_sensible_status_changes_are_allowed(client, tocsin, start, target, ok):
    login(client)
    declare(client, agencies=["council"])
    iid = incident_id(tocsin)
    with tocsin.db.write() as s:
        s.get(Incident, iid).status = start
    before = counts(tocsin)
    response = post(client, f"/incidents/{iid}/status", status=target)
    assert response.status_code == (302 if ok else 400)
    status = tocsin.db.session.get(Incident, iid).status
    tocsin.db.remove()
    assert status == (target if ok else start)
    if target != "stood_down":
        assert counts(tocsin) == before


def test_bad_follow_ups_change_nothing(client, tocsin):
    login(client)
    declare(client, agencies=["council"])
    iid = incident_id(tocsin)
    before = counts(tocsin)
    assert post(client, f"/incidents/{iid}/follow-up", message="  ").status_code == 400
    assert post(client, f"/incidents/{iid}/follow-up", message="x" * 1001).status_code == 400
    assert post(client, "/incidents/999/follow-up", message="hello").status_code == 404
    assert (
        client.post(f"/incidents/{iid}/follow-up", data={"message": "no token"}).status_code == 400
    )
    assert counts(tocsin) == before


def test_observers_and_dispatchers_cannot_stand_down(client, tocsin):
    login(client)
    declare(client, agencies=["council"])
    iid = incident_id(tocsin)
    for role in ("observer", "dispatcher"):
        client.post(
            "/logout", data={"csrf_token": csrf_token(client.get("/").get_data(as_text=True))}
        )
        login(client, role)
        assert post(client, f"/incidents/{iid}/status", status="closed").status_code == 403
    assert (
        post(client, f"/incidents/{iid}/follow-up", message="dispatcher may update").status_code
        == 302
    )
    status = tocsin.db.session.get(Incident, iid).status
    assert status == "open"


def test_templates_fill_the_message_and_refuse_unknown_placeholders(client, tocsin):
    login(client)
    chemical = tocsin.db.session.scalars(
        select(Template).where(Template.kind == "chemical")
    ).first()
    tocsin.db.remove()
    page = declare(
        client, action="template", template=str(chemical.id), title="Tanker leak", message=""
    )
    assert page.status_code == 200
    assert "Chemical release: Tanker leak. Location 51.45450, -2.58790." in page.get_data(
        as_text=True
    )
    assert counts(tocsin)["Incident"] == 0

    template_count = lambda: tocsin.db.session.scalar(select(func.count()).select_from(Template))  # noqa: E731
    before = template_count()
    tocsin.db.remove()
    new = client.get("/templates/new")
    token = csrf_token(new.get_data(as_text=True))
    for body, message in [
        ("Evacuate {area}", "Unknown placeholder {area}"),
        ("Broken {title", "Braces do not match"),
        ("", "empty"),
    ]:
        bad = client.post(
            "/templates/new",
            data={"kind": "flood", "name": "Bad", "body": body, "csrf_token": token},
        )
        assert bad.status_code == 400 and message in bad.get_data(as_text=True)
    assert template_count() == before
    good = client.post(
        "/templates/new",
        data={
            "kind": "flood",
            "name": "River",
            "body": "River rising near {location}",
            "csrf_token": token,
        },
    )
    assert good.status_code == 302
    dup = client.post(
        "/templates/new",
        data={"kind": "flood", "name": "River", "body": "again", "csrf_token": token},
    )
    assert dup.status_code == 400
    assert template_count() == before + 1


def test_template_rendering():
    values = {
        "title": "Fire",
        "kind": "fire",
        "severity": "major",
        "lat": "51.5",
        "lon": "-2.5",
        "radius_m": "2500",
    }
    assert message_templates.render(
        "{severity} {kind}: {title} at {location} ({radius})", values
    ) == ("major fire: Fire at 51.50000, -2.50000 (2.5 km)")


def test_boards_are_told_of_an_update_and_a_stand_down_as_they_are_sent(app, client, tocsin):
    login(client)
    declare(client, agencies=["ambulance"], channels=["sms"])
    incident = incident_id(tocsin)
    board = socketio.test_client(app, flask_test_client=client)
    assert board.emit("join", {"incident_id": incident}, callback=True) == {"ok": True}
    board.get_received()

    post(client, f"/incidents/{incident}/follow-up", message="Casualty clearing at gate 5.")
    post(client, f"/incidents/{incident}/status", status="stood_down", message="Stand down.")
    post(client, f"/incidents/{incident}/follow-up", message="")  # refused: nothing sent

    alerts = [e["args"][0] for e in board.get_received() if e["name"] == "alert"]
    assert [(a["kind"], a["message"]) for a in alerts] == [
        ("update", "Casualty clearing at gate 5."),
        ("stand_down", "Stand down."),
    ]
    stored = {a.id: a for a in tocsin.db.session.scalars(select(Alert)).all()}
    assert all(stored[a["id"]].kind == a["kind"] for a in alerts)
    assert all(a["at"].endswith("+00:00") for a in alerts)
    board.disconnect()
