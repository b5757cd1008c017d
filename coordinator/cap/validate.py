"""Reading a CAP document safely and checking it against the OASIS CAP 1.2 schema.

The XML parser expands no entity, loads no DTD and never touches the network;
a document that declares a DOCTYPE is refused outright (CAP has none, and it is
how entity bombs and external entities arrive). lxml's schema errors are turned
into sentences that name the line and the element, e.g.
"line 12: <severity> 'Bad' is not one of Extreme, Severe, Moderate, Minor, Unknown".
The schema is vendored beside this module (schema/VERSIONS, fetch_schema.sh).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from lxml import etree

from coordinator.cap.errors import CapError, Problem
from coordinator.cap.model import NAMESPACE

XSD = Path(__file__).resolve().parent / "schema" / "CAP-v1.2.xsd"
MAX_BYTES = 1024 * 1024  # a CAP message is a few KiB; resources travel by URI
MAX_PROBLEMS = 20  # reported; lxml stops at far fewer in practice
CLARK = re.compile(r"\{([^}]*)\}")
TIME_HINT = "not a CAP time: write YYYY-MM-DDThh:mm:ss+hh:mm (no 'Z': UTC is -00:00)"


@cache
def schema() -> etree.XMLSchema:
    # The schema's one import-like part is an xs:any of the xmldsig namespace with
    # processContents="lax": nothing is fetched to build or use it.
    return etree.XMLSchema(etree.parse(str(XSD), _parser()))


def _parser(encoding: str | None = None) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        encoding=encoding,
    )


def read(data: bytes, *, encoding: str | None = None) -> etree._ElementTree:
    """The parsed document, valid against the schema; CapError otherwise.

    `encoding` overrides the declared one (text stored as UTF-8 and read again).
    """
    if len(data) > MAX_BYTES:
        raise CapError.one(None, "document", f"is larger than {MAX_BYTES // 1024} KiB.")
    if not data.strip():
        raise CapError.one(None, "document", "is empty: send a CAP 1.2 <alert>.")
    try:
        root = etree.fromstring(data, _parser(encoding))
    except etree.XMLSyntaxError as exc:
        if b"<!DOCTYPE" in data:  # libxml2 may stop an entity bomb before we can look
            raise _doctype(data) from None
        line = exc.lineno or None
        raise CapError.one(line, "document", f"is not well-formed XML: {_syntax(exc)}.") from None
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise _doctype(data)
    _check_root(root)
    validator = schema()
    if not validator.validate(tree):
        raise CapError([_readable(e) for e in list(validator.error_log)[:MAX_PROBLEMS]])
    return tree


def decoded(data: bytes, tree: etree._ElementTree) -> str:
    """The document's own text, as sent (for the record kept of it)."""
    try:
        return data.decode(tree.docinfo.encoding or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return etree.tostring(tree, encoding="unicode")


def _doctype(data: bytes) -> CapError:
    return CapError.one(
        _line_of(data, b"<!DOCTYPE"), "document",
        "declares a DOCTYPE: a CAP document has none (entities are neither expanded nor fetched).",
    )  # fmt: skip


def _check_root(root: etree._Element) -> None:
    name = etree.QName(root)
    if name.namespace == NAMESPACE and name.localname == "alert":
        return
    if name.localname != "alert":
        where = f" in namespace {name.namespace}" if name.namespace else ""
        found = f"<{name.localname}>{where}"
        raise CapError.one(root.sourceline, name.localname, f"is not a CAP <alert>: found {found}.")
    said = f"namespace {name.namespace}" if name.namespace else "no namespace"
    raise CapError.one(
        root.sourceline, "alert",
        f"has {said}: CAP 1.2 is xmlns=\"{NAMESPACE}\" (other CAP versions are not read).",
    )  # fmt: skip


def _syntax(exc: etree.XMLSyntaxError) -> str:
    message = str(exc.msg or exc).strip()
    return re.sub(r", line \d+, column \d+$", "", message).rstrip(".")


def _line_of(data: bytes, needle: bytes) -> int | None:
    at = data.find(needle)
    return data.count(b"\n", 0, at) + 1 if at >= 0 else None


# lxml's schema messages, and how we say them: (pattern, replacement).
READABLE = [
    (re.compile(r"^\[facet 'enumeration'\] The value '(.*)' is not an element of the set "
                r"\{(.*)\}\.$"),
     lambda m: f"{m[1]!r} is not one of {_values(m[2])}."),
    (re.compile(r"^\[facet 'pattern'\] The value '(.*)' is not accepted by the pattern '.*'\.$"),
     lambda m: f"{m[1]!r} is {TIME_HINT}."),
    (re.compile(r"^'(.*)' is not a valid value of the atomic type 'xs:(\w+)'\.$"),
     lambda m: f"{m[1]!r} is not a valid {_TYPES.get(m[2], m[2])}."),
    (re.compile(r"^This element is not expected\. Expected is one of \( (.*) \)\.$"),
     lambda m: f"is not expected here: expected one of {_names(m[1])} (missing or out of order)."),
    (re.compile(r"^This element is not expected\. Expected is \( (.*) \)\.$"),
     lambda m: f"is not expected here: expected <{_names(m[1])}> (missing or out of order)."),
    (re.compile(r"^This element is not expected\.$"),
     lambda m: "is not expected here (an element CAP 1.2 does not have, or one out of order)."),
    (re.compile(r"^Missing child element\(s\)\. Expected is one of \( (.*) \)\.$"),
     lambda m: f"is missing a required element: expected one of {_names(m[1])}."),
    (re.compile(r"^Missing child element\(s\)\. Expected is \( (.*) \)\.$"),
     lambda m: f"is missing the required element <{_names(m[1])}>."),
    (re.compile(r"^Element content is not allowed, because the content type is a simple "
                r"type definition\.$"),
     lambda m: "holds elements where CAP expects text."),
]  # fmt: skip
_TYPES = {
    "language": "language tag (e.g. en-GB)",
    "decimal": "decimal number",
    "integer": "whole number",
    "anyURI": "URI",
    "dateTime": f"time ({TIME_HINT})",
}
ELEMENT = re.compile(r"^Element '([^']*)'(?:, attribute '[^']*')?: (.*)$", re.DOTALL)


def _readable(entry: etree._LogEntry) -> Problem:
    message = entry.message.strip()
    match = ELEMENT.match(message)
    element, detail = (match[1], match[2]) if match else ("document", message)
    element = _short(element)
    for pattern, say in READABLE:
        found = pattern.match(detail)
        if found:
            return Problem(entry.line or None, element, say(found))
    return Problem(entry.line or None, element, _short(detail))


def _values(listed: str) -> str:
    """ "'Extreme', 'Severe'" -> "Extreme, Severe"."""
    return ", ".join(v.strip().strip("'") for v in listed.split(","))


def _names(listed: str) -> str:
    """ "{ns}source, {ns}scope" -> "<source>, <scope>"; the CAP namespace is left out."""
    names = [_short(n.strip()) for n in listed.split(",")]
    shown = [f"<{n}>" if not n.endswith("}*") else "an XML signature" for n in names]
    return ", ".join(shown) if len(names) > 1 else names[0]


def _short(text: str) -> str:
    """CAP's own elements by their bare names; another namespace stays as {uri}name."""
    return CLARK.sub(lambda m: "" if m[1] == NAMESPACE else m[0], text)
