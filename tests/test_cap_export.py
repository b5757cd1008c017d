"""Exporting alerts as CAP 1.2: every alert, update and stand-down of a drill or a
live incident gives a document valid against the OASIS schema, with the right
status, msgType, references and area, the same document every time; and an
export imported again opens the same incident."""

from __future__ import annotations

import pytest
from lxml import etree
from sqlalchemy import select

from coordinator import cap
from coordinator.cap import validate
from coordinator.cap.geo import distance_m
from coordinator.models import Alert, CapMessage, Incident
from coordinator.services import cap_export, incidents
from coordinator.services.alerts import IncidentForm, declare_incident, send_alert
from coordinator.services.targeting import Targeting
from tests.conftest import login
from tests.helpers.cap import document, import_cap, rows

NS = {"c": cap.NAMESPACE}


def declare(tocsin, **fields) -> int:
    values = dict(
        title="Chemical spill at Avonmouth", kind="chemical", severity="critical",
        lat="51.4545", lon="-2.5879", message="Tanker leaking; stay upwind.",
        agency_slugs=["fire"], channels=["sms"], radius_m="20000",
    ) | fields  # fmt: skip
    with tocsin.db.write() as session:
        return declare_incident(session, IncidentForm(**values), None, tocsin.links).id


def follow_up(tocsin, incident_id: int, kind: str, message: str) -> None:
    with tocsin.db.write() as session:
        incident = session.get(Incident, incident_id)
        if kind == "stand_down":
            incidents.stand_down(session, incident, message, None, tocsin.links)
        else:
            incidents.follow_up(session, incident, message, kind, None, tocsin.links)


def exported(tocsin, alert_id: int) -> bytes:
    identity = cap_export.Identity.from_settings(tocsin.settings)
    with tocsin.db.write() as session:
        text = cap_export.document_for(session, session.get(Alert, alert_id), identity, "test")
    tocsin.db.remove()
    return text.encode("utf-8")


def alert_ids(tocsin, incident_id: int) -> list[int]:
    ids = tocsin.db.session.scalars(
        select(Alert.id).where(Alert.incident_id == incident_id).order_by(Alert.id)
    ).all()
    tocsin.db.remove()
    return list(ids)


def text(root: etree._Element, path: str) -> str:
    return root.findtext(path, namespaces=NS)


@pytest.mark.parametrize("mode", ["live", "drill"])
def test_an_alert_an_update_and_a_stand_down_export_as_valid_cap(tocsin, mode):
    incident_id = declare(tocsin, mode=mode)
    follow_up(tocsin, incident_id, "update", "Wind has turned: evacuate the depot.")
    follow_up(tocsin, incident_id, "stand_down", "Leak sealed; stand down.")
    first, update, stand_down = (exported(tocsin, a) for a in alert_ids(tocsin, incident_id))
    docs = []
    for data in (first, update, stand_down):
        root = etree.fromstring(data)
        assert validate.schema().validate(root), validate.schema().error_log
        docs.append(root)
    status = "Exercise" if mode == "drill" else "Actual"
    assert [text(d, "c:status") for d in docs] == [status] * 3
    assert [text(d, "c:msgType") for d in docs] == ["Alert", "Update", "Cancel"]
    ids = alert_ids(tocsin, incident_id)
    identifiers = [text(d, "c:identifier") for d in docs]
    assert identifiers == [f"tocsin:127.0.0.1:5000:alert:{a}" for a in ids]
    assert {text(d, "c:sender") for d in docs} == {"tocsin@127.0.0.1:5000"}
    sent = [text(d, "c:sent") for d in docs]
    assert all(s.endswith("-00:00") for s in sent)
    named = [(text(d, "c:sender"), i, s) for d, i, s in zip(docs, identifiers, sent, strict=True)]
    assert text(docs[0], "c:references") is None
    assert text(docs[1], "c:references") == ",".join(named[0])
    assert text(docs[2], "c:references") == " ".join(",".join(n) for n in named[:2])
    assert {text(d, "c:scope") for d in docs} == {"Restricted"}
    assert (text(docs[0], "c:note") or "").startswith("EXERCISE EXERCISE EXERCISE") == (
        mode == "drill"
    )
    info = docs[0].find("c:info", NS)
    assert (text(info, "c:language"), text(info, "c:category"), text(info, "c:event")) == (
        "en-GB", "CBRNE", "Chemical incident",
    )  # fmt: skip
    assert (text(info, "c:severity"), text(info, "c:urgency"), text(info, "c:certainty")) == (
        "Extreme", "Immediate", "Observed",
    )  # fmt: skip
    assert text(info, "c:headline") == "Chemical spill at Avonmouth"
    assert text(info, "c:description") == "Tanker leaking; stay upwind."
    assert text(info, "c:area/c:circle") == "51.4545,-2.5879 20"
    last = docs[2].find("c:info", NS)
    assert (text(last, "c:urgency"), text(last, "c:responseType")) == ("Past", "AllClear")
    assert text(last, "c:description") == "Leak sealed; stand down."


