"""The incident map: where the incident is, where its responders are and what they answered.

The map is rendered into the console page itself (not an iframe) so that the page's Socket.IO
client can recolour markers as answers arrive. Every script and stylesheet it references is one
of our vendored files under maps/static/vendor/: the console must work with no internet access.
"""

import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import folium
from branca.element import Element, Figure, MacroElement
from folium.template import Template
from folium.utilities import camelize

ANSWER_COLOURS: dict[str | None, str] = {
    None: "#6b7280",
    "acknowledged": "#2563eb",
    "en_route": "#f59e0b",
    "on_scene": "#16a34a",
    "unavailable": "#dc2626",
}
ANSWER_LABELS: dict[str | None, str] = {
    None: "No answer",
    "acknowledged": "Acknowledged",
    "en_route": "En route",
    "on_scene": "On scene",
    "unavailable": "Unavailable",
}

INCIDENT_COLOUR = "#111827"
RESPONDER_STYLE: dict[str, Any] = {"radius": 8, "weight": 2, "fill": True, "fill_opacity": 0.85}
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class MapIncident:
    id: int
    title: str
    lat: float
    lon: float
    radius_m: float | None = None


@dataclass(frozen=True)
class MapResponder:
    id: int
    name: str
    agency: str
    lat: float | None
    lon: float | None
    answer: str | None = None


@dataclass(frozen=True)
class RenderedMap:
    """Parts of a map for our own page.

    `header` goes in <head> (our vendored Leaflet CSS and JS, the map's scoped style), `html` where
    the map should appear (its parent must have a height), `script` is plain JavaScript to put in a
    <script> element after `html` and after the script that creates window.tocsinSocket.
    """

    header: str
    html: str
    script: str


def build_incident_map(
    incident: MapIncident,
    responders: Iterable[MapResponder],
    *,
    static_url: str = "/static/maps",
    tile_url: str | None = None,
    tile_attribution: str = "",
) -> RenderedMap:
    """Render the map of one incident.

    A tile_url needs a tile_attribution (folium raises ValueError): tile providers require it.
    """
    people = list(responders)
    m = _EmbeddedMap(location=(incident.lat, incident.lon), tiles=None, zoom_start=15)
    vendor = static_url.rstrip("/") + "/vendor/leaflet"
    # Instance attributes: the class-level lists name CDNs and are shared by every folium map.
    m.default_js = [("leaflet", f"{vendor}/leaflet.js")]
    m.default_css = [("leaflet_css", f"{vendor}/leaflet.css")]
    if tile_url:
        folium.TileLayer(tile_url, attr=tile_attribution, name="Base map").add_to(m)

    incident_marker = _add_incident(m, incident)
    groups = _add_agency_groups(m, people)
    markers = {}
    for r in people:
        if (position := _position(r)) is not None:
            markers[r.id] = _add_responder(groups[r.agency], r, position)
    if groups:
        folium.LayerControl(collapsed=False).add_to(m)
    _Legend().add_to(m)
    _LiveResponses(incident, incident_marker, people, groups, markers).add_to(m)
    m.fit_bounds(_bounds(incident, people), padding=(24, 24), max_zoom=16)
    return _render(m)


class _EmbeddedMap(folium.Map):
    """A folium Map whose header styles only its own div.

    folium's header is written for a page of its own: it sets html/body to 100% with no margin,
    styles any #map and forbids zooming the page. Inside the console that would restyle the page.
    The min-height keeps the map visible when the page gives its parent no height.
    """

    _scoped_header = Template(
        """
        {% macro header(this, kwargs) %}
            <style>
                #{{ this.get_name() }} {
                    position: relative;
                    width: {{ this.width[0] }}{{ this.width[1] }};
                    height: {{ this.height[0] }}{{ this.height[1] }};
                    min-height: 320px;
                    background: #e5e7eb;
                }
            </style>
        {% endmacro %}
        """
    )

    # branca annotates Element.render as returning str; MacroElement.render returns None.
    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        super().render(**kwargs)
        header = self._scoped_header.module.header(self, kwargs)  # type: ignore[attr-defined]
        figure = _figure(self)
        # add_child under an existing name replaces that child in place.
        figure.header.add_child(Element(header), name=self.get_name())
        # The page already declares its charset; a second declaration is invalid HTML.
        figure.header.add_child(Element(""), name="meta_http")


