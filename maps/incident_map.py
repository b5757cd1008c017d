"""The incident map: where the incident is, where its responders are and what they answered.

The map is rendered into the console page itself (not an iframe) so that the page's Socket.IO
client can recolour markers as answers arrive. Every script and stylesheet it references is one
of our vendored files under maps/static/vendor/: the console must work with no internet access.

Responders are not folium objects: the page gets one JSON table of people and a short loop draws
them, because thousands of folium markers render slowly into megabytes of near-identical script.
Everyone is in ONE marker cluster group, so that thousands of responders stay readable and a crowd
of several agencies at one spot reads as one set of rings, not one set per agency on top of each
other. Each agency still has its own entry in the layer control: an empty layer whose adding and
removing files that agency's markers into, or takes them out of, the shared group (the approach of
the Leaflet.FeatureGroup.SubGroup plugin, written here in a few lines).
"""

import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import folium
from branca.element import Element, Figure, MacroElement
from folium.plugins import MarkerCluster
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
# Options of the one marker cluster group (folium's MarkerCluster keyword arguments).
CLUSTER_OPTIONS: dict[str, Any] = {"show_coverage_on_hover": False, "max_cluster_radius": 60}
RESPONDER_STYLE: dict[str, Any] = {"radius": 8, "weight": 2, "fill": True, "fill_opacity": 0.85}
METRES_PER_DEGREE = 111_320.0
COORDINATE_DIGITS = 6
INCIDENT_PANE = "tocsinIncident"
MAX_ZOOM = 18


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
    # Clustering needs the map's zoom range, which a map gets from its tiles when it has any.
    m.options["maxZoom"] = MAX_ZOOM
    vendor = static_url.rstrip("/") + "/vendor"
    # Instance attributes: the class-level lists name CDNs and are shared by every folium map.
    m.default_js = [("leaflet", f"{vendor}/leaflet/leaflet.js")]
    m.default_css = [("leaflet_css", f"{vendor}/leaflet/leaflet.css")]
    if tile_url:
        folium.TileLayer(
            tile_url, attr=tile_attribution, name="Base map", max_zoom=MAX_ZOOM
        ).add_to(m)

    incident_marker = _add_incident(m, incident)
    clusters = _add_cluster_group(m, f"{vendor}/markercluster")
    # Every agency gets an entry, even one with nobody placed yet: a live answer may bring a
    # position, and the new marker needs an agency to be shown or hidden with.
    agencies = sorted({r.agency for r in people})
    layer_control = folium.LayerControl(collapsed=False) if agencies else None
    if layer_control:
        layer_control.add_to(m)
    _Legend().add_to(m)
    _LiveResponses(incident, incident_marker, people, clusters, agencies, layer_control).add_to(m)
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
    # Responder clusters are icons in Leaflet's marker pane; a pane above it keeps the incident
    # in sight under a crowd of responders.
    folium.map.CustomPane(INCIDENT_PANE, z_index=650, pointer_events=True).add_to(m)
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
    # folium's path options drop "pane"; Leaflet reads it from the same options object.
    marker.options["pane"] = INCIDENT_PANE
    marker.add_to(m)
    return marker


def _add_cluster_group(m: folium.Map, vendor: str) -> MarkerCluster:
    """The one marker cluster group every responder is drawn into.

    It is not itself in the layer control (the agencies are) and it exists even on a map with
    nobody yet: people an escalation brings in live are filed into it, and it is what brings in
    our vendored markercluster script and styles, once.
    """
    clusters = MarkerCluster(name="Responders", control=False, **CLUSTER_OPTIONS)
    # Instance attributes: the class-level lists name CDNs and are shared by every folium map.
    clusters.default_js = [("markerclusterjs", f"{vendor}/leaflet.markercluster.js")]
    clusters.default_css = [
        ("markerclustercss", f"{vendor}/MarkerCluster.css"),
        ("markerclusterdefaultcss", f"{vendor}/MarkerCluster.Default.css"),
    ]
    clusters.add_to(m)
    return clusters


