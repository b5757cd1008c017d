"""Drills compared and responsiveness published: drills only (never a live incident),
each agency its own figures, coordinators their own agency, an opt-in audited, and
public pages that need no sign-in and hold nothing personal."""

from __future__ import annotations

from lxml import html as lxml_html
from sqlalchemy import func, select, update

from coordinator.models import Agency, AuditEvent, ContactPoint, Incident, Responder
from coordinator.reports import store
from tests.conftest import csrf_token, login
from tests.helpers.report_scenario import T0, close, known_incident


def closed_and_stored(tocsin, **options):  # type: ignore[no-untyped-def]
    s = known_incident(tocsin, **options)
    close(tocsin, s.incident_id)
    store.ReportBuilder(tocsin).build_due()
    return s


def rows(page: str) -> dict[str, dict[str, str]]:
    doc = lxml_html.fromstring(page)
    return {
        tr.get("data-key"): {
            c.get("data-col"): " ".join(c.text_content().split()) for c in tr.xpath("./th|./td")
        }
        for tr in doc.xpath("//table[@id='drills']/tbody/tr[@data-key]")
    }


def publish(tocsin, slug: str, value: bool = True) -> None:
    with tocsin.db.write() as s:
        s.execute(update(Agency).where(Agency.slug == slug).values(publish_responsiveness=value))


def test_it_compares_an_agencys_drills_and_never_a_live_incident(client, tocsin):
    drill = closed_and_stored(tocsin, mode="drill", title="Spring drill")
    live = closed_and_stored(tocsin, mode="live", title="Real warehouse fire")
    login(client, "fire-coordinator")
    page = client.get("/agencies/fire/drills")
    assert page.status_code == 200
    shown = rows(page.get_data(as_text=True))
    assert list(shown) == [str(drill.incident_id)]  # the live incident is not a drill
    assert str(live.incident_id) not in shown
    row = shown[str(drill.incident_id)]
    # fire's own figures within the drill (the whole drill: 9 notified, 55.6%, 60.0 s)
    assert (row["title"], row["notified"], row["answered"], row["answered_rate"]) == (
        "Spring drill", "6", "4", "66.7%",
    )  # fmt: skip
    assert row["median_tta"] == "1 min 15 s"
    trend = client.get("/agencies/fire/drills/trend.svg")
    assert trend.status_code == 200 and b"<svg" in trend.data
    assert "66.7% answered, median 1 min 15 s" in page.get_data(as_text=True)  # its text


def test_it_shows_the_last_drills_newest_first(client, tocsin):
    older = closed_and_stored(tocsin, mode="drill", title="First drill")
    newer = closed_and_stored(tocsin, mode="drill", title="Second drill")
    with tocsin.db.write() as s:  # declared an hour apart
        first = s.get(Incident, older.incident_id)
        s.get(Incident, newer.incident_id).created_at = first.created_at.replace(hour=11)
    login(client, "commander")
    assert list(rows(client.get("/agencies/ambulance/drills").get_data(as_text=True))) == [
        str(newer.incident_id), str(older.incident_id),
    ]  # fmt: skip
    one = rows(client.get("/agencies/ambulance/drills?last=1").get_data(as_text=True))
    assert list(one) == [str(newer.incident_id)]


def test_bad_input_to_drills_compared_changes_nothing(client, tocsin):
    closed_and_stored(tocsin, mode="drill")
    login(client, "police-coordinator")
    before = audit_count(tocsin)
    assert client.get("/agencies/fire/drills").status_code == 404  # another agency's
    assert client.get("/agencies/nowhere/drills").status_code == 404
    for last in ("abc", "0", "101", "-3"):
        response = client.get(f"/agencies/police/drills?last={last}")
        assert response.status_code == 400
        assert "last: a whole number" in response.get_data(as_text=True)
    assert audit_count(tocsin) == before


def audit_count(tocsin) -> int:
    n = tocsin.db.session.scalar(select(func.count()).select_from(AuditEvent))
    tocsin.db.remove()
    return n


def post(client, url: str, **data):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/agencies").get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def published(tocsin, slug: str) -> bool:
    value = tocsin.db.session.scalar(
        select(Agency.publish_responsiveness).where(Agency.slug == slug)
    )
    tocsin.db.remove()
    return value


