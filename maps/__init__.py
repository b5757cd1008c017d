"""Folium maps for the console, drawn only with browser assets that Tocsin serves itself.

The web app serves STATIC_DIR at a prefix of its choosing (by default "/static/maps") and passes
that prefix to the builders as `static_url`. Nothing here imports Flask or the database.
"""

from pathlib import Path

from maps.incident_map import (
    ANSWER_COLOURS,
    ANSWER_LABELS,
    MapIncident,
    MapResponder,
    RenderedMap,
    build_incident_map,
)

STATIC_DIR: Path = Path(__file__).resolve().parent / "static"

# The page, not the map, creates the Socket.IO client (window.tocsinSocket); it loads this file,
# relative to the static prefix, before the map's script.
SOCKETIO_JS = "vendor/socketio/socket.io.min.js"

__all__ = [
    "ANSWER_COLOURS",
    "ANSWER_LABELS",
    "SOCKETIO_JS",
    "STATIC_DIR",
    "MapIncident",
    "MapResponder",
    "RenderedMap",
    "build_incident_map",
]
