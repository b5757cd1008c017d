"""CapAlert -> CAP 1.2 XML, in the schema's element order, checked against the
schema before it is handed out (a document we write is one we would accept)."""

from __future__ import annotations

from lxml import etree

from coordinator.cap import validate
from coordinator.cap.model import NAMESPACE, Area, CapAlert, Info, format_time


def build(alert: CapAlert) -> bytes:
    """The document as UTF-8 bytes with an XML declaration; ValueError if it would
    not validate (a bug of ours, never a user's input)."""
    root = etree.Element(_tag("alert"), nsmap={None: NAMESPACE})
    _add(root, "identifier", alert.identifier)
    _add(root, "sender", alert.sender)
    _add(root, "sent", format_time(alert.sent))
    _add(root, "status", alert.status)
    _add(root, "msgType", alert.msg_type)
    _add(root, "source", alert.source)
    _add(root, "scope", alert.scope)
    _add(root, "restriction", alert.restriction)
    _add(root, "addresses", alert.addresses)
    _add(root, "note", alert.note)
    _add(root, "references", " ".join(map(str, alert.references)))
    for info in alert.infos:
        _info(etree.SubElement(root, _tag("info")), info)
    tree = root.getroottree()
    if not validate.schema().validate(tree):
        raise ValueError(f"built CAP does not validate: {validate.schema().error_log}")
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _info(el: etree._Element, info: Info) -> None:
    _add(el, "language", info.language)
    for category in info.categories:
        _add(el, "category", category)
    _add(el, "event", info.event)
    for response in info.response_types:
        _add(el, "responseType", response)
    _add(el, "urgency", info.urgency)
    _add(el, "severity", info.severity)
    _add(el, "certainty", info.certainty)
    _add(el, "senderName", info.sender_name)
    _add(el, "headline", info.headline)
    _add(el, "description", info.description)
    _add(el, "instruction", info.instruction)
    for area in info.areas:
        _area(etree.SubElement(el, _tag("area")), area)


def _area(el: etree._Element, area: Area) -> None:
    _add(el, "areaDesc", area.description, required=True)
    for polygon in area.polygons:
        _add(el, "polygon", " ".join(f"{_num(lat)},{_num(lon)}" for lat, lon in polygon))
    for circle in area.circles:
        _add(el, "circle", f"{_num(circle.lat)},{_num(circle.lon)} {_num(circle.radius_km, 3)}")
    for geocode in area.geocodes:
        code = etree.SubElement(el, _tag("geocode"))
        _add(code, "valueName", geocode.value_name, required=True)
        _add(code, "value", geocode.value, required=True)


def _add(parent: etree._Element, name: str, text: str, *, required: bool = False) -> None:
    """An element with text; an optional one with none is left out."""
    if text or required:
        etree.SubElement(parent, _tag(name)).text = text


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _num(value: float, places: int = 6) -> str:
    """Fixed decimals without trailing zeros: 51.4545, not 51.454500 or 5.1e1."""
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
