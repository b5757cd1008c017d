"""CAP 1.2 text -> CapAlert: schema-valid first (validate.py), then the rules the
schema cannot say, each refused with its line and element:

- identifier and sender hold no spaces, commas, "<" or "&";
- sent (and every time) is a real time with its zone;
- references are "sender,identifier,sent" triples; Update, Cancel, Ack and Error have some;
- scope Restricted has a <restriction>, Private has <addresses>;
- an info's event is not empty;
- a polygon is at least 4 "lat,lon" pairs, the first equal to the last, each in range;
- a circle is "lat,lon radius" with the radius in km, not negative;
- a ceiling comes with an altitude.

Every problem found is reported, not only the first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lxml import etree

from coordinator.cap import validate
from coordinator.cap.errors import CapError, Problem
from coordinator.cap.model import (
    DEFAULT_LANGUAGE,
    NAME_CHARS,
    NAMESPACE,
    Area,
    CapAlert,
    Circle,
    Geocode,
    Info,
    Reference,
    parse_time,
)

NS = {"cap": NAMESPACE}
NEEDS_REFERENCES = ("Update", "Cancel", "Ack", "Error")
EXAMPLE_TIME = "2026-03-01T10:00:00+00:00"


@dataclass(frozen=True)
class Document:
    alert: CapAlert
    text: str  # the document as sent, kept whole


def read_document(data: bytes) -> Document:
    """Parse, validate and check; CapError naming every problem otherwise."""
    tree = validate.read(data)
    return Document(_alert(tree.getroot()), validate.decoded(data, tree))


def parse(data: bytes) -> CapAlert:
    return read_document(data).alert


def parse_stored(text: str) -> CapAlert:
    """A document kept as text (CapMessage.document) read again."""
    return _alert(validate.read(text.encode("utf-8"), encoding="utf-8").getroot())


class _Reader:
    """Collects the problems of one document while it is read."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, el: etree._Element | None, element: str, message: str) -> None:
        self.problems.append(Problem(el.sourceline if el is not None else None, element, message))

    def text(self, parent: etree._Element, name: str) -> str:
        found = parent.find(f"cap:{name}", NS)
        return (found.text or "").strip() if found is not None else ""

    def texts(self, parent: etree._Element, name: str) -> list[tuple[str, etree._Element]]:
        return [((el.text or "").strip(), el) for el in parent.findall(f"cap:{name}", NS)]


def _alert(root: etree._Element) -> CapAlert:
    r = _Reader()
    lines = {
        etree.QName(el).localname: el.sourceline
        for el in root
        if isinstance(el.tag, str) and el.sourceline
    }
    lines["alert"] = root.sourceline
    for name in ("identifier", "sender"):
        value = r.text(root, name)
        if not NAME_CHARS.match(value):
            said = f"{value!r} must not be empty or hold spaces, commas, '<' or '&'."
            r.problem(root.find(f"cap:{name}", NS), name, said)
    sent_el = root.find("cap:sent", NS)
    sent = _time(r, sent_el, "sent")
    alert = CapAlert(
        identifier=r.text(root, "identifier"),
        sender=r.text(root, "sender"),
        sent=sent,  # type: ignore[arg-type]  # None only with a problem noted
        status=r.text(root, "status"),
        msg_type=r.text(root, "msgType"),
        scope=r.text(root, "scope"),
        restriction=r.text(root, "restriction"),
        addresses=r.text(root, "addresses"),
        note=r.text(root, "note"),
        source=r.text(root, "source"),
        references=_references(r, root),
        infos=[_info(r, el) for el in root.findall("cap:info", NS)],
        lines=lines,
    )
    if alert.msg_type in NEEDS_REFERENCES and not alert.references:
        said = f"is required: an {alert.msg_type} names the message(s) it refers to."
        r.problem(root.find("cap:msgType", NS), "references", said)
    if alert.scope == "Restricted" and not alert.restriction:
        r.problem(root.find("cap:scope", NS), "restriction", "is required with scope Restricted.")
    if alert.scope == "Private" and not alert.addresses:
        r.problem(root.find("cap:scope", NS), "addresses", "is required with scope Private.")
    if r.problems:
        raise CapError(r.problems)
    return alert


