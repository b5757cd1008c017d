"""coordinator/cap on its own (no database, no Flask): the OASIS CAP 1.2 examples
read, documents we build validate and read back the same, and a document that is
not CAP 1.2 is refused with every problem's line and element."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from coordinator import cap
from coordinator.cap import geo, validate
from coordinator.cap.mapping import KIND_CATEGORIES, KIND_EVENTS, kind_for

FIXTURES = Path(__file__).parent / "fixtures" / "cap"
ROOT = Path(__file__).resolve().parent.parent


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


THUNDERSTORM = fixture("oasis_a2_severe_thunderstorm.xml")


def refused(data: bytes) -> list[cap.Problem]:
    with pytest.raises(cap.CapError) as caught:
        cap.parse(data)
    return caught.value.problems


def only(data: bytes) -> cap.Problem:
    problems = refused(data)
    assert len(problems) == 1, problems
    return problems[0]


# --- the schema and the OASIS examples ---------------------------------------------


def test_the_vendored_schema_matches_its_pinned_hash_and_keeps_its_notice():
    checked = subprocess.run(
        ["bash", str(ROOT / "coordinator/cap/fetch_schema.sh"), "--check"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Copyright OASIS Open 2010" in validate.XSD.read_text().splitlines()[1]


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("oasis_*.xml")))
def test_the_oasis_appendix_examples_validate_against_the_schema(name):
    doc = cap.parse(fixture(name))
    assert validate.schema().validate(etree.fromstring(fixture(name)))
    assert doc.sent.tzinfo is not None and doc.infos


def test_it_reads_the_severe_thunderstorm_warning():
    doc = cap.parse(THUNDERSTORM)
    assert (doc.identifier, doc.sender, doc.status, doc.msg_type, doc.scope) == (
        "KSTO1055887203", "KSTO@NWS.NOAA.GOV", "Actual", "Alert", "Public",
    )  # fmt: skip
    assert doc.sent == datetime(2003, 6, 17, 14, 57, tzinfo=timezone(timedelta(hours=-7)))
    info = doc.infos[0]
    assert (info.event, info.severity, info.headline) == (
        "SEVERE THUNDERSTORM", "Severe", "SEVERE THUNDERSTORM WARNING",
    )  # fmt: skip
    assert info.language == "en-US"  # CAP's default: the example names none
    area = info.areas[0]
    assert area.polygons == [
        [(38.47, -120.14), (38.34, -119.95), (38.52, -119.74), (38.62, -119.89), (38.47, -120.14)]
    ]
    assert [(g.value_name, g.value) for g in area.geocodes] == [
        ("SAME", "006109"), ("SAME", "006009"), ("SAME", "006003"),
    ]  # fmt: skip
    assert info.text().startswith("AT 254 PM PDT") and info.text().endswith("STORM PASSES.")


def test_it_reads_the_earthquake_update_and_its_references():
    doc = cap.parse(fixture("oasis_a3_earthquake_update.xml"))
    assert doc.msg_type == "Update"
    assert [str(r) for r in doc.references] == [
        "trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00"
    ]
    assert doc.infos[0].areas[0].circles == [cap.Circle(32.9525, -115.5527, 0.0)]


def test_it_chooses_the_info_of_the_language_asked_for():
    doc = cap.parse(fixture("oasis_a4_amber_alert.xml"))
    assert [i.language for i in doc.infos] == ["en-US", "es-US"]
    assert doc.info_for("en-GB").event == "Child Abduction"  # same primary language
    assert doc.info_for("es-US").event == "Abducción de Niño"
    assert doc.info_for("es").headline == "Alerta Amber en el condado de Los Ángeles"
    assert doc.info_for("cy-GB").language == "en-US"  # none in Welsh: the first


# --- building --------------------------------------------------------------------


def sample(**changes) -> cap.CapAlert:
    alert = cap.CapAlert(
        identifier="tocsin:example.org:alert:7",
        sender="tocsin@example.org",
        sent=datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC),
        status="Exercise",
        msg_type="Update",
        scope="Restricted",
        restriction="Responders only.",
        note="EXERCISE EXERCISE EXERCISE",
        references=[cap.Reference("tocsin@example.org", "tocsin:example.org:alert:6",
                                  "2026-03-01T09:58:00-00:00")],
        infos=[cap.Info(
            language="en-GB", categories=["Health", "Rescue"], event="Mass casualty incident",
            urgency="Immediate", severity="Extreme", certainty="Observed", sender_name="Tocsin",
            headline="Coach crash on the A4", description="Two coaches, many hurt & trapped <3>.",
            areas=[cap.Area("Near the A4", circles=[cap.Circle(51.4545, -2.5879, 1.5)])],
        )],
    )  # fmt: skip
    for name, value in changes.items():
        setattr(alert, name, value)
    return alert


def test_a_built_document_validates_and_reads_back_the_same():
    built = cap.build(sample())
    assert built.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert validate.schema().validate(etree.fromstring(built))
    back = cap.parse(built)
    expected = sample()
    assert back.lines and expected.lines == {}
    back.lines, back.infos[0].line, back.infos[0].areas[0].line = {}, None, None
    assert back == expected


def test_it_writes_utc_as_minus_zero_and_keeps_other_offsets():
    assert cap.format_time(datetime(2026, 3, 1, 10, 0, 5, 123, tzinfo=UTC)) == (
        "2026-03-01T10:00:05-00:00"
    )
    summer = datetime(2026, 7, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    assert cap.format_time(summer) == "2026-07-01T10:00:00+01:00"
    with pytest.raises(ValueError):
        cap.format_time(datetime(2026, 3, 1))


def test_it_refuses_to_hand_out_a_document_that_would_not_validate():
    with pytest.raises(ValueError, match="does not validate"):
        cap.build(sample(status="Rehearsal"))


# --- what is refused, and how it is said -------------------------------------------


def test_a_wrong_namespace_names_the_element_and_line():
    problem = only(THUNDERSTORM.replace(b"cap:1.2", b"cap:1.1"))
    assert (problem.line, problem.element) == (2, "alert")
    assert "urn:oasis:names:tc:emergency:cap:1.1" in problem.message
    assert str(problem).startswith("line 2: <alert> has namespace")


def test_a_missing_required_element_names_what_is_missing():
    problem = only(re.sub(rb"<sender>.*</sender>", b"", THUNDERSTORM))
    assert (problem.line, problem.element) == (5, "sent")
    assert "expected <sender>" in problem.message


def test_a_bad_value_lists_the_values_cap_allows():
    problem = only(THUNDERSTORM.replace(b"<severity>Severe<", b"<severity>Bad<"))
    assert str(problem) == (
        "line 14: <severity> 'Bad' is not one of Extreme, Severe, Moderate, Minor, Unknown."
    )


@pytest.mark.parametrize(
    ("polygon", "said"),
    [
        (b"38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89", "is not closed"),
        (b"38.47,-120.14 38.34,-119.95 38.47,-120.14", "has 3 point(s)"),
        (b"38.47,-120.14 98.34,-119.95 38.52,-119.74 38.47,-120.14", "'98.34,-119.95' is not"),
        (b"38.47;-120.14 38.34,-119.95 38.52,-119.74 38.47;-120.14", 'is not a "lat,lon" pair'),
        (b"38.47,-120.14 nan,1 38.52,-119.74 38.47,-120.14", "'nan,1' is not"),
    ],
)
def test_a_bad_polygon_is_refused_on_its_line(polygon, said):
    original = b"38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14"
    problem = only(THUNDERSTORM.replace(original, polygon))
    assert (problem.line, problem.element) == (28, "polygon")
    assert said in problem.message


@pytest.mark.parametrize("circle", [b"32.9,-115.5", b"32.9 5", b"32.9,-115.5 -1", b"91,0 1"])
def test_a_bad_circle_is_refused(circle):
    data = fixture("oasis_a3_earthquake_update.xml").replace(b"32.9525,-115.5527 0", circle)
    problem = only(data)
    assert (problem.line, problem.element) == (42, "circle")
    assert "radius in km" in problem.message


def test_every_problem_is_reported_not_only_the_first():
    data = THUNDERSTORM.replace(b"KSTO1055887203", b"KSTO 1").replace(
        b"38.62,-119.89 38.47,-120.14<", b"38.62,-119.89<"
    )
    assert [(p.line, p.element) for p in refused(data)] == [(3, "identifier"), (28, "polygon")]


@pytest.mark.parametrize(
    ("data", "element", "said"),
    [
        (THUNDERSTORM.replace(b"</info>", b""), "document", "not well-formed XML"),
        (b"", "document", "is empty"),
        (b"<html><body>Hello</body></html>", "html", "is not a CAP <alert>"),
        (THUNDERSTORM.replace(b"14:57:00-07:00</sent>", b"14:57:00Z</sent>"), "sent", "no 'Z'"),
        (THUNDERSTORM.replace(b"<msgType>Alert", b"<msgType>Update"), "references", "required"),
        (THUNDERSTORM.replace(b"<scope>Public", b"<scope>Restricted"), "restriction", "required"),
        (THUNDERSTORM.replace(b"<scope>Public</scope>", b"<scope>Public</scope><foo/>"), "foo",
         "not expected here"),
        (THUNDERSTORM.replace(b"<urgency>", b"<language>English!</language><urgency>"),
         "language", "not expected here"),
    ],
)  # fmt: skip
def test_it_refuses_what_is_not_cap_with_a_reason(data, element, said):
    problem = only(data)
    assert problem.element == element and said in problem.message, problem


def test_an_entity_bomb_is_refused_without_expanding_anything():
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE alert [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&e;</identifier></alert>"""
    problem = only(bomb)
    assert (problem.line, problem.element) == (2, "document")
    assert "DOCTYPE" in problem.message


