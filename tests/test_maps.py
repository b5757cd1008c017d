"""The incident map: offline assets only, markers coloured by answer, live updates in JS,
and the map page drawing responders from the database."""

import hashlib
import json
import re
import shutil
import subprocess
import sys

import folium
import pytest
from folium.plugins import MarkerCluster
from sqlalchemy import select

from coordinator.models import Alert, Notification, Responder, User
from coordinator.services import responses
from coordinator.services.alerts import IncidentForm, declare_incident
from maps import (
    ANSWER_COLOURS,
    ANSWER_LABELS,
    STATIC_DIR,
    MapIncident,
    MapResponder,
    RenderedMap,
    build_incident_map,
)
from tests.conftest import login

VENDOR = STATIC_DIR / "vendor"
INCIDENT = MapIncident(id=7, title="Warehouse fire, Dock Road", lat=51.5007, lon=-0.1246)
RESPONDERS = [
    MapResponder(1, "Ann Fire", "Fire", 51.5010, -0.1200, "en_route"),
    MapResponder(2, "Bob Police", "Police", None, None, None),
    MapResponder(3, "Cy Police", "Police", 51.4990, -0.1300, "on_scene"),
    MapResponder(4, "Di Ambulance", "Ambulance", 51.5020, -0.1250, None),
    MapResponder(5, "Ed Council", "Council", 51.5030, -0.1260, "unavailable"),
    MapResponder(6, "Flo Fire", "Fire", 51.5040, -0.1270, "acknowledged"),
]


def page(rendered: RenderedMap) -> str:
    return rendered.header + rendered.html + rendered.script


def first_group(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.S)
    assert found, pattern
    return found.group(1)


def people_table(script: str) -> dict[int, dict]:
    """The responders the page's JS draws, read from the live element's table."""
    return {
        int(k): v for k, v in json.loads(first_group(r"var people = (\{.*?\});\n", script)).items()
    }


def test_it_references_only_our_static_files() -> None:
    html = page(build_incident_map(INCIDENT, RESPONDERS))
    assert "http://" not in html
    assert "https://" not in html
    for word in ("jquery", "bootstrap", "fontawesome", "font-awesome", "awesome", "glyphicons"):
        assert word not in html.lower()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(urls) == [
        "/static/maps/vendor/leaflet/leaflet.css",
        "/static/maps/vendor/leaflet/leaflet.js",
        "/static/maps/vendor/markercluster/MarkerCluster.Default.css",
        "/static/maps/vendor/markercluster/MarkerCluster.css",
        "/static/maps/vendor/markercluster/leaflet.markercluster.js",
    ]
    for url in urls:
        assert (STATIC_DIR / url.removeprefix("/static/maps/")).is_file()


def test_it_loads_markercluster_once_even_for_a_map_with_nobody_yet() -> None:
    # People an escalation brings in later are clustered: the script must be there already.
    for people in ([], RESPONDERS):
        header = build_incident_map(INCIDENT, people).header
        assert header.count("vendor/markercluster/leaflet.markercluster.js") == 1
        assert header.count("vendor/markercluster/MarkerCluster.css") == 1
        assert header.count("vendor/markercluster/MarkerCluster.Default.css") == 1


def test_it_uses_the_static_prefix_it_is_given() -> None:
    header = build_incident_map(INCIDENT, RESPONDERS, static_url="/assets/maps/").header
    assert '<script src="/assets/maps/vendor/leaflet/leaflet.js">' in header
    assert 'href="/assets/maps/vendor/leaflet/leaflet.css"' in header
    assert '<script src="/assets/maps/vendor/markercluster/leaflet.markercluster.js">' in header
    assert 'href="/assets/maps/vendor/markercluster/MarkerCluster.css"' in header


def test_it_leaves_folium_cluster_defaults_alone() -> None:
    before = (list(MarkerCluster.default_js), list(MarkerCluster.default_css))
    build_incident_map(INCIDENT, RESPONDERS)
    assert (MarkerCluster.default_js, MarkerCluster.default_css) == before