def _position(responder: MapResponder) -> tuple[float, float] | None:
    if responder.lat is None or responder.lon is None:
        return None
    return (responder.lat, responder.lon)


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
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _people(responders: Sequence[MapResponder]) -> dict[int, dict[str, Any]]:
    """The page's table of responders, keyed by id; the JS draws and updates markers from it.

    Six decimals of a degree are about 10 cm: more digits only make the page bigger.
    """
    return {
        r.id: {
            "name": r.name,
            "agency": r.agency,
            "answer": r.answer,
            "lat": None if r.lat is None else round(r.lat, COORDINATE_DIGITS),
            "lon": None if r.lon is None else round(r.lon, COORDINATE_DIGITS),
        }
        for r in responders
    }


class _Legend(MacroElement):
    """A Leaflet control listing the answer colours and how to read a cluster."""

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
            f"<strong>Answers</strong>{rows}"
            '<div style="margin-top:4px;max-width:11em;color:#374151">'
            "A numbered ring is a group of responders; its colours are their answers.</div></div>"
        )


class _LiveResponses(MacroElement):
    """Draws the responders into the shared cluster group and applies live answers.

    The page owns the Socket.IO client: it creates window.tocsinSocket and joins the incident's
    room. Without it the map is static. Labels are built with text nodes, never innerHTML,
    because names come from data. Exposes window.tocsinMarkers (responder id -> Leaflet circle
    marker), window.tocsinClusters (the one cluster group), window.tocsinAgencyLayers (agency
    name -> its entry in the layer control: an empty layer that is on the map while the agency
    is shown), window.tocsinApplyResponse(payload) and window.tocsinAddResponder(notification)
    for the page and for tests.
    """

    _template = Template(
        """
    {% macro script(this, kwargs) %}
    (function () {
        var map = {{ this._parent.get_name() }};
        var clusters = {{ this.clusters.get_name() }};
        var incidentId = {{ this.incident_id }};
        var colours = {{ this.colours }};
        var answerLabels = {{ this.labels }};
        var people = {{ this.people }};
        var markerStyle = {{ this.style }};
        var markers = {};
        // Keyed by agency names, which are data: without a prototype, "__proto__" or
        // "constructor" is just another name.
        var layers = Object.create(null);   // agency -> its entry in the layer control
        var members = Object.create(null);  // agency -> {responder id: marker}
        var shown = Object.create(null);    // agency -> its markers are in the cluster group

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
        // Leaflet's layer control inserts a layer's name as HTML: an agency's name is escaped.
        function escapeHtml(text) {
            return String(text).replace(/[&<>"']/g, function (c) {
                return "&#" + c.charCodeAt(0) + ";";
            });
        }
        // An answer kind this page does not know is drawn as "no answer" rather than failing;
        // its label still shows the raw answer. A null answer reads the "null" key.
        function known(answer) {
            return Object.prototype.hasOwnProperty.call(colours, answer) ? String(answer) : "null";
        }
        function paint(answer) {
            var colour = colours[known(answer)];
            return {color: colour, fillColor: colour};
        }
        function coordinate(value) {
            return value === null || value === undefined || value === "" ? NaN : Number(value);
        }
        // Tooltips are built when shown, from the person's current answer: none is built for
        // thousands of markers nobody hovers.
        function tooltipOf(id) {
            return function () { return label(people[id]); };
        }
        function newMarker(id, latlng) {
            var options = Object.assign({responderId: id}, markerStyle, paint(people[id].answer));
            var marker = L.circleMarker(latlng, options);
            marker.bindTooltip(tooltipOf(id));
            return marker;
        }

        // A cluster is a ring split by its members' answers around their number, so a
        // commander sees "mostly on scene" without zooming in. Its members may be of several
        // agencies: one set of rings for the whole crowd.
        function clusterIcon(cluster) {
            var all = cluster.getAllChildMarkers();
            var counts = {};
            all.forEach(function (marker) {
                var answer = known(people[marker.options.responderId].answer);
                counts[answer] = (counts[answer] || 0) + 1;
            });
            var stops = [], parts = [], start = 0;
            Object.keys(colours).forEach(function (answer) {
                if (!counts[answer]) return;
                var end = start + 100 * counts[answer] / all.length;
                stops.push(colours[answer] + " " + start + "% " + end + "%");
                parts.push(counts[answer] + " " + answerLabels[answer].toLowerCase());
                start = end;
            });
            var size = all.length < 10 ? 34 : all.length < 100 ? 40 : 46;
            var ring = document.createElement("div");
            ring.className = "tocsin-cluster";
            ring.style.cssText = "width:100%;height:100%;margin:0;border-radius:50%;" +
                "display:flex;align-items:center;justify-content:center;" +
                "box-shadow:0 0 0 1px #fff,0 1px 3px rgba(0,0,0,.4)";
            ring.style.background = "conic-gradient(" + stops.join(",") + ")";
            ring.title = all.length + " responders: " + parts.join(", ");
            var count = document.createElement("span");
            count.style.cssText = "width:60%;height:60%;border-radius:50%;" +
                "background:#fff;color:#111827;font:bold 12px/1 sans-serif;" +
                "display:flex;align-items:center;justify-content:center";
            count.textContent = String(all.length);
            ring.appendChild(count);
            return L.divIcon({
                html: ring, className: "marker-cluster", iconSize: L.point(size, size)
            });
        }
        clusters.options.iconCreateFunction = clusterIcon;

        function membersOf(agency) {
            return Object.keys(members[agency]).map(function (id) { return members[agency][id]; });
        }
        // Showing an agency files all its markers into the shared group in one addLayers, at
        // their current place and colour; hiding takes them out in one removeLayers.
        function showAgency(agency, on) {
            if (shown[agency] === on) return;
            shown[agency] = on;
            var list = membersOf(agency);
            if (on) {
                clusters.addLayers(list);
                return;
            }
            clusters.removeLayers(list);
            // markercluster 1.5.3's removeLayers, unlike its removeLayer, leaves the group
            // listening to each marker's "move": a hidden marker that moves would file itself
            // back in. Stop listening; addLayers listens again when the agency is shown.
            list.forEach(function (marker) {
                marker.off(clusters._childMarkerEventHandlers, clusters);
            });
        }

        // An agency's entry in the layer control holds no layers of its own: ticking it (adding
        // it to the map) shows the agency's markers in the shared group, unticking hides them.
        var layerControl = {{ this.layer_control }};
        function agencyLayer(agency) {
            if (agency in layers) return layers[agency];
            var layer = L.layerGroup();
            layer.onAdd = function () { showAgency(agency, true); };
            layer.onRemove = function () { showAgency(agency, false); };
            layers[agency] = layer;
            members[agency] = {};
            shown[agency] = true;
            layer.addTo(map);
            // An agency brought in live (an escalation step) is listed like the others; the
            // control is made when the first one is, should the page have had nobody.
            if (!layerControl) {
                layerControl = L.control.layers(null, null, {collapsed: false}).addTo(map);
            }
            layerControl.addOverlay(layer, escapeHtml(agency));
            return layer;
        }
        // A marker for someone's first position: filed in the group if their agency is shown.
        function place(id, latlng) {
            var agency = people[id].agency;
            agencyLayer(agency);
            var marker = markers[id] = newMarker(id, latlng);
            members[agency][id] = marker;
            if (shown[agency]) clusters.addLayer(marker);
        }

        {{ this.incident_marker.get_name() }}.bindTooltip(textBox({{ this.incident_lines }}));
        // The view is set before any responder is drawn and without animation, so the group
        // clusters once, at the zoom the page opens with.
        map.fitBounds({{ this.bounds }}, {{ this.fit_options }});
        {{ this.agencies }}.forEach(function (agency) { agencyLayer(agency); });
        var drawn = [];
        Object.keys(people).forEach(function (id) {
            var person = people[id];
            if (person.lat === null || person.lon === null) return;
            var marker = markers[id] = newMarker(id, [person.lat, person.lon]);
            members[person.agency][id] = marker;
            drawn.push(marker);
        });
        // One addLayers clusters thousands of markers in one pass.
        clusters.addLayers(drawn);

        function applyResponse(payload) {
            if (!payload) return false;
            // Ignore another incident's answers should the page's socket be in several rooms.
            var incident = payload.incident_id;
            if (incident != null && String(incident) !== String(incidentId)) return false;
            var id = String(payload.responder_id);
            // Own keys only: an id such as "__proto__" must not reach Object.prototype.
            if (!Object.prototype.hasOwnProperty.call(people, id)) return false;
            var person = people[id];
            person.answer = payload.answer == null ? null : payload.answer;
            var lat = coordinate(payload.lat), lon = coordinate(payload.lon);
            var placed = isFinite(lat) && isFinite(lon);
            var marker = markers[id];
            if (!marker) {
                if (!placed) return false;
                // First position for someone who had none: draw them now.
                place(id, [lat, lon]);
                return true;
            }
            // A hidden agency's marker is updated all the same, out of the group: it is filed
            // in at its new place, in its new colour, when the agency is shown again.
            var inGroup = shown[person.agency];
            marker.setStyle(paint(person.answer));
            if (placed) {
                // The group files markers by position: take it out, move it, file it again.
                if (inGroup) clusters.removeLayer(marker);
                marker.setLatLng([lat, lon]);
                if (inGroup) clusters.addLayer(marker);
            } else if (inGroup) {
                // Redraw the rings of the clusters holding it. refreshClusters takes an array:
                // it treats only L.Marker, not a circle marker, as a single layer.
                clusters.refreshClusters([marker]);
            }
            marker.setTooltipContent(tooltipOf(id));
            return true;
        }

        // A notification to someone the map has never seen (a backup team, another agency
        // called in by an escalation step): add them, at their roster position if they have one.
        function addResponder(n) {
            if (!n || n.responder_name == null || n.agency_name == null) return false;
            var id = String(n.responder_id);
            if (Object.prototype.hasOwnProperty.call(people, id)) return false;
            people[id] = {name: String(n.responder_name), agency: String(n.agency_name),
                          answer: null};
            agencyLayer(people[id].agency);
            var lat = coordinate(n.lat), lon = coordinate(n.lon);
            if (isFinite(lat) && isFinite(lon)) place(id, [lat, lon]);
            return true;
        }

        window.tocsinMarkers = markers;
        window.tocsinClusters = clusters;
        window.tocsinAgencyLayers = layers;
        window.tocsinApplyResponse = applyResponse;
        window.tocsinAddResponder = addResponder;

        function attach() {
            var socket = window.tocsinSocket;
            if (!(socket && typeof socket.on === "function")) return;
            socket.on("responses", function (list) { list.forEach(applyResponse); });
            socket.on("notification_added", addResponder);
            socket.on("escalation", function (e) {
                (e.notifications || []).forEach(addResponder);
            });
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
        clusters: MarkerCluster,
        agencies: Sequence[str],
        layer_control: folium.LayerControl | None,
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
        self.people = _js_json(_people(responders))
        self.incident_marker = incident_marker
        self.clusters = clusters
        self.agencies = _js_json(list(agencies))
        self.layer_control = layer_control.get_name() if layer_control else "null"
        self.bounds = _js_json(_bounds(incident, responders))
        self.fit_options = _js_json({"padding": [24, 24], "maxZoom": 16, "animate": False})


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
