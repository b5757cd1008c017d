"""Console: signing in, declaring an incident, and what one send writes."""

import re

import pytest
from sqlalchemy import func, select

from broker.messages import NotifyMessage
from coordinator.models import Alert, AuditEvent, Incident, Notification, Outbox, Responder
from tests.conftest import csrf_token, login

GOOD = {
    "title": "Chemical fire at Avonmouth docks",
    "kind": "chemical",
    "severity": "critical",
    "mode": "live",
    "lat": "51.4545",
    "lon": "-2.5879",
    "message": "Toxic smoke. Muster at gate 3. Hazmat teams first.",
    "agencies": ["fire", "ambulance"],
    "channels": ["sms", "email"],
}


def declare(client, **changes):
    page = client.get("/incidents/new")
    data = {**GOOD, **changes, "csrf_token": csrf_token(page.get_data(as_text=True))}
    return client.post("/incidents/new", data={k: v for k, v in data.items() if v is not None})


def counts(tocsin) -> dict[str, int]:
    s = tocsin.db.session
    result = {
        m.__name__: s.scalar(select(func.count()).select_from(m))
        for m in (Incident, Alert, Notification, Outbox)
    }
    tocsin.db.remove()
    return result


def test_it_sends_visitors_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_it_rejects_a_wrong_password(client):
    response = login(client, password="nope")
    assert response.status_code == 401
    assert "Wrong user name or password" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_it_writes_alert_notifications_and_outbox_together(client, tocsin):
    login(client)
    response = declare(client)
    assert response.status_code == 302
    s = tocsin.db.session
    incident = s.scalars(select(Incident)).one()
    assert (incident.title, incident.kind, incident.severity) == (
        GOOD["title"],
        "chemical",
        "critical",
    )
    responders = s.scalars(
        select(Responder).join(Responder.agency).where(Responder.on_duty.is_(True))
    ).all()
    targeted = [r for r in responders if r.agency.slug in ("fire", "ambulance")]
    notifications = s.scalars(select(Notification)).all()
    assert {(n.responder_id, n.channel) for n in notifications} == {
        (r.id, c) for r in targeted for c in ("sms", "email")
    }
    assert all(n.status == "queued" for n in notifications)
    outbox = s.scalars(select(Outbox)).all()
    assert sorted(o.notification_id for o in outbox) == sorted(n.id for n in notifications)
    assert all(o.published_at is None for o in outbox)
    sms = NotifyMessage.from_json(next(o.payload for o in outbox if o.routing_key == "sms"))
    assert sms.subject == f"CRITICAL chemical: {GOOD['title']}"
    assert sms.body == GOOD["message"]
    assert sms.status_url.endswith(f"/hooks/twilio/status?n={sms.notification_id}")
    assert "/r/" in sms.ack_url
    actions = s.scalars(select(AuditEvent.action)).all()
    assert "incident.declared" in actions and "alert.sent" in actions


@pytest.mark.parametrize(
    ("changes", "field_message"),
    [
        ({"message": "   "}, "The message is empty"),
        ({"agencies": ["fire", "coastguard"]}, "Unknown agency: coastguard"),
        ({"agencies": None}, "Pick at least one agency"),
        ({"lat": "north"}, "Latitude must be a number"),
        ({"lon": "200"}, "Longitude must be within"),
        ({"title": ""}, "Give the incident a title"),
        ({"kind": "alien"}, "Kind must be one of"),
    ],
)
def test_it_rejects_bad_input_and_changes_nothing(client, tocsin, changes, field_message):
    login(client)
    before = counts(tocsin)
    response = declare(client, **changes)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Nothing was sent" in page
    assert field_message in page
    assert counts(tocsin) == before


def test_it_refuses_a_form_without_csrf_token(client, tocsin):
    login(client)
    before = counts(tocsin)
    response = client.post("/incidents/new", data=GOOD)
    assert response.status_code == 400
    assert counts(tocsin) == before


def test_it_lets_an_observer_look_but_not_send(client, tocsin):
    login(client, "observer")
    assert client.get("/").status_code == 200
    assert client.get("/incidents/new").status_code == 403
    assert client.post("/incidents/new", data=GOOD).status_code in (400, 403)
    assert counts(tocsin)["Incident"] == 0


def test_it_shows_the_board_and_a_map_with_our_own_assets(client, tocsin):
    login(client)
    location = declare(client).headers["Location"]
    board = client.get(location).get_data(as_text=True)
    assert GOOD["title"] in board
    assert "socket.io.min.js" in board and 'data-responder="' in board
    page = client.get(location + "/map")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "leaflet" in html.lower()
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not src.startswith(("http://", "https://", "//")), src
        with client.get(src) as asset:
            assert asset.status_code == 200, src