def test_it_draws_tiles_only_from_the_configured_url() -> None:
    tiles = "https://tiles.example.org/{z}/{x}/{y}.png"
    html = page(build_incident_map(INCIDENT, RESPONDERS, tile_url=tiles, tile_attribution="Ex"))
    assert "L.tileLayer" in html
    assert re.findall(r"https?://[^\s\"'<>]*", html) == [tiles]


def test_it_draws_no_tiles_by_default() -> None:
    assert "tileLayer" not in build_incident_map(INCIDENT, RESPONDERS).script


def test_it_leaves_folium_class_defaults_alone() -> None:
    before = (list(folium.Map.default_js), list(folium.Map.default_css))
    build_incident_map(INCIDENT, RESPONDERS)
    assert (folium.Map.default_js, folium.Map.default_css) == before


def test_it_leaves_the_page_styles_alone() -> None:
    header = build_incident_map(INCIDENT, RESPONDERS).header
    assert "html, body" not in header
    assert "#map " not in header and "#map{" not in header
    assert "user-scalable" not in header
    assert "charset" not in header


def test_it_puts_the_map_div_in_html() -> None:
    rendered = build_incident_map(INCIDENT, RESPONDERS)
    map_id = first_group(r'id="(map_\w+)"', rendered.html)
    assert f"#{map_id} {{" in rendered.header
    assert f'L.map(\n                "{map_id}"' in rendered.script
    assert "<script" not in rendered.script


def test_it_lists_every_responder_for_the_page_to_draw() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    assert people_table(script) == {
        r.id: {"name": r.name, "agency": r.agency, "answer": r.answer, "lat": r.lat, "lon": r.lon}
        for r in RESPONDERS
    }
    # One marker per responder is made by the page's loop, not by thousands of folium objects:
    # the incident's marker and the loop's.
    assert script.count("L.circleMarker(") == 2


def test_it_rounds_positions_to_ten_centimetres() -> None:
    precise = MapResponder(1, "Ann", "Fire", 51.500123456789, -0.124987654321)
    person = people_table(build_incident_map(INCIDENT, [precise]).script)[1]
    assert (person["lat"], person["lon"]) == (51.500123, -0.124988)


def test_it_makes_one_cluster_group_for_everyone() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    [variable] = re.findall(r"var (\w+) = L\.markerClusterGroup\(", script)
    assert f"{variable}.addTo(map_" in script
    assert f"var clusters = {variable};" in script
    # The cluster group itself is no entry of the layer control: the agencies are.
    assert first_group(r"overlays :\s*\{(.*?)\}", script).strip() == ""
    # Police has nobody placed yet, but a live answer may bring a position.
    agencies = first_group(r"\n\s*(\[[^\n]*?\])\.forEach\(function \(agency\)", script)
    assert json.loads(agencies) == ["Ambulance", "Council", "Fire", "Police"]
    assert '"collapsed": false' in script


def test_it_keeps_the_incident_above_the_clusters() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    assert re.search(r'createPane\(\s*"tocsinIncident"\);\s*\w+\.style\.zIndex = 650;', script)
    incident = first_group(r"L\.circleMarker\(\s*\[51\.5007, -0\.1246\],\s*(\{.*?\})\s*\)", script)
    assert json.loads(incident)["pane"] == "tocsinIncident"


def test_it_sets_a_zoom_range_without_tiles() -> None:
    # markercluster refuses a map without maxZoom, which a map without tiles does not get.
    script = build_incident_map(INCIDENT, RESPONDERS).script
    assert re.search(r'"maxZoom": 18,', script)


def test_it_shows_a_legend_of_every_answer() -> None:
    script = build_incident_map(INCIDENT, []).script
    legend = first_group(r"div\.innerHTML = (\"[^\n]*?\");\n", script)
    legend_html = json.loads(legend)
    for answer, colour in ANSWER_COLOURS.items():
        assert f'background:{colour}"></span>{ANSWER_LABELS[answer]}</div>' in legend_html


