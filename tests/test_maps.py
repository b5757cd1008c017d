"""The incident map: offline assets only, markers coloured by answer, live updates in JS."""

import hashlib
import json
import re
import shutil
import subprocess
import sys

import folium
import pytest

from maps import (
    ANSWER_COLOURS,
    ANSWER_LABELS,
    STATIC_DIR,
    MapIncident,
    MapResponder,
    RenderedMap,
    build_incident_map,
)

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


def markers_by_responder(script: str) -> dict[int, str]:
    """Responder id -> the marker's JS variable, read from the live element's mapping."""
    block = first_group(r"var markers = \{(.*?)\};", script)
    return {int(i): var for i, var in re.findall(r"(\d+): (\w+),", block)}


def marker_options(script: str, var: str) -> tuple[list[float], dict, str]:
    """Location, options and the variable it is added to, for one L.circleMarker."""
    found = re.search(
        rf"var {var} = L\.circleMarker\(\s*(\[.*?\]),\s*(\{{.*?\}})\s*\)\.addTo\((\w+)\)",
        script,
        re.S,
    )
    assert found, var
    return json.loads(found.group(1)), json.loads(found.group(2)), found.group(3)


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
    ]
    for url in urls:
        assert (STATIC_DIR / url.removeprefix("/static/maps/")).is_file()


def test_it_uses_the_static_prefix_it_is_given() -> None:
    header = build_incident_map(INCIDENT, [], static_url="/assets/maps/").header
    assert '<script src="/assets/maps/vendor/leaflet/leaflet.js">' in header
    assert 'href="/assets/maps/vendor/leaflet/leaflet.css"' in header


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


def test_it_colours_each_placed_responder_by_answer() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    markers = markers_by_responder(script)
    placed = [r for r in RESPONDERS if r.lat is not None]
    assert sorted(markers) == [r.id for r in placed]
    for responder in placed:
        location, options, _ = marker_options(script, markers[responder.id])
        assert location == [responder.lat, responder.lon]
        assert options["color"] == options["fillColor"] == ANSWER_COLOURS[responder.answer]


def test_it_skips_responders_without_a_position() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    assert 2 not in markers_by_responder(script)
    # Five placed responders, the incident, and the live JS that draws a late first position.
    assert script.count("L.circleMarker(") == 5 + 1 + 1


def test_it_draws_an_unknown_answer_as_no_answer() -> None:
    stray = MapResponder(9, "Gil", "Fire", 51.5, -0.12, "on_holiday")
    script = build_incident_map(INCIDENT, [stray]).script
    _, options, _ = marker_options(script, markers_by_responder(script)[9])
    assert options["color"] == ANSWER_COLOURS[None]


def test_it_puts_each_agency_in_its_own_layer() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    overlays = first_group(r"overlays :\s*\{(.*?)\}", script)
    layers = dict(re.findall(r'"([^"]+)" : (\w+),', overlays))
    # Police has nobody placed yet, but a live answer may bring a position.
    assert sorted(layers) == ["Ambulance", "Council", "Fire", "Police"]
    markers = markers_by_responder(script)
    for responder in RESPONDERS:
        if responder.id in markers:
            _, _, parent = marker_options(script, markers[responder.id])
            assert parent == layers[responder.agency]
    assert '"collapsed": false' in script


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


def test_it_shares_the_colour_table_with_js() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    assert f"var colours = {json.dumps(ANSWER_COLOURS)};" in script


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
FAKE_BROWSER = """
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
      if (!factory) { owner.calls.push([name, args]); return owner; }
      const made = fake(null, false, "");
      made.calls.push(["new " + name, args]);
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
const show = (calls) => calls.map(([name, args]) =>
  [name, name.includes("Tooltip") ? text(args[0]) : (name === "addTo" ? "layer" : args)]);
"""
LIVE_EVENTS = """
const handlers = {};
window.tocsinSocket = {on(event, fn) { handlers[event] = fn; }};
listeners.DOMContentLoaded();
handlers.response({responder_id: 1, answer: "on_scene", lat: 51.6, lon: -0.2});
handlers.response({responder_id: 3, answer: null});
handlers.response({responder_id: 2, answer: "acknowledged", lat: "51.52", lon: "-0.11"});
handlers.response({responder_id: 4, answer: "unavailable", incident_id: 8});
handlers.response({responder_id: 99, answer: "on_scene", lat: 1, lon: 1});
const out = {};
for (const [id, marker] of Object.entries(window.tocsinMarkers)) out[id] = show(marker.calls);
console.log(JSON.stringify(out));
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


@needs_node
def test_it_applies_live_responses_to_markers() -> None:
    script = build_incident_map(INCIDENT, RESPONDERS).script
    calls = json.loads(run_in_fake_browser(script, LIVE_EVENTS))
    on_scene, unanswered = ANSWER_COLOURS["on_scene"], ANSWER_COLOURS[None]
    assert calls["1"][-3:] == [
        ["setLatLng", [[51.6, -0.2]]],
        ["setStyle", [{"color": on_scene, "fillColor": on_scene}]],
        ["setTooltipContent", "Ann Fire (Fire)|On scene"],
    ]
    assert calls["3"][-2:] == [
        ["setStyle", [{"color": unanswered, "fillColor": unanswered}]],
        ["setTooltipContent", "Cy Police (Police)|No answer"],
    ]
    # Bob had no position: his first answer with one draws him, in the Police layer.
    acknowledged = ANSWER_COLOURS["acknowledged"]
    assert calls["2"][0] == [
        "new circleMarker",
        [[51.52, -0.11], {"radius": 8, "weight": 2, "fill": True, "fillOpacity": 0.85}],
    ]
    assert calls["2"][1:] == [
        ["addTo", "layer"],
        ["bindTooltip", "Bob Police (Police)|Acknowledged"],
        ["setStyle", [{"color": acknowledged, "fillColor": acknowledged}]],
        ["setTooltipContent", "Bob Police (Police)|Acknowledged"],
    ]
    # Another incident's answer and an unknown responder change nothing.
    assert [name for name, _ in calls["4"]] == ["new circleMarker", "addTo", "bindTooltip"]
    assert "99" not in calls


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
        const [, label] = show(window.tocsinMarkers[1].calls).find(([n]) => n === "bindTooltip");
        console.log(JSON.stringify({alerted, label}));
    """
    out = json.loads(run_in_fake_browser(rendered.script, check))
    assert out == {"alerted": False, "label": f"{evil} ({evil})|No answer"}


def test_it_imports_neither_flask_nor_the_rest_of_tocsin() -> None:
    banned = ["flask", "flask_socketio", "sqlalchemy", "coordinator", "broker", "notifier"]
    check = f"import sys, maps; print([m for m in {banned!r} if m in sys.modules])"
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
