"""The commander's board, as the server renders it and as /state reports it:
counts per agency and per channel, times since each alert, countdowns to the
next escalation step, and the map in the page itself."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from broker.messages import ResultEvent
from coordinator.events import EventConsumer
from coordinator.models import Agency, Alert, Incident, Notification, Responder, Response
from tests.conftest import login
from tests.test_console import declare
from tests.test_responses import post_sms, sms_form
from tests.test_status import receipt

COLUMNS = ["notifications", "sent", "delivered", "failed", "answered"]


class _Tables(HTMLParser):
    """table id -> row key -> column -> figure, for the board's breakdown tables."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, dict[str, int]]] = {}
        self._table: str | None = None
        self._row: dict[str, int] | None = None
        self._col: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "breakdown" in (a.get("class") or "").split():
            self._table = a["id"]
            self.tables[self._table] = {}
        elif tag == "tr" and self._table and a.get("data-key") is not None:
            self._row = self.tables[self._table].setdefault(a["data-key"] or "", {})
        elif tag == "td" and self._row is not None and a.get("data-col"):
            self._col = a["data-col"]

    def handle_data(self, data: str) -> None:
        if self._col and self._row is not None:
            self._row[self._col] = int(data)
            self._col = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "tr":
            self._row = None


def tables(html: str) -> dict[str, dict[str, dict[str, int]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def totals(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', html)}


def expected(tocsin, incident_id: int) -> dict[str, dict[str, dict[str, int]]]:
    """The same figures counted the slow, obvious way over every row."""
    session = tocsin.db.session
    rows = session.execute(
        select(Notification, Agency.name)
        .join(Alert, Notification.alert_id == Alert.id)
        .join(Responder, Notification.responder_id == Responder.id)
        .join(Agency, Responder.agency_id == Agency.id)
        .where(Alert.incident_id == incident_id)
    ).all()
    answers = session.scalars(
        select(Response).join(Alert).where(Alert.incident_id == incident_id)
    ).all()
    agency_of = {n.responder_id: agency for n, agency in rows}
    channel_of = {n.id: n.channel for n, _ in rows}
    tocsin.db.remove()
    figures: dict[str, dict[str, dict[str, int]]] = {
        "by-agency": defaultdict(lambda: dict.fromkeys(COLUMNS, 0)),
        "by-channel": defaultdict(lambda: dict.fromkeys(COLUMNS, 0)),
    }
    for n, agency in rows:
        for tally in (figures["by-agency"][agency], figures["by-channel"][n.channel]):
            tally["notifications"] += 1
            tally["sent"] += n.status in ("sent", "delivered", "undelivered")
            tally["delivered"] += n.status == "delivered"
            tally["failed"] += n.status in ("failed", "undelivered")
    for responder_id in {r.responder_id for r in answers}:
        figures["by-agency"][agency_of[responder_id]]["answered"] += 1
    for notification_id in {r.notification_id for r in answers}:
        figures["by-channel"][channel_of[notification_id]]["answered"] += 1
    return {table: dict(rows) for table, rows in figures.items()}


def notifications_of(tocsin, incident_id: int) -> list[tuple[Notification, str]]:
    rows = tocsin.db.session.execute(
        select(Notification, Agency.slug)
        .join(Alert, Notification.alert_id == Alert.id)
        .join(Responder, Notification.responder_id == Responder.id)
        .join(Agency, Responder.agency_id == Agency.id)
        .where(Alert.incident_id == incident_id)
        .order_by(Notification.id)
    ).all()
    tocsin.db.remove()
    return [(n, slug) for n, slug in rows]


def pick_all(rows, agency: str, channel: str) -> list[Notification]:
    return [n for n, slug in rows if slug == agency and n.channel == channel]


def pick(rows, agency: str, channel: str, skip: int = 0) -> Notification:
    return pick_all(rows, agency, channel)[skip]


def answer_link(client, tocsin, notification_id: int, answer: str):
    token = tocsin.links.url_for(notification_id).rsplit("/", 1)[1]
    return client.post(f"/r/{token}", data={"answer": answer})


@pytest.fixture
def incident_id(client, tocsin) -> int:
    """Fire and ambulance alerted by SMS and email, then a few things happened:
    an SMS delivered, one sent, one failed (its responder falls back to push),
    an answer through an email's link, the same responder again, an SMS reply."""
    login(client)
    location = declare(client, agencies=["fire", "ambulance"], channels=["sms", "email"])
    incident_id = int(location.headers["Location"].rsplit("/", 1)[1])
    rows = notifications_of(tocsin, incident_id)
    consumer = EventConsumer(tocsin)

    def result(n: Notification, status: str, error: str | None = None) -> None:
        consumer.handle(ResultEvent(n.id, incident_id, n.channel, status, error=error).to_json())

    delivered, sent, failed = (pick(rows, "fire", "sms", i) for i in range(3))
    result(delivered, "sent")
    assert receipt(client, tocsin, delivered.id, "delivered").status_code == 204
    result(sent, "sent")
    result(failed, "failed", "invalid number")
    used = {delivered.responder_id, sent.responder_id, failed.responder_id}
    linked = next(
        n
        for n, slug in rows
        if (slug, n.channel) == ("fire", "email") and n.responder_id not in used
    )
    assert answer_link(client, tocsin, linked.id, "en_route").status_code == 200
    assert answer_link(client, tocsin, linked.id, "on_scene").status_code == 200
    replying = pick(rows, "ambulance", "sms")
    assert post_sms(client, tocsin, sms_form(replying.address, "1")).status_code == 200
    return incident_id


def test_it_counts_per_agency_and_per_channel(client, tocsin, incident_id):
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    shown = tables(page)
    assert shown == expected(tocsin, incident_id)
    # The same figures, spelled out for the things the fixture did.
    fire, ambulance = shown["by-agency"]["Fire and Rescue"], shown["by-agency"]["Ambulance"]
    assert (fire["sent"], fire["delivered"], fire["failed"], fire["answered"]) == (2, 1, 1, 1)
    assert (ambulance["sent"], ambulance["failed"], ambulance["answered"]) == (0, 0, 1)
    sms, email = shown["by-channel"]["sms"], shown["by-channel"]["email"]
    assert (sms["sent"], sms["delivered"], sms["failed"], sms["answered"]) == (2, 1, 1, 1)
    # The link came in an email: it counts for email, and twice answered is one.
    assert email["answered"] == 1
    assert "link" not in shown["by-channel"]
    # The failed SMS fell back to the responder's push topic.
    assert shown["by-channel"]["push"]["notifications"] == 1
    assert list(shown["by-channel"]) == ["sms", "email", "push"]
    assert list(shown["by-agency"]) == ["Ambulance", "Fire and Rescue"]


def test_the_overall_counts_add_up_the_agencies(client, tocsin, incident_id):
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    agencies = tables(page)["by-agency"].values()
    overall = totals(page)
    for column in ("sent", "delivered", "failed", "answered"):
        assert overall[column] == sum(a[column] for a in agencies), column
    # The first answer withheld each answering responder's other message still queued.
    assert overall["cancelled"] == 2
    everything = sum(a["notifications"] for a in agencies)
    assert overall["queued"] == everything - overall["sent"] - overall["cancelled"] - 1


def test_the_page_says_what_each_column_means(client, incident_id):
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert "<caption>Per agency</caption>" in page and "<caption>Per channel</caption>" in page
    assert "Accepted by the provider: sent, delivered or undelivered" in page
    assert "a link in an email counts for email" in page


def test_the_state_has_the_same_figures_and_names_every_notification(client, tocsin, incident_id):
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    state = client.get(f"/incidents/{incident_id}/state").get_json()
    assert {"agencies": tables(page)["by-agency"], "channels": tables(page)["by-channel"]} == (
        state["breakdown"]
    )
    names = {n["agency_name"] for n in state["notifications"]}
    assert names == {"Fire and Rescue", "Ambulance"}
    assert all(n["responder_name"] for n in state["notifications"])
    answered_through = {r["notification_id"] for r in state["responses"]}
    channels = {n["id"]: n["channel"] for n in state["notifications"]}
    assert sorted(channels[i] for i in answered_through) == ["email", "sms"]


def test_it_shows_when_each_alert_went_out_in_utc(client, tocsin, incident_id):
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    incident = tocsin.db.session.get(Incident, incident_id)
    for at in [incident.created_at, *(a.created_at for a in incident.alerts)]:
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        assert (
            f'<time datetime="{at.isoformat()}" data-since '
            f'title="{at:%Y-%m-%d %H:%M:%S} UTC">{at:%H:%M:%S} UTC</time>'
        ) in page
    tocsin.db.remove()
    rendered = re.search(r'data-rendered-at="([^"]+)"', page).group(1)
    assert rendered.endswith("+00:00")


def test_the_next_escalation_step_has_a_countdown(client, tocsin, incident_id):
    escalations = client.get(f"/incidents/{incident_id}/escalation").get_json()["escalations"]
    waiting = [e for e in escalations if e["next"]]
    assert waiting, "the demo policies wait for their voice step"
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    for e in waiting:
        line = re.search(rf'<li data-escalation="{e["id"]}"[^>]*>(.*?)</li>', page).group(1)
        assert f'data-until="{e["next"]["at"]}" data-past="due now"' in line


def test_the_map_is_in_the_board_page_with_our_own_assets(client, incident_id):
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    head, body = page.split("</head>", 1)
    assert "leaflet.css" in head and "leaflet.js" in head
    assert "<iframe" not in page
    map_div = re.search(
        r'<aside class="board-map"[^>]*>\s*<div class="map"[^>]*>\s*<div[^>]*id="(map_\w+)"', body
    )
    assert map_div, "the map's own div sits in the board's map panel"
    # board.js creates window.tocsinSocket; the map's script comes after it.
    board_js = body.index("board.js")
    assert body.index("window.tocsinApplyResponse") > board_js
    assert body.index(map_div.group(1) + " = L.map") > board_js
    for src in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert not src.startswith(("http://", "https://", "//")), src
        with client.get(src) as asset:
            assert asset.status_code == 200, src
    assert client.get(f"/incidents/{incident_id}/map").status_code == 200


def test_an_unknown_incident_is_not_found(client):
    login(client)
    assert client.get("/incidents/999999").status_code == 404
    assert client.get("/incidents/999999/state").status_code == 404


def test_the_state_needs_a_signed_in_user(app, incident_id):
    fresh = app.test_client()
    response = fresh.get(f"/incidents/{incident_id}/state")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
