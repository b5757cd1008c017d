"""CAP 1.2 documents for the tests: the OASIS examples in tests/fixtures/cap/ and
documents written here for the demo city, imported as the console, API and CLI do."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from sqlalchemy import func, select

from coordinator import cap
from coordinator.models import Alert, CapMessage, Incident, Notification, Outbox
from coordinator.services import cap_import

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cap"
COUNTED = (Incident, Alert, Notification, Outbox, CapMessage)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def rows(tocsin) -> dict[str, int]:
    """What an import may create, counted."""
    tocsin.db.remove()
    session = tocsin.db.session
    counted = {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in COUNTED}
    tocsin.db.remove()
    return counted


def import_cap(tocsin, data: bytes, actor: str = "test:cap", **options) -> cap_import.Imported:
    """Parse and import as the views do; raises CapError when refused."""
    document = cap.read_document(data)
    options.setdefault("language", tocsin.settings.cap_language)
    with tocsin.db.write() as session:
        done = cap_import.import_document(
            session, document, actor=actor, links=tocsin.links, **options
        )
        session.flush()
    tocsin.db.remove()
    return done


def document(
    *,
    identifier: str = "MET-2026-0001",
    sender: str = "warnings@met.example.org",
    sent: str = "2026-03-01T10:00:00+00:00",
    status: str = "Actual",
    msg_type: str = "Alert",
    references: str = "",
    event: str = "Severe Thunderstorm",
    category: str = "Met",
    severity: str = "Severe",
    headline: str = "Severe thunderstorm over the harbour",
    description: str = "Hail and damaging winds expected within the hour.",
    instruction: str = "Keep away from the waterfront.",
    area: str = "<areaDesc>Harbourside</areaDesc><circle>51.4484,-2.6006 1.2</circle>",
    infos: str | None = None,
) -> bytes:
    """A CAP 1.2 Alert (or Update, Cancel) for the demo city; `area` and `infos` are XML."""
    refs = f"<references>{escape(references)}</references>" if references else ""
    info = (
        infos
        if infos is not None
        else f"""
  <info>
    <language>en-GB</language>
    <category>{category}</category>
    <event>{escape(event)}</event>
    <urgency>Immediate</urgency>
    <severity>{severity}</severity>
    <certainty>Observed</certainty>
    <headline>{escape(headline)}</headline>
    <description>{escape(description)}</description>
    <instruction>{escape(instruction)}</instruction>
    <area>{area}</area>
  </info>"""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>{sender}</sender>
  <sent>{sent}</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {refs}{info}
</alert>
""".encode()


def reference_to(data: bytes) -> str:
    """How a later message names this one."""
    return str(cap.parse(data).reference)