def test_it_shows_the_incident() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    assert f"[{INCIDENT.lat}, {INCIDENT.lon}]" in script
    assert json.dumps([INCIDENT.title]) in script
    assert "L.circle(" not in script
    with_area = build_incident_map(
        MapIncident(7, "Gas leak", 51.5, -0.12, radius_m=250.0), RESPONDERS
    ).script
    assert re.search(r"L\.circle\(\s*\[51\.5, -0\.12\],\s*\{[^}]*\"radius\": 250\.0", with_area)


def test_it_fits_the_view_to_everyone_placed() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    bounds = first_group(r"fitBounds\(\s*(\[\[.*?\]\])", script)
    assert json.loads(bounds) == [[51.499, -0.13], [51.504, -0.12]]
    assert '{"padding":[24,24],"maxZoom":16,"animate":false}' in script


def test_it_shares_the_colour_table_with_js() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    colours = first_group(r"var colours = (\{.*?\});", script)
    assert json.loads(colours) == {"null" if k is None else k: v for k, v in ANSWER_COLOURS.items()}


def test_it_ships_exactly_the_files_in_versions() -> None:
    rows = [
        line.split()
        for line in (VENDOR / "VERSIONS").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    listed = {path: (package, digest) for package, digest, path in rows}
    on_disk = {
        str(p.relative_to(VENDOR))
        for p in VENDOR.rglob("*")
        if p.is_file() and p.name != "VERSIONS"
    }
    assert set(listed) == on_disk
    for path, (_, digest) in listed.items():
        assert hashlib.sha256((VENDOR / path).read_bytes()).hexdigest() == digest, path
    assert {package for package, _ in listed.values()} == {
        "leaflet@1.9.4",
        "leaflet.markercluster@1.5.3",
        "socket.io-client@4.8.4",
    }


def test_it_ships_css_whose_urls_stay_on_our_server() -> None:
    for css in VENDOR.rglob("*.css"):
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css.read_text()):
            if url.startswith("#"):  # IE's VML behavior, not a fetch
                continue
            assert not re.match(r"^([a-z]+:|//|/)", url), (css, url)
            assert (css.parent / url).is_file(), (css, url)


def test_it_ships_scripts_that_load_nothing_from_the_internet() -> None:
    # The only absolute URLs in the vendored JS: an XML namespace, Leaflet's attribution link,
    # a socket.io error message and its default scheme. None is fetched by the browser.
    harmless = {
        "http://www.w3.org/2000/svg",
        "https://leafletjs.com",
        "https://socket.io/docs/v3/migrating-from-2-x-to-3-0/",
        "https://",
    }
    for js in VENDOR.rglob("*.js"):
        found = set(re.findall(r"https?://[^\s\"'()<>]*", js.read_text()))
        assert found <= harmless, (js, found - harmless)