def test_an_export_is_kept_so_its_identifier_names_one_document(tocsin):
    incident_id = declare(tocsin)
    alert_id = alert_ids(tocsin, incident_id)[0]
    once = exported(tocsin, alert_id)
    with tocsin.db.write() as session:
        session.get(Incident, incident_id).title = "Renamed afterwards"
    assert exported(tocsin, alert_id) == once
    kept = tocsin.db.session.scalars(select(CapMessage).where(CapMessage.direction == "out")).all()
    assert [(k.alert_id, k.msg_type, k.document.encode()) for k in kept] == [
        (alert_id, "Alert", once)
    ]


def test_a_further_alert_is_an_update_and_an_incident_without_radius_gets_1_km(tocsin):
    incident_id = declare(tocsin, radius_m="")
    with tocsin.db.write() as session:
        incident = session.get(Incident, incident_id)
        send_alert(session, incident, "Second pump", Targeting(["fire"]), ["sms"], None,
                   tocsin.links)  # fmt: skip
    first, further = (etree.fromstring(exported(tocsin, a)) for a in alert_ids(tocsin, incident_id))
    assert text(further, "c:msgType") == "Update"
    assert text(first, "c:info/c:area/c:circle") == "51.4545,-2.5879 1"


def test_an_imported_incident_exports_with_its_event_and_the_document_it_came_from(tocsin):
    warning = document()
    incident_id = import_cap(tocsin, warning).incident.id
    with tocsin.db.write() as session:
        incident = session.get(Incident, incident_id)
        send_alert(session, incident, "Council duty team: sandbags to the harbour.",
                   Targeting(["council"]), ["sms"], None, tocsin.links)  # fmt: skip
    root = etree.fromstring(exported(tocsin, alert_ids(tocsin, incident_id)[0]))
    assert text(root, "c:msgType") == "Alert"
    assert (
        text(root, "c:references")
        == "warnings@met.example.org,MET-2026-0001,2026-03-01T10:00:00-00:00"
    )
    assert text(root, "c:info/c:event") == "Severe Thunderstorm"
    assert text(root, "c:info/c:area/c:areaDesc") == "Harbourside"
    assert text(root, "c:info/c:area/c:circle") == "51.4484,-2.6006 1.2"


ROUND_TRIPS = [
    ("chemical", "critical", "live", "1500"),
    ("fire", "major", "drill", "250"),
    ("flood", "moderate", "live", "12000"),
    ("mass_casualty", "minor", "drill", "800"),
    ("collision", "major", "live", "333"),
    ("storm", "moderate", "live", "5000"),
    ("other", "minor", "drill", "1000"),
]


def test_an_export_round_trips_through_import(tocsin, subtests):
    for kind, severity, mode, radius_m in ROUND_TRIPS:
        with subtests.test(msg=f"{kind} {severity} {mode} {radius_m} m"):
            incident_id = declare(
                tocsin, kind=kind, severity=severity, mode=mode, radius_m=radius_m,
                lat="51.4612345", lon="-2.5912345",
            )  # fmt: skip
            data = exported(tocsin, alert_ids(tocsin, incident_id)[0])
            before = rows(tocsin)
            done = import_cap(tocsin, data)
            again = tocsin.db.session.get(Incident, done.incident.id)
            original = tocsin.db.session.get(Incident, incident_id)
            assert again.id != original.id and again.origin == "cap"
            assert (again.title, again.severity, again.kind, again.mode) == (
                original.title, original.severity, original.kind, original.mode,
            )  # fmt: skip
            assert distance_m(again.lat, again.lon, original.lat, original.lon) < 1
            assert again.radius_m == pytest.approx(original.radius_m, abs=1)
            assert rows(tocsin)["Alert"] == before["Alert"]  # the import alerted nobody


def test_the_board_links_each_alerts_cap_xml(client, tocsin):
    incident_id = declare(tocsin)
    follow_up(tocsin, incident_id, "update", "Update one.")
    login(client, "observer")
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    first, update = alert_ids(tocsin, incident_id)
    assert f'href="/incidents/{incident_id}/cap.xml" id="cap-latest">CAP 1.2 XML</a>' in page
    for alert_id in (first, update):
        assert f'href="/alerts/{alert_id}/cap.xml"' in page
    latest = client.get(f"/incidents/{incident_id}/cap.xml")
    assert latest.status_code == 200 and latest.mimetype == "application/cap+xml"
    assert latest.data == client.get(f"/alerts/{update}/cap.xml").data
    assert cap.parse(latest.data).msg_type == "Update"
    assert client.get("/alerts/999999/cap.xml").status_code == 404