def _time(r: _Reader, el: etree._Element | None, name: str):  # type: ignore[no-untyped-def]
    raw = (el.text or "").strip() if el is not None else ""
    try:
        return parse_time(raw)
    except ValueError:
        r.problem(el, name, f"{raw!r} is not a time with its zone (e.g. {EXAMPLE_TIME}).")
        return None


def _references(r: _Reader, root: etree._Element) -> list[Reference]:
    el = root.find("cap:references", NS)
    if el is None:
        return []
    found = []
    for token in (el.text or "").split():
        parts = token.split(",")
        if len(parts) != 3 or not all(parts):
            r.problem(el, "references", f"{token!r} is not sender,identifier,sent.")
            continue
        try:
            parse_time(parts[2])
        except ValueError:
            r.problem(el, "references", f"{token!r}: {parts[2]!r} is not a time with its zone.")
            continue
        found.append(Reference(*parts))
    return found


def _info(r: _Reader, el: etree._Element) -> Info:
    event = r.text(el, "event")
    if not event:
        r.problem(el.find("cap:event", NS), "event", "is empty: say what the event is.")
    for name in ("effective", "onset", "expires"):
        if (found := el.find(f"cap:{name}", NS)) is not None:
            _time(r, found, name)
    return Info(
        categories=[text for text, _ in r.texts(el, "category")],
        event=event,
        urgency=r.text(el, "urgency"),
        severity=r.text(el, "severity"),
        certainty=r.text(el, "certainty"),
        language=r.text(el, "language") or DEFAULT_LANGUAGE,
        response_types=[text for text, _ in r.texts(el, "responseType")],
        sender_name=r.text(el, "senderName"),
        headline=r.text(el, "headline"),
        description=r.text(el, "description"),
        instruction=r.text(el, "instruction"),
        areas=[_area(r, a) for a in el.findall("cap:area", NS)],
        line=el.sourceline,
    )


def _area(r: _Reader, el: etree._Element) -> Area:
    area = Area(description=r.text(el, "areaDesc"), line=el.sourceline)
    for text, found in r.texts(el, "polygon"):
        if (polygon := _polygon(r, found, text)) is not None:
            area.polygons.append(polygon)
    for text, found in r.texts(el, "circle"):
        if (circle := _circle(r, found, text)) is not None:
            area.circles.append(circle)
    for geocode in el.findall("cap:geocode", NS):
        area.geocodes.append(
            Geocode(r.text(geocode, "valueName"), r.text(geocode, "value"), geocode.sourceline)
        )
    if el.find("cap:ceiling", NS) is not None and el.find("cap:altitude", NS) is None:
        r.problem(el.find("cap:ceiling", NS), "ceiling", "needs an <altitude> beside it.")
    return area


def _polygon(r: _Reader, el: etree._Element, text: str) -> list[tuple[float, float]] | None:
    tokens = text.split()
    points = [_point(token) for token in tokens]
    bad = [token for token, point in zip(tokens, points, strict=True) if point is None]
    if bad:
        r.problem(el, "polygon", f"{bad[0]!r} is not a \"lat,lon\" pair in range "
                                 "(latitude -90..90, longitude -180..180).")  # fmt: skip
        return None
    good = [p for p in points if p is not None]
    if len(good) < 4:
        r.problem(el, "polygon", f"has {len(good)} point(s): a polygon needs at least 4 "
                                 "\"lat,lon\" pairs, the first repeated last.")  # fmt: skip
        return None
    if good[0] != good[-1]:
        r.problem(el, "polygon", f"is not closed: the first point {tokens[0]} must also be "
                                 f"the last (it ends at {tokens[-1]}).")  # fmt: skip
        return None
    return good


def _circle(r: _Reader, el: etree._Element, text: str) -> Circle | None:
    centre, _, radius = text.partition(" ")
    point = _point(centre)
    try:
        km = float(radius.strip())
    except ValueError:
        km = math.nan
    if point is None or not math.isfinite(km) or km < 0 or " " in radius.strip():
        r.problem(el, "circle", f"{text!r} is not \"lat,lon radius\" (radius in km, 0 or more; "
                                "latitude -90..90, longitude -180..180).")  # fmt: skip
        return None
    return Circle(point[0], point[1], km)


def _point(token: str) -> tuple[float, float] | None:
    lat_text, comma, lon_text = token.partition(",")
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        return None
    if not comma or not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon
