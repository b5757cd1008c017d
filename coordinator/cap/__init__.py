"""CAP 1.2 (OASIS Common Alerting Protocol) in and out, knowing nothing of Flask or
the database: parse and check a document (parse.py, validate.py), build one
(build.py), place an area (geo.py), map Tocsin's words to CAP's (mapping.py).

The official schema is vendored in schema/ (pinned by sha256 in schema/VERSIONS;
fetch_schema.sh reproduces it, `--check` verifies it without network).
"""

from coordinator.cap.build import build
from coordinator.cap.errors import CapError, Problem
from coordinator.cap.model import (
    NAMESPACE,
    Area,
    CapAlert,
    Circle,
    Geocode,
    Info,
    Reference,
    format_time,
)
from coordinator.cap.parse import Document, parse, parse_stored, read_document
from coordinator.cap.validate import MAX_BYTES

__all__ = [
    "MAX_BYTES",
    "NAMESPACE",
    "Area",
    "CapAlert",
    "CapError",
    "Circle",
    "Document",
    "Geocode",
    "Info",
    "Problem",
    "Reference",
    "build",
    "format_time",
    "parse",
    "parse_stored",
    "read_document",
]