def test_an_agencys_coordinator_opts_in_and_out_audited(client, tocsin):
    login(client, "fire-coordinator")
    assert post(client, "/agencies/fire/publish", publish="1").status_code == 302
    assert published(tocsin, "fire")
    page = client.get("/agencies/fire/drills").get_data(as_text=True)
    assert "is now published" in page and "Stop publishing" in page
    assert post(client, "/agencies/fire/publish", publish="0").status_code == 302
    assert not published(tocsin, "fire")
    entries = tocsin.db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "agency.publish_responsiveness")
    ).all()
    assert [(e.actor, e.detail["agency"], e.detail["published"]) for e in entries] == [
        ("user:fire-coordinator", "fire", True),
        ("user:fire-coordinator", "fire", False),
    ]
    tocsin.db.remove()
    before = audit_count(tocsin)
    response = post(client, "/agencies/fire/publish", publish="yes please")
    assert response.status_code == 400 and "publish: 1 to publish" in response.get_data(
        as_text=True
    )
    assert post(client, "/agencies/police/publish", publish="1").status_code == 404
    assert (published(tocsin, "fire"), published(tocsin, "police")) == (False, False)
    assert audit_count(tocsin) == before


def test_the_public_pages_need_no_sign_in_and_hold_drills_of_opted_in_agencies_only(client, tocsin):
    closed_and_stored(tocsin, mode="drill", title="Drill at the docks")
    closed_and_stored(tocsin, mode="live", title="Live fire at the docks")
    publish(tocsin, "fire")
    doc = client.get("/public/responsiveness.json")
    assert doc.status_code == 200  # nobody signed in
    agencies = {a["slug"]: a for a in doc.json["agencies"]}
    assert list(agencies) == ["fire"]  # ambulance did not opt in: not there at all
    (month,) = agencies["fire"]["months"]
    # the drill's fire figures only: the live incident (the same numbers again) is not in
    assert month == {
        "month": T0.strftime("%Y-%m"), "drills": 1, "responders_notified": 6,
        "answered_rate": 0.6667, "median_time_to_answer_s": 75.0, "withheld": False,
    }  # fmt: skip
    one = client.get("/public/responsiveness/fire.json")
    assert one.status_code == 200 and [a["slug"] for a in one.json["agencies"]] == ["fire"]
    assert client.get("/public/responsiveness/ambulance.json").status_code == 404
    assert client.get("/public/responsiveness/nowhere.json").status_code == 404
    page = client.get("/public/responsiveness")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Fire and Rescue" in text and "Ambulance" not in text and "66.7%" in text


def test_the_public_pages_hold_no_personal_data(client, tocsin):
    closed_and_stored(tocsin, mode="drill", title="Drill at Temple Meads")
    for slug in ("fire", "ambulance", "police", "council"):
        publish(tocsin, slug)
    names = tocsin.db.session.scalars(select(Responder.name)).all()
    addresses = tocsin.db.session.scalars(select(ContactPoint.address)).all()
    tocsin.db.remove()
    outputs = [
        client.get(url).get_data(as_text=True)
        for url in ("/public/responsiveness", "/public/responsiveness.json",
                    "/public/responsiveness/fire.json")
    ]  # fmt: skip
    for output in outputs:
        assert not [n for n in names if n in output]
        assert not [a for a in addresses if a in output]
        assert "Temple Meads" not in output and "51.45" not in output  # no title, no place


def test_simulated_responders_never_count_as_an_agencys_responsiveness(client, tocsin):
    with tocsin.db.write() as s:  # the whole of ambulance is a simulated city's
        s.execute(
            update(Responder)
            .where(Responder.agency_id == select(Agency.id).where(Agency.slug == "ambulance")
                   .scalar_subquery())
            .values(simulated=True)
        )  # fmt: skip
    closed_and_stored(tocsin, mode="drill", title="Rehearsal")
    publish(tocsin, "ambulance")
    publish(tocsin, "fire")
    agencies = {a["slug"]: a for a in client.get("/public/responsiveness.json").json["agencies"]}
    assert agencies["ambulance"]["months"] == []  # opted in, but no real people drilled
    assert agencies["fire"]["months"][0]["responders_notified"] == 6


def test_a_month_with_too_few_people_keeps_its_counts_but_not_what_they_did(client, tocsin):
    from coordinator.reports.public import MIN_PEOPLE

    with tocsin.db.write() as s:  # fire's drill reaches fewer real people than MIN_PEOPLE
        fire = select(Agency.id).where(Agency.slug == "fire").scalar_subquery()
        keep = s.scalars(select(Responder.id).where(Responder.agency_id == fire)).all()
        s.execute(
            update(Responder).where(Responder.id.in_(keep[MIN_PEOPLE - 1 :])).values(simulated=True)
        )
    closed_and_stored(tocsin, mode="drill", title="Small drill")
    publish(tocsin, "fire")
    (month,) = client.get("/public/responsiveness.json").json["agencies"][0]["months"]
    assert month["responders_notified"] == MIN_PEOPLE - 1 and month["withheld"] is True
    assert month["answered_rate"] is None and month["median_time_to_answer_s"] is None
    page = client.get("/public/responsiveness").get_data(as_text=True)
    assert f"withheld: fewer than {MIN_PEOPLE} responders" in page