def _add_incident(m: folium.Map, incident: MapIncident) -> folium.CircleMarker:
    location = (incident.lat, incident.lon)
    if incident.radius_m:
        folium.Circle(
            location,
            radius=incident.radius_m,
            color=INCIDENT_COLOUR,
            weight=2,
            dash_array="6 4",
            fill=True,
            fill_opacity=0.06,
        ).add_to(m)
    # White fill and a thick dark ring: unlike any answer colour, so it never reads as a responder.
    marker = folium.CircleMarker(
        location,
        radius=11,
        color=INCIDENT_COLOUR,
        weight=4,
        fill=True,
        fill_color="#ffffff",
        fill_opacity=1.0,
    )
    marker.add_to(m)
    return marker


def _add_agency_groups(
    m: folium.Map, responders: Sequence[MapResponder]
) -> dict[str, folium.FeatureGroup]:
    # Every agency gets a layer, even one with nobody placed yet: a live answer may bring a
    # position, and the new marker needs a layer to join.
    groups: dict[str, folium.FeatureGroup] = {}
    for agency in sorted({r.agency for r in responders}):
        # Leaflet's layer control inserts names as HTML; agency names are data, not markup.
        groups[agency] = folium.FeatureGroup(name=html.escape(agency))
        groups[agency].add_to(m)
    return groups


def _position(responder: MapResponder) -> tuple[float, float] | None:
    if responder.lat is None or responder.lon is None:
        return None
    return (responder.lat, responder.lon)


def _add_responder(
    group: folium.FeatureGroup, responder: MapResponder, position: tuple[float, float]
) -> folium.CircleMarker:
    colour = _colour(responder.answer)
    marker = folium.CircleMarker(position, color=colour, fill_color=colour, **RESPONDER_STYLE)
    marker.add_to(group)
    return marker


def _colour(answer: str | None) -> str:
    # An answer kind this module does not know yet is drawn as "no answer" rather than failing
    # the whole console page; its label still shows the raw answer.
    return ANSWER_COLOURS.get(answer, ANSWER_COLOURS[None])


def _bounds(incident: MapIncident, responders: Sequence[MapResponder]) -> list[tuple[float, float]]:
    """South-west and north-east corners around the incident area and every placed responder."""
    radius = incident.radius_m or 0.0
    dlat = radius / METRES_PER_DEGREE
    dlon = radius / (METRES_PER_DEGREE * max(math.cos(math.radians(incident.lat)), 0.01))
    lats = [incident.lat - dlat, incident.lat + dlat]
    lons = [incident.lon - dlon, incident.lon + dlon]
    for position in filter(None, map(_position, responders)):
        lats.append(position[0])
        lons.append(position[1])
    return [(min(lats), min(lons)), (max(lats), max(lons))]


def _js_json(value: object) -> str:
    """JSON that is safe inside an inline <script>: no "</script>" or "<!--" can come through."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class _Legend(MacroElement):
    """A Leaflet control listing the answer colours."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function () {
                var legend = L.control({position: "bottomright"});
                legend.onAdd = function () {
                    var div = L.DomUtil.create("div", "tocsin-legend");
                    div.innerHTML = {{ this.legend_html }};
                    return div;
                };
                legend.addTo({{ this._parent.get_name() }});
            })();
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "Legend"
        rows = "".join(
            f'<div><span style="display:inline-block;width:10px;height:10px;border-radius:50%;'
            f'margin-right:6px;background:{ANSWER_COLOURS[answer]}"></span>'
            f"{html.escape(label)}</div>"
            for answer, label in ANSWER_LABELS.items()
        )
        self.legend_html = _js_json(
            '<div style="background:#fff;padding:6px 8px;border-radius:4px;'
            'box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px/1.5 sans-serif">'
            f"<strong>Answers</strong>{rows}</div>"
        )