def test_an_external_entity_is_never_fetched(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do-not-leak")
    xxe = (b'<?xml version="1.0"?>\n<!DOCTYPE alert [<!ENTITY x SYSTEM "file://'
           + str(secret).encode() + b'">]>\n' + THUNDERSTORM.split(b"?>", 1)[1]
           .replace(b"<identifier>KSTO1055887203", b"<identifier>&x;"))  # fmt: skip
    problems = refused(xxe)
    assert "DOCTYPE" in problems[0].message
    assert "do-not-leak" not in " ".join(map(str, problems))


def test_a_document_too_large_is_refused_before_it_is_parsed():
    padding = b"<!--" + b"x" * cap.MAX_BYTES + b"-->"
    problem = only(THUNDERSTORM.replace(b"<scope>", padding + b"<scope>"))
    assert problem.element == "document" and "larger than 1024 KiB" in problem.message


def test_errors_are_keyed_by_element_for_json():
    data = THUNDERSTORM.replace(b"KSTO1055887203", b"a b").replace(b"KSTO@NWS", b"a,b")
    with pytest.raises(cap.CapError) as caught:
        cap.parse(data)
    assert caught.value.errors == {
        "identifier": "line 3: <identifier> 'a b' must not be empty or hold spaces, commas, "
        "'<' or '&'.",
        "sender": "line 4: <sender> 'a,b.NOAA.GOV' must not be empty or hold spaces, commas, "
        "'<' or '&'.",
    }


# --- places and words ---------------------------------------------------------------


def test_a_polygon_is_placed_at_its_centroid_covering_every_vertex():
    square = [(51.0, -2.0), (51.0, -1.0), (52.0, -1.0), (52.0, -2.0), (51.0, -2.0)]
    disc = geo.polygon_disc(square)
    assert (disc.lat, disc.lon) == pytest.approx((51.5, -1.5))
    corners = [geo.distance_m(disc.lat, disc.lon, lat, lon) for lat, lon in square]
    assert disc.radius_m == pytest.approx(max(corners)) and 55_000 < disc.radius_m < 70_000


def test_several_shapes_are_covered_by_one_disc():
    a, b = geo.Disc(51.45, -2.60, 1000), geo.Disc(51.47, -2.55, 500)
    both = geo.cover([a, b])
    for d in (a, b):
        assert geo.distance_m(both.lat, both.lon, d.lat, d.lon) + d.radius_m <= both.radius_m + 1e-6
    assert geo.cover([a]) == a


@pytest.mark.parametrize("kind", sorted(KIND_CATEGORIES))
def test_every_kind_maps_to_cap_and_back(kind):
    assert kind_for(KIND_CATEGORIES[kind], KIND_EVENTS[kind]) == kind


def test_cap_categories_map_to_our_kinds():
    assert kind_for(["Met"], "SEVERE THUNDERSTORM") == "storm"
    assert kind_for(["Met"], "Flood Warning") == "flood"
    assert kind_for(["Rescue"], "Child Abduction") == "other"
    assert kind_for(["Security"], "Homeland Security Advisory System Update") == "other"
    assert kind_for(["Safety", "CBRNE"], "Gas leak") == "chemical"
