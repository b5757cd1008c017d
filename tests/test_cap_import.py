"""Importing CAP 1.2: an Alert opens an incident without alerting anyone, an Update
or Cancel changes the incident it references, and a document that is refused
creates nothing (Incident, Alert, Notification, Outbox and CapMessage rows
counted before and after), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from coordinator.cap import CapError
from coordinator.cap.geo import distance_m
from coordinator.models import AuditEvent, CapMessage, Incident, utcnow
from coordinator.services import cap_areas, cap_import, incidents, quorum
from coordinator.services.escalation import EscalationRunner
from tests.conftest import csrf_token, login
from tests.helpers.cap import document, fixture, import_cap, reference_to, rows


def incident_of(tocsin, incident_id: int) -> Incident:
    found = tocsin.db.session.get(Incident, incident_id)
    tocsin.db.remove()
    return found


def refused(tocsin, data: bytes, **options) -> CapError:
    before = rows(tocsin)
    with pytest.raises(CapError) as caught:
        import_cap(tocsin, data, **options)
    assert rows(tocsin) == before, "a refused document created something"
    return caught.value


# --- the OASIS CAP 1.2 appendix examples ---------------------------------------------


def test_the_severe_thunderstorm_warning_opens_a_live_incident_alerting_nobody(tocsin):
    before = rows(tocsin)
    done = import_cap(tocsin, fixture("oasis_a2_severe_thunderstorm.xml"))
    incident = incident_of(tocsin, done.incident.id)
    assert (incident.title, incident.kind, incident.severity, incident.mode, incident.origin) == (
        "SEVERE THUNDERSTORM WARNING", "storm", "major", "live", "cap",
    )  # fmt: skip
    assert incident.status == "open" and done.action == "opened" and done.alerts == []
    # placed at the polygon's centroid, with a radius reaching every vertex
    vertices = [(38.47, -120.14), (38.34, -119.95), (38.52, -119.74), (38.62, -119.89)]
    assert 38.34 < incident.lat < 38.62 and -120.14 < incident.lon < -119.74
    farthest = max(distance_m(incident.lat, incident.lon, *v) for v in vertices)
    assert incident.radius_m == pytest.approx(farthest)
    after = rows(tocsin)
    assert after == before | {"Incident": before["Incident"] + 1,
                              "CapMessage": before["CapMessage"] + 1}  # fmt: skip
    kept = tocsin.db.session.scalar(select(CapMessage).where(CapMessage.incident_id == incident.id))
    assert (kept.direction, kept.identifier, kept.sender, kept.msg_type, kept.event) == (
        "in", "KSTO1055887203", "KSTO@NWS.NOAA.GOV", "Alert", "SEVERE THUNDERSTORM",
    )  # fmt: skip
    assert kept.document == fixture("oasis_a2_severe_thunderstorm.xml").decode()


def test_the_homeland_security_advisory_is_refused_for_having_no_place(tocsin):
    error = refused(tocsin, fixture("oasis_a1_homeland_security.xml"))
    assert [(p.line, p.element) for p in error.problems] == [(29, "area")]
    assert "'U.S. nationwide and interests worldwide' has no <polygon>" in str(error)


def test_the_earthquake_update_is_refused_until_its_alert_was_imported(tocsin):
    update = fixture("oasis_a3_earthquake_update.xml")
    error = refused(tocsin, update)
    assert (error.problems[0].line, error.problems[0].element) == (9, "references")
    assert "names no message Tocsin imported" in str(error)
    # the first report of the same quake, as TriNet would have sent it before the update
    first = document(
        identifier="TRI13970876.1", sender="trinet@caltech.edu", sent="2003-06-11T20:30:00-07:00",
        event="Earthquake", category="Geo", severity="Minor", headline="EQ 3.4 Imperial County CA",
        area="<areaDesc>Brawley, CA</areaDesc><circle>32.9525,-115.5527 10</circle>",
    )  # fmt: skip
    opened = import_cap(tocsin, first).incident
    done = import_cap(tocsin, update)
    assert done.incident.id == opened.id and done.action == "updated"
    incident = incident_of(tocsin, opened.id)
    assert (incident.title, incident.severity, incident.kind) == (
        "EQ 3.4 Imperial County CA", "minor", "other",
    )  # fmt: skip
    assert incident.radius_m is None  # the update's circle has radius 0: a point


def test_the_amber_alert_needs_its_geocode_known_and_keeps_both_languages(tocsin):
    amber = fixture("oasis_a4_amber_alert.xml")
    error = refused(tocsin, amber)
    assert [(p.line, p.element) for p in error.problems] == [(27, "geocode")]
    assert "SAME '006037' is not an area code Tocsin knows" in str(error)
    with tocsin.db.write() as session:
        row = cap_areas.CodeRow("SAME", "006037", "Los Angeles County", 34.05, -118.24, 60_000)
        cap_areas.save_codes(session, [row], "test:admin")
    done = import_cap(tocsin, amber)
    incident = incident_of(tocsin, done.incident.id)
    assert (incident.title, incident.kind, incident.severity) == (
        "Amber Alert in Los Angeles County", "other", "major",
    )  # fmt: skip
    assert (incident.lat, incident.lon, incident.radius_m) == (34.05, -118.24, 60_000)
    assert "Abducción de Niño" in done.message.document  # the whole document is kept


# --- languages and areas ----------------------------------------------------------

TWO_LANGUAGES = """
  <info><language>cy-GB</language><category>Met</category><event>Rhybudd llifogydd</event>
    <urgency>Expected</urgency><severity>Moderate</severity><certainty>Likely</certainty>
    <headline>Llifogydd ar yr harbwr</headline><description>Disgwylir llifogydd.</description>
    <area><areaDesc>Harbwr</areaDesc><circle>51.4484,-2.6006 1</circle></area></info>
  <info><language>en-GB</language><category>Met</category><event>Flood warning</event>
    <urgency>Expected</urgency><severity>Moderate</severity><certainty>Likely</certainty>
    <headline>Flooding at the harbour</headline><description>Flooding is expected.</description>
    <area><areaDesc>Harbourside</areaDesc><circle>51.4484,-2.6006 1</circle></area></info>"""


def test_the_info_in_the_default_language_is_used_and_every_info_kept(tocsin):
    done = import_cap(tocsin, document(infos=TWO_LANGUAGES))
    incident = incident_of(tocsin, done.incident.id)
    assert (incident.title, incident.kind, incident.severity) == (
        "Flooding at the harbour", "flood", "moderate",
    )  # fmt: skip
    assert done.message.event == "Flood warning"
    assert "Llifogydd ar yr harbwr" in done.message.document


def test_the_language_is_a_setting(tocsin):
    welsh = replace(tocsin.settings, cap_language="cy")
    done = import_cap(tocsin, document(infos=TWO_LANGUAGES), language=welsh.cap_language)
    assert incident_of(tocsin, done.incident.id).title == "Llifogydd ar yr harbwr"


def test_a_geocode_the_city_knows_places_the_incident(tocsin):
    code = "<valueName>TOCSIN-DEMO</valueName><value>temple-meads</value>"
    area = f"<areaDesc>Temple Meads station</areaDesc><geocode>{code}</geocode>"
    done = import_cap(tocsin, document(area=area))
    incident = incident_of(tocsin, done.incident.id)
    assert (incident.lat, incident.lon, incident.radius_m) == (51.4493, -2.5813, 600.0)


def test_several_areas_give_one_place_covering_them_all(tocsin):
    area = ("<areaDesc>Harbourside</areaDesc><circle>51.4484,-2.6006 1</circle></area><area>"
            "<areaDesc>Avonmouth</areaDesc><geocode><valueName>TOCSIN-DEMO</valueName>"
            "<value>avonmouth-docks</value></geocode>")  # fmt: skip
    incident = incident_of(tocsin, import_cap(tocsin, document(area=area)).incident.id)
    for lat, lon, radius in ((51.4484, -2.6006, 1000), (51.5005, -2.6985, 1500)):
        assert distance_m(incident.lat, incident.lon, lat, lon) + radius <= incident.radius_m + 1


def test_exercise_opens_a_drill(tocsin):
    done = import_cap(tocsin, document(status="Exercise"))
    assert incident_of(tocsin, done.incident.id).mode == "drill"


# --- refused documents create nothing -------------------------------------------------

ALERT = document()


REFUSED = [
        (ALERT.replace(b"cap:1.2", b"cap:1.1"), "alert", 2, "namespace"),
        (re.sub(rb"<sender>.*</sender>", b"", ALERT), "sent", 5, "expected <sender>"),
        (ALERT.replace(b"<certainty>Observed</certainty>", b""), "headline", 17, "<certainty>"),
        (ALERT.replace(b"<circle>51.4484,-2.6006 1.2</circle>",
                       b"<polygon>51.44,-2.60 51.45,-2.61 51.44,-2.62</polygon>"),
         "polygon", 20, "at least 4"),
        (ALERT.replace(b"</info>", b""), "document", 22, "not well-formed"),
        (ALERT.replace(b"<status>Actual", b"<status>Test"), "status", 6, "is Test"),
        (ALERT.replace(b"<status>Actual", b"<status>Draft"), "status", 6, "is Draft"),
        (ALERT.replace(b"<msgType>Alert", b"<msgType>Ack").replace(b"</scope>",
            b"</scope><references>a@b,X,2026-03-01T09:00:00+00:00</references>"),
         "msgType", 7, "is Ack"),
        (ALERT.replace(b"<area>", b"<!--no area-->").replace(b"</area>", b""), "areaDesc", 20,
         "not expected"),
    ]  # fmt: skip


def test_a_refused_document_names_element_and_line_and_creates_nothing(tocsin, subtests):
    for data, element, line, said in REFUSED:
        with subtests.test(msg=f"{element}: {said}"):
            error = refused(tocsin, data)
            problem = error.problems[0]
            assert (problem.element, problem.line) == (element, line), error
            assert said in problem.message, error


def test_an_xml_bomb_and_an_external_entity_create_nothing(tocsin, tmp_path):
    (tmp_path / "x.txt").write_text("secret")
    head = b'<?xml version="1.0"?>\n'
    for dtd in (b'<!DOCTYPE alert [<!ENTITY a "aa"><!ENTITY b "&a;&a;&a;&a;">]>\n',
                b'<!DOCTYPE alert [<!ENTITY x SYSTEM "file://' + str(tmp_path).encode()
                + b'/x.txt">]>\n'):  # fmt: skip
        body = ALERT.split(b"?>", 1)[1].replace(b"MET-2026-0001", b"&b;")
        error = refused(tocsin, head + dtd + body)
        assert error.problems[0].element == "document" and "DOCTYPE" in str(error)


def test_a_drills_update_sent_as_actual_is_refused(tocsin):
    drill = document(status="Exercise")
    incident_id = import_cap(tocsin, drill).incident.id
    update = document(identifier="MET-2026-0002", status="Actual", msg_type="Update",
                      references=reference_to(drill))  # fmt: skip
    error = refused(tocsin, update)
    assert (error.problems[0].element, error.problems[0].line) == ("status", 6)
    assert f"incident {incident_id} is a drill" in str(error)
    # and the other way round: a live incident's update sent as an exercise
    live = document(identifier="MET-2026-0100")
    import_cap(tocsin, live)
    exercise = document(identifier="MET-2026-0101", status="Exercise", msg_type="Cancel",
                        references=reference_to(live))  # fmt: skip
    assert "must be Actual too" in str(refused(tocsin, exercise))
    assert incident_of(tocsin, incident_id).mode == "drill"


def test_importing_the_same_message_twice_names_the_incident_it_opened(tocsin):
    first = import_cap(tocsin, ALERT).incident.id
    error = refused(tocsin, ALERT)
    assert isinstance(error, cap_import.CapDuplicate) and error.incident_id == first
    assert f"was imported already (incident {first})" in str(error)


def test_an_update_referencing_nothing_known_is_refused(tocsin):
    update = document(msg_type="Update", references="someone@else,NOPE,2026-03-01T09:00:00+00:00")
    assert "names no message Tocsin imported" in str(refused(tocsin, update))


def test_an_update_of_a_closed_incident_is_refused(tocsin):
    incident_id = import_cap(tocsin, ALERT).incident.id
    with tocsin.db.write() as session:
        session.get(Incident, incident_id).status = "closed"
    update = document(identifier="MET-2026-0002", msg_type="Update", references=reference_to(ALERT))
    assert f"incident {incident_id}, which is closed" in str(refused(tocsin, update))


# --- Update and Cancel --------------------------------------------------------------


def test_an_update_moves_the_incidents_fields_and_sends_nothing(tocsin):
    incident_id = import_cap(tocsin, ALERT).incident.id
    before = rows(tocsin)
    update = document(
        identifier="MET-2026-0002", msg_type="Update", references=reference_to(ALERT),
        severity="Extreme", headline="Severe thunderstorm: now over Temple Meads",
        description="The storm has moved east; flooding on the station approach.",
        area="<areaDesc>Temple Meads</areaDesc><circle>51.4493,-2.5813 2</circle>",
    )  # fmt: skip
    done = import_cap(tocsin, update)
    assert (done.incident.id, done.action, done.alerts) == (incident_id, "updated", [])
    incident = incident_of(tocsin, incident_id)
    assert (incident.title, incident.severity, incident.lat, incident.lon, incident.radius_m) == (
        "Severe thunderstorm: now over Temple Meads", "critical", 51.4493, -2.5813, 2000,
    )  # fmt: skip
    assert rows(tocsin) == before | {"CapMessage": before["CapMessage"] + 1}
    changed = tocsin.db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "incident.updated")
    )
    assert changed.detail["changes"]["severity"] == ["major", "critical"]


def test_a_cancel_stands_the_incident_down(tocsin):
    incident_id = import_cap(tocsin, ALERT).incident.id
    cancel = document(identifier="MET-2026-0003", msg_type="Cancel", references=reference_to(ALERT))
    done = import_cap(tocsin, cancel, actor="user:dispatcher")
    assert (done.incident.id, done.action) == (incident_id, "stood_down")
    incident = incident_of(tocsin, incident_id)
    assert incident.status == "stood_down" and incident.stood_down_at is not None
    actions = tocsin.db.session.execute(
        select(AuditEvent.actor, AuditEvent.action)
        .where(AuditEvent.incident_id == incident_id)
        .order_by(AuditEvent.id)
    ).all()
    assert actions == [
        ("test:cap", "incident.opened"),
        ("test:cap", "cap.imported"),
        ("user:dispatcher", "incident.status"),
        ("user:dispatcher", "cap.imported"),
    ]


# --- the board of an incident nobody was alerted for ---------------------------------


def test_the_board_says_nobody_was_alerted_and_offers_the_first_alert(client, tocsin):
    incident_id = import_cap(tocsin, ALERT).incident.id
    login(client, "dispatcher")
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert "Nobody has been alerted yet" in page
    assert f'href="/incidents/{incident_id}/alert"' in page
    assert "Hail and damaging winds expected within the hour." in page  # the CAP text
    assert "From CAP 1.2: <span" in page and "MET-2026-0001" in page
    state = client.get(f"/incidents/{incident_id}/state").get_json()
    assert state["notifications"] == [] and state["responses"] == []
    assert client.get(f"/incidents/{incident_id}/map").status_code == 200
    assert client.get(f"/incidents/{incident_id}/escalation").get_json() == {
        "quorums": [], "escalations": [],
    }  # fmt: skip
    nothing = client.get(f"/incidents/{incident_id}/cap.xml")
    assert nothing.status_code == 404 and "alerted nobody yet" in nothing.get_data(as_text=True)


def test_an_update_to_nobody_yet_is_refused_clearly(client, tocsin):
    incident_id = import_cap(tocsin, ALERT).incident.id
    login(client)
    token = csrf_token(client.get(f"/incidents/{incident_id}").get_data(as_text=True))
    before = rows(tocsin)
    sent = client.post(f"/incidents/{incident_id}/follow-up",
                       data={"message": "More rain", "csrf_token": token})  # fmt: skip
    assert sent.status_code == 400
    assert "Nobody was alerted for this incident yet." in sent.get_data(as_text=True)
    assert rows(tocsin) == before


def test_the_observer_sees_the_board_without_the_send_button(client, tocsin):
    incident_id = import_cap(tocsin, ALERT).incident.id
    login(client, "observer")
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert "Nobody has been alerted yet" in page and "send-first-alert" not in page


def test_the_hub_loops_and_the_status_changes_cope_with_an_incident_without_alerts(tocsin):
    incident_id = import_cap(tocsin, ALERT).incident.id
    assert EscalationRunner(tocsin).run_due(utcnow() + timedelta(hours=1)) == 0
    with tocsin.db.write() as session:
        assert quorum.bring_forward_missed(session, utcnow() + timedelta(days=1)) == []
        assert quorum.for_incident(session, incident_id) == []
        incident = session.get(Incident, incident_id)
        assert incidents.stand_down(session, incident, "", None, tocsin.links) is None
        incidents.change_status(session, incident, "closed", None)
    assert incident_of(tocsin, incident_id).status == "closed"
