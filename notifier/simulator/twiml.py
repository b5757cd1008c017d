"""Read the TwiML a hub returns for a call into a flat list of verbs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

# Verbs the simulated phone plays; the rest are recorded and skipped.
PLAYED = ("Say", "Play", "Pause", "Gather", "Redirect", "Hangup", "Reject")
# Twilio's code for TwiML it cannot read; the caller hears "an application error
# has occurred" and the call ends.
PARSE_FAILURE = 12100


class TwimlError(ValueError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Verb:
    name: str
    attrs: dict[str, str]
    text: str = ""
    children: tuple[Verb, ...] = field(default=())

    def attr(self, name: str, default: str = "") -> str:
        return self.attrs.get(name, default).strip() or default


def parse(document: str) -> list[Verb]:
    """The verbs of a <Response> document, in order; TwimlError if it is not one."""
    try:
        root = ET.fromstring(document.strip())
    except ET.ParseError as exc:
        raise TwimlError(PARSE_FAILURE, f"Document parse failure: {exc}") from None
    if _name(root) != "Response":
        raise TwimlError(PARSE_FAILURE, f"root element is <{_name(root)}>, not <Response>")
    return [_verb(element) for element in root]


def _verb(element: ET.Element) -> Verb:
    children = tuple(_verb(child) for child in element)
    return Verb(_name(element), dict(element.attrib), (element.text or "").strip(), children)


def _name(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]  # TwiML has no namespace, but tolerate one