NODE = shutil.which("node")
# A recording stand-in for Leaflet, markercluster and the DOM. Every call on a Leaflet object
# lands in `log` as [object, method, arguments]; show() names the objects: "marker <id>" for a
# responder's marker, the agency for its entry in the layer control, "clusters" for the one
# cluster group, "map" and "control" (the layer control).
FAKE_BROWSER = """
const log = [];
function fake(owner, factory, name) {
  const target = function () {};
  target.calls = [];
  target.props = {};
  const proxy = new Proxy(target, {
    get(t, prop) {
      if (prop === "calls") return t.calls;
      if (typeof prop === "symbol" || prop === "then") return undefined;
      if (!(prop in t.props)) t.props[prop] = fake(proxy, factory, prop);
      return t.props[prop];
    },
    set(t, prop, value) { t.props[prop] = value; return true; },
    apply(t, self, args) {
      if (!factory) { owner.calls.push([name, args]); log.push([owner, name, args]); return owner; }
      const made = fake(null, false, "");
      made.calls.push(["new " + name, args]);
      log.push([made, "new " + name, args]);
      return made;
    },
  });
  return proxy;
}
globalThis.window = globalThis;
let alerted = false;
globalThis.alert = () => { alerted = true; };
globalThis.L = fake(null, true, "L");
const listeners = {};
globalThis.document = {
  readyState: "loading",
  addEventListener(event, fn) { listeners[event] = fn; },
  createElement(tag) { return {tag, children: [], appendChild(c) { this.children.push(c); }}; },
  createTextNode(text) { return {text}; },
};
const text = (box) => box.children.map((c) => c.tag === "br" ? "|" : c.text).join("");
function names() {
  const found = new Map();
  for (const [who, name] of log) {
    if (name === "new map") found.set(who, "map");
    if (name === "new layers") found.set(who, "control");
  }
  found.set(window.tocsinClusters, "clusters");
  for (const [id, m] of Object.entries(window.tocsinMarkers)) found.set(m, "marker " + id);
  for (const [agency, g] of Object.entries(window.tocsinAgencyLayers)) found.set(g, agency);
  return found;
}
function show(entries) {
  const known = names();
  const ref = (x) => known.has(x) ? known.get(x) : (Array.isArray(x) ? x.map(ref) : x);
  return entries
    .filter(([who]) => known.has(who))
    .map(([who, name, args]) => [known.get(who), name, name.includes("Tooltip")
      ? text(typeof args[0] === "function" ? args[0]() : args[0])
      : (name === "addTo" ? "map" : args.map(ref))]);
}
"""
LIVE_EVENTS = """
const handlers = {};
window.tocsinSocket = {on(event, fn) { handlers[event] = fn; }};
listeners.DOMContentLoaded();
const events = [
  {responder_id: 1, answer: "on_scene", lat: 51.6, lon: -0.2},
  {responder_id: 3, answer: null},
  {responder_id: 2, answer: "acknowledged", lat: "51.52", lon: "-0.11"},
  {responder_id: 4, answer: "unavailable", incident_id: 8},
  {responder_id: 99, answer: "on_scene", lat: 1, lon: 1},
  {responder_id: 5, answer: "en_route", lat: "", lon: null},
];
const before = log.length;
handlers.responses(events);  // the hub sends answers as lists
const calls = show(log.slice(before));
const results = events.map((e) => window.tocsinApplyResponse(e));  // a replay: same outcome
console.log(JSON.stringify({results, calls}));
"""

needs_node = pytest.mark.skipif(NODE is None, reason="needs node to run the map's JavaScript")