class _LiveResponses(MacroElement):
    """Labels the markers and applies Socket.IO "response" events to them.

    The page owns the Socket.IO client: it creates window.tocsinSocket and joins the incident's
    room. Without it the map is static. Labels are built with text nodes, never innerHTML,
    because names come from data. Exposes window.tocsinMarkers (responder id -> Leaflet marker)
    and window.tocsinApplyResponse(payload) for the page and for tests.
    """

    _template = Template(
        """
    {% macro script(this, kwargs) %}
    (function () {
        var incidentId = {{ this.incident_id }};
        var colours = {{ this.colours }};
        var answerLabels = {{ this.labels }};
        var people = {{ this.people }};
        var markerStyle = {{ this.style }};
        var groups = {
            {%- for agency, group in this.groups.items() %}
            {{ agency|tojson }}: {{ group.get_name() }},
            {%- endfor %}
        };
        var markers = {
            {%- for id, marker in this.markers.items() %}
            {{ id|tojson }}: {{ marker.get_name() }},
            {%- endfor %}
        };

        function textBox(lines) {
            var box = document.createElement("div");
            lines.forEach(function (line, i) {
                if (i) box.appendChild(document.createElement("br"));
                box.appendChild(document.createTextNode(line));
            });
            return box;
        }
        function label(person) {
            var answer = answerLabels[person.answer] || String(person.answer);
            return textBox([person.name + " (" + person.agency + ")", answer]);
        }
        function colour(answer) {
            return colours[answer] || colours["null"];
        }
        function coordinate(value) {
            return value === null || value === undefined || value === "" ? NaN : Number(value);
        }

        {{ this.incident_marker.get_name() }}.bindTooltip(textBox({{ this.incident_lines }}));
        Object.keys(markers).forEach(function (id) {
            markers[id].bindTooltip(label(people[id]));
        });

        function applyResponse(payload) {
            if (!payload) return false;
            // Ignore another incident's answers should the page's socket be in several rooms.
            var incident = payload.incident_id;
            if (incident != null && String(incident) !== String(incidentId)) return false;
            var id = String(payload.responder_id);
            var person = people[id];
            if (!person) return false;
            person.answer = payload.answer == null ? null : payload.answer;
            var lat = coordinate(payload.lat), lon = coordinate(payload.lon);
            var placed = isFinite(lat) && isFinite(lon);
            var marker = markers[id];
            if (!marker) {
                if (!placed) return false;
                // First position for someone who had none: draw them now.
                marker = L.circleMarker([lat, lon], markerStyle).addTo(groups[person.agency]);
                marker.bindTooltip(label(person));
                markers[id] = marker;
            } else if (placed) {
                marker.setLatLng([lat, lon]);
            }
            marker.setStyle({color: colour(person.answer), fillColor: colour(person.answer)});
            marker.setTooltipContent(label(person));
            return true;
        }

        window.tocsinMarkers = markers;
        window.tocsinApplyResponse = applyResponse;

        function attach() {
            var socket = window.tocsinSocket;
            if (socket && typeof socket.on === "function") socket.on("response", applyResponse);
        }
        // The page may create its socket in a later script: wait for the DOM to be parsed.
        if (window.tocsinSocket || document.readyState !== "loading") attach();
        else document.addEventListener("DOMContentLoaded", attach);
    })();
    {% endmacro %}
        """
    )

    def __init__(
        self,
        incident: MapIncident,
        incident_marker: folium.CircleMarker,
        responders: Sequence[MapResponder],
        groups: dict[str, folium.FeatureGroup],
        markers: dict[int, folium.CircleMarker],
    ) -> None:
        super().__init__()
        self._name = "LiveResponses"
        # json.dumps turns the None key into "null", which is also what a JS object lookup with a
        # null answer reads: Python and JS share one table.
        self.colours = _js_json(ANSWER_COLOURS)
        self.labels = _js_json(ANSWER_LABELS)
        self.style = _js_json({camelize(k): v for k, v in RESPONDER_STYLE.items()})
        self.incident_id = _js_json(incident.id)
        self.incident_lines = _js_json([incident.title])
        self.people = _js_json(
            {r.id: {"name": r.name, "agency": r.agency, "answer": r.answer} for r in responders}
        )
        self.incident_marker = incident_marker
        self.groups = groups
        self.markers = markers


def _figure(m: folium.Map) -> Figure:
    figure = m.get_root()
    assert isinstance(figure, Figure), "folium.Map always creates its Figure"
    return figure


def _render(m: folium.Map) -> RenderedMap:
    figure = _figure(m)
    # Rendering the whole figure is what fills its header, html and script parts.
    figure.render()
    return RenderedMap(
        header=figure.header.render(), html=figure.html.render(), script=figure.script.render()
    )