def run_in_fake_browser(script: str, then: str) -> str:
    """Run the map's script against a recording stand-in for Leaflet and the DOM; return stdout."""
    assert NODE
    run = subprocess.run(
        [NODE, "-e", FAKE_BROWSER + script + then], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def paint(answer: str | None) -> dict[str, str]:
    return {"color": ANSWER_COLOURS[answer], "fillColor": ANSWER_COLOURS[answer]}


STYLE = {"radius": 8, "weight": 2, "fill": True, "fillOpacity": 0.85}


@needs_node
def test_it_draws_everyone_placed_into_the_one_cluster_group() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    calls = json.loads(run_in_fake_browser(script, "console.log(JSON.stringify(show(log)));"))
    made = [c for c in calls if c[1] == "new circleMarker"]
    placed = [r for r in RESPONDERS if r.lat is not None]
    assert made == [
        [
            f"marker {r.id}",
            "new circleMarker",
            [[r.lat, r.lon], {"responderId": str(r.id), **STYLE, **paint(r.answer)}],
        ]
        for r in placed
    ]
    tooltips = {who: label for who, name, label in calls if name == "bindTooltip"}
    assert tooltips["marker 1"] == "Ann Fire (Fire)|En route"
    assert tooltips["marker 4"] == "Di Ambulance (Ambulance)|No answer"
    # One addLayers for everyone, into the shared group, after the view is set: the group
    # clusters once, at the view the page opens with.
    added = [(i, who, args[0]) for i, (who, name, args) in enumerate(calls) if name == "addLayers"]
    [(added_at, who, layers)] = added
    assert (who, layers) == ("clusters", [f"marker {r.id}" for r in placed])
    [fit_at] = [i for i, (who, name, _) in enumerate(calls) if (who, name) == ("map", "fitBounds")]
    assert fit_at < added_at
    # Each agency, in order, is an entry of the layer control and on the map (shown); Police
    # has nobody placed yet but is listed all the same.
    agencies = ["Ambulance", "Council", "Fire", "Police"]
    assert [c for c in calls if c[1] == "addOverlay"] == [
        ["control", "addOverlay", [agency, agency]] for agency in agencies
    ]
    assert [who for who, name, _ in calls if name == "addTo" and who in agencies] == agencies


@needs_node
def test_it_draws_an_unknown_answer_as_no_answer() -> None:
    stray = MapResponder(9, "Gil", "Fire", 51.5, -0.12, "on_holiday")
    script = build_incident_map(INCIDENT, [stray]).script
    calls = json.loads(run_in_fake_browser(script, "console.log(JSON.stringify(show(log)));"))
    [(_, _, (_, options))] = [c for c in calls if c[1] == "new circleMarker"]
    assert (options["color"], options["fillColor"]) == (ANSWER_COLOURS[None],) * 2
    assert ["marker 9", "bindTooltip", "Gil (Fire)|on_holiday"] in calls


@needs_node
def test_it_applies_live_responses_to_markers() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    out = json.loads(run_in_fake_browser(script, LIVE_EVENTS))
    assert out["results"] == [True, True, True, False, False, True]
    assert out["calls"] == [
        # A move: out of its cluster group, moved, filed again, so it re-clusters.
        ["marker 1", "setStyle", [paint("on_scene")]],
        ["clusters", "removeLayer", ["marker 1"]],
        ["marker 1", "setLatLng", [[51.6, -0.2]]],
        ["clusters", "addLayer", ["marker 1"]],
        ["marker 1", "setTooltipContent", "Ann Fire (Fire)|On scene"],
        # A new answer without a position: recoloured, and its clusters' rings redrawn.
        ["marker 3", "setStyle", [paint(None)]],
        ["clusters", "refreshClusters", [["marker 3"]]],
        ["marker 3", "setTooltipContent", "Cy Police (Police)|No answer"],
        # Bob had no position: his first answer with one draws him, into the shared group.
        [
            "marker 2",
            "new circleMarker",
            [[51.52, -0.11], {"responderId": "2", **STYLE, **paint("acknowledged")}],
        ],
        ["marker 2", "bindTooltip", "Bob Police (Police)|Acknowledged"],
        ["clusters", "addLayer", ["marker 2"]],
        # Another incident's answer and an unknown responder change nothing; an empty
        # position is no position.
        ["marker 5", "setStyle", [paint("en_route")]],
        ["clusters", "refreshClusters", [["marker 5"]]],
        ["marker 5", "setTooltipContent", "Ed Council (Council)|En route"],
    ]


HIDE_FIRE = """
const fire = window.tocsinAgencyLayers.Fire;
const step = (fn) => { const at = log.length, result = fn(); return [result, log.slice(at)]; };
const [, hiding] = step(() => fire.onRemove());  // what Leaflet calls when Fire is unticked
const [results, hidden] = step(() => [
  window.tocsinApplyResponse({responder_id: 1, answer: "on_scene", lat: 51.6, lon: -0.2}),
  window.tocsinApplyResponse({responder_id: 6, answer: "unavailable"}),
  window.tocsinAddResponder({responder_id: 7, responder_name: "Gus Fire", agency_name: "Fire",
                             lat: 51.51, lon: -0.13}),
]);
const [, showing] = step(() => fire.onAdd());  // ... and when it is ticked again
const [, again] = step(() => fire.onAdd());
const off = hiding.filter(([, name]) => name === "off").map(([who, , args]) =>
  [names().get(who), args[0] === window.tocsinClusters._childMarkerEventHandlers,
   args[1] === window.tocsinClusters]);
console.log(JSON.stringify({
  results, off,
  hiding: show(hiding.filter(([, name]) => name !== "off")),
  hidden: show(hidden), showing: show(showing), again: show(again),
}));
"""


@needs_node
def test_it_takes_a_hidden_agency_out_of_the_clusters_and_keeps_its_markers_current() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    out = json.loads(run_in_fake_browser(script, HIDE_FIRE))
    # Unticked: Fire's people leave the shared group in one call, and the group stops
    # following their moves, or a hidden marker that moves would file itself back in.
    assert out["hiding"] == [["clusters", "removeLayers", [["marker 1", "marker 6"]]]]
    assert out["off"] == [["marker 1", True, True], ["marker 6", True, True]]
    # While hidden, markers are moved, recoloured and drawn, all out of the group.
    assert out["results"] == [True, True, True]
    assert out["hidden"] == [
        ["marker 1", "setStyle", [paint("on_scene")]],
        ["marker 1", "setLatLng", [[51.6, -0.2]]],
        ["marker 1", "setTooltipContent", "Ann Fire (Fire)|On scene"],
        ["marker 6", "setStyle", [paint("unavailable")]],
        ["marker 6", "setTooltipContent", "Flo Fire (Fire)|Unavailable"],
        [
            "marker 7",
            "new circleMarker",
            [[51.51, -0.13], {"responderId": "7", **STYLE, **paint(None)}],
        ],
        ["marker 7", "bindTooltip", "Gus Fire (Fire)|No answer"],
    ]
    # Ticked again: all of them back in one call, where and as they now are; only once.
    assert out["showing"] == [["clusters", "addLayers", [["marker 1", "marker 6", "marker 7"]]]]
    assert out["again"] == []


ADD_AGENCIES = """
const before = log.length;
window.tocsinAddResponder({responder_id: 50, responder_name: "Cat", agency_name: "City Council",
                           lat: "51.5", lon: "-0.12"});
window.tocsinAddResponder({responder_id: 51, responder_name: "Dan", agency_name: "City Council"});
window.tocsinAddResponder({responder_id: 52, responder_name: "Eve", agency_name: "<b>&Co</b>"});
const calls = show(log.slice(before))
  .filter(([, name]) => name !== "bindTooltip" && name !== "new circleMarker");
console.log(JSON.stringify({calls, agencies: Object.keys(window.tocsinAgencyLayers)}));
"""


@needs_node
@pytest.mark.parametrize("people", [RESPONDERS, []], ids=["with-control", "without-control"])
def test_it_lists_an_agency_brought_in_live(people: list[MapResponder]) -> None:
    script = build_incident_map(INCIDENT, people).script
    out = json.loads(run_in_fake_browser(script, ADD_AGENCIES))
    before = sorted({r.agency for r in people})
    assert out["agencies"] == [*before, "City Council", "<b>&Co</b>"]
    # A map drawn with nobody has no layer control yet: the first agency brings one.
    control = [
        ["control", "new layers", [None, None, {"collapsed": False}]],
        ["control", "addTo", "map"],
    ]
    assert out["calls"] == [
        # A new agency: an (empty) layer on the map, so shown, listed in the layer control.
        ["City Council", "new layerGroup", []],
        ["City Council", "addTo", "map"],
        *([] if people else control),
        ["control", "addOverlay", ["City Council", "City Council"]],
        # Cat has a roster position: drawn into the shared group. Dan and Eve have none yet.
        ["clusters", "addLayer", ["marker 50"]],
        ["<b>&Co</b>", "new layerGroup", []],
        ["<b>&Co</b>", "addTo", "map"],
        # Leaflet's layer control inserts the name as HTML.
        ["control", "addOverlay", ["<b>&Co</b>", "&#60;b&#62;&#38;Co&#60;/b&#62;"]],
    ]


@needs_node
def test_it_stays_static_without_a_socket() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    check = "listeners.DOMContentLoaded(); console.log(typeof window.tocsinApplyResponse);"
    assert run_in_fake_browser(script, check).strip() == "function"


@needs_node
def test_it_keeps_names_out_of_markup_and_code() -> None:
    evil = "</script><img src=x onerror=alert(1)>`${alert(2)}`"
    rendered = build_incident_map(
        MapIncident(7, evil, 51.5, -0.12), [MapResponder(1, evil, evil, 51.5, -0.12)]
    )
    assert "<img" not in page(rendered)
    assert "</script>" not in rendered.script
    check = """
        const [, , label] = show(log).find(([, n]) => n === "bindTooltip");
        const [, , overlay] = show(log).find(([, n]) => n === "addOverlay");
        console.log(JSON.stringify({alerted, label, overlay}));
    """
    out = json.loads(run_in_fake_browser(rendered.script, check))
    # Leaflet's layer control inserts an overlay's name as HTML: it gets the name escaped.
    escaped = "".join(f"&#{ord(c)};" if c in "&<>\"'" else c for c in evil)
    assert "<" not in escaped
    assert out == {
        "alerted": False,
        "label": f"{evil} ({evil})|No answer",
        "overlay": [evil, escaped],
    }


def test_it_imports_neither_flask_nor_the_rest_of_tocsin() -> None:
    banned = ["flask", "flask_socketio", "sqlalchemy", "coordinator", "broker", "notifier"]
    check = f"import sys, maps; print([m for m in {banned!r} if m in sys.modules])"
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


# --- the map page: drawn from the database -------------------------------------------------

FLOOD = IncidentForm(
    title="Flood on the Portway",
    kind="flood",
    severity="major",
    lat="51.47",
    lon="-2.62",
    message="Road closed. Boats to Sea Mills.",
    agency_slugs=["fire"],
    channels=["email"],
)


def declare(tocsin) -> tuple[int, list[Notification]]:
    """An incident alerting the fire teams by email; its id and its notifications."""
    with tocsin.db.write() as session:
        user = session.scalars(select(User).where(User.username == "commander")).one()
        incident_id = declare_incident(session, FLOOD, user, tocsin.links).id
    notifications = tocsin.db.session.scalars(
        select(Notification)
        .join(Notification.alert)
        .where(Alert.incident_id == incident_id)
        .order_by(Notification.id)
    ).all()
    tocsin.db.remove()
    return incident_id, list(notifications)


def answer(tocsin, n: Notification, what: str, lat: float | None = None, lon: float | None = None):
    responses.record(tocsin.db, responses.Answer(n.id, what, "link", lat=lat, lon=lon))


def drawn(client, incident_id: int) -> dict[int, dict]:
    page = client.get(f"/incidents/{incident_id}/map")
    assert page.status_code == 200
    return people_table(page.get_data(as_text=True))


def home(tocsin, responder_id: int) -> tuple[float, float]:
    """The roster position, to the map's six decimals."""
    r = tocsin.db.session.get(Responder, responder_id)
    tocsin.db.remove()
    return (round(r.lat, 6), round(r.lon, 6))


def test_the_map_page_draws_responders_where_they_last_shared_their_position(client, tocsin):
    incident_id, (moved, kept, silent, *_) = declare(tocsin)
    answer(tocsin, moved, "acknowledged", 51.48, -2.63)
    answer(tocsin, moved, "en_route", 51.475, -2.625)
    # An answer without a position leaves the last shared one.
    answer(tocsin, kept, "en_route", 51.49, -2.61)
    answer(tocsin, kept, "on_scene")
    # A position shared for another incident is not one for this incident.
    other_id, other = declare(tocsin)
    elsewhere = next(n for n in other if n.responder_id == silent.responder_id)
    answer(tocsin, elsewhere, "en_route", 1, 1)
    login(client)
    people = drawn(client, incident_id)
    where = {i: (p["answer"], p["lat"], p["lon"]) for i, p in people.items()}
    assert where[moved.responder_id] == ("en_route", 51.475, -2.625)
    assert where[kept.responder_id] == ("on_scene", 51.49, -2.61)
    assert where[silent.responder_id] == (None, *home(tocsin, silent.responder_id))
    assert drawn(client, other_id)[silent.responder_id]["lat"] == 1
