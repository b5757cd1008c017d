"""The incident map in real Chromium: clusters, answer colours, live updates, no internet.

Most tests serve a page holding a rendered map and our vendored static files from a tiny local
server, so they need neither the database nor the broker. The last one drives the real map page
of a whole running system while a responder answers.
"""

from __future__ import annotations

import json
import mimetypes
import random
import re
import time
from collections.abc import Iterator

import pytest
import requests
from gevent.pywsgi import WSGIServer

from maps import (
    ANSWER_COLOURS,
    ANSWER_LABELS,
    STATIC_DIR,
    MapIncident,
    MapResponder,
    RenderedMap,
    build_incident_map,
)
from tests.conftest import DEMO_PASSWORD, free_port
from tests.helpers.browser import OfflineGuard, chromium, offline_page, screenshot, sign_in
from tests.helpers.system import start_system

INCIDENT = MapIncident(7, "Chemical spill, Avonmouth docks", 51.5000, -2.7000, radius_m=400.0)
AGENCIES = ["Ambulance", "Council", "Fire", "Police"]
ANSWERS = list(ANSWER_COLOURS)
CROWD = 2_000
# One responder per answer, each kilometres from the crowd and 2.5 km from the others, whatever
# their agency (everyone is in one cluster group): drawn alone.
LONERS = [
    MapResponder(
        90_000 + i, f"Loner {i}", AGENCIES[i % 4], (515_300 + 225 * i) / 10_000, -2.64, answer
    )
    for i, answer in enumerate(ANSWERS)
]
NOWHERE = MapResponder(99_999, "Nia Nowhere", "Police", None, None, None)
EMPTY_SPOT = (51.560, -2.600)  # nobody near it


def crowd(n: int = CROWD) -> list[MapResponder]:
    """Responders packed around the incident, every agency and answer mixed."""
    rng = random.Random(5)
    return [
        MapResponder(
            i,
            f"Responder {i}",
            AGENCIES[i % len(AGENCIES)],
            INCIDENT.lat + rng.uniform(-0.01, 0.01),
            INCIDENT.lon + rng.uniform(-0.015, 0.015),
            ANSWERS[i % len(ANSWERS)],
        )
        for i in range(1, n + 1)
    ]


PEOPLE = crowd() + LONERS + [NOWHERE]
BY_ID = {r.id: r for r in PEOPLE}
PLACED = [r for r in PEOPLE if r.lat is not None]


class MapServer:
    """Serves pages by name at /<name> and maps.STATIC_DIR at /static/maps/."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        self.url = f"http://127.0.0.1:{free_port()}"
        self.server = WSGIServer(("127.0.0.1", int(self.url.rsplit(":", 1)[1])), self.app, log=None)

    def add(self, name: str, rendered: RenderedMap) -> str:
        self.pages[name] = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>map</title>'
            f"{rendered.header}</head><body>"
            f'<div style="width:1000px;height:700px">{rendered.html}</div>'
            f"<script>{rendered.script}</script></body></html>"
        ).encode()
        return f"{self.url}/{name}"

    def app(self, environ, start_response):  # type: ignore[no-untyped-def]
        path = environ["PATH_INFO"]
        if path.startswith("/static/maps/"):
            file = (STATIC_DIR / path.removeprefix("/static/maps/")).resolve()
            if file.is_relative_to(STATIC_DIR) and file.is_file():
                kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                start_response("200 OK", [("Content-Type", kind)])
                return [file.read_bytes()]
        elif path.lstrip("/") in self.pages:
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [self.pages[path.lstrip("/")]]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]


@pytest.fixture(scope="module")
def server() -> Iterator[MapServer]:
    s = MapServer()
    s.server.start()
    yield s
    s.server.stop(timeout=2)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


@pytest.fixture
def guard() -> OfflineGuard:
    return OfflineGuard()


class MapPage:
    """A browser page on one rendered map, with the questions the tests ask of it."""

    def __init__(self, browser, url: str, guard: OfflineGuard) -> None:  # type: ignore[no-untyped-def]
        self.page = offline_page(browser, guard, viewport={"width": 1100, "height": 800})
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.wait_for_function("() => window.tocsinApplyResponse !== undefined")
        self.map_id = self.page.eval_on_selector(".folium-map", "div => div.id")
        self.settle()
        self.start = self.js("return [map.getCenter().lat, map.getCenter().lng, map.getZoom()];")

    def js(self, body: str, arg: object = None):  # type: ignore[no-untyped-def]
        """Run `body` with `map`, `clusters` (the one cluster group), `layers` (agency name ->
        its entry in the layer control), `markers` and `arg` in scope."""
        return self.page.evaluate(
            "([mapId, arg]) => { const map = window[mapId];"
            " const clusters = window.tocsinClusters; const layers = window.tocsinAgencyLayers;"
            " const markers = window.tocsinMarkers; " + body + " }",
            [self.map_id, arg],
        )

    def settle(self) -> None:
        """Wait until the cluster group has no zoom animation running or queued."""
        self.page.wait_for_function(
            "() => !window.tocsinClusters._inZoomAnimation && !window.tocsinClusters._queueTimeout"
        )

    def tick(self, agency: str, on: bool) -> None:
        """Tick or untick an agency in the layer control, as a commander does."""
        box = self.page.get_by_label(agency, exact=True)
        box.check() if on else box.uncheck()
        self.settle()

    def view(self, lat: float, lon: float, zoom: int) -> None:
        self.js("map.setView([arg[0], arg[1]], arg[2], {animate: false});", [lat, lon, zoom])
        self.settle()

    def back_to_start(self) -> None:
        self.view(*self.start)

    def apply(self, payload: dict) -> bool:
        result = self.js("return window.tocsinApplyResponse(arg);", payload)
        self.settle()
        return result

    def shown(self) -> dict:
        """What the map shows now: each cluster icon with its members, each marker drawn alone,
        the markers out of view and those of hidden agencies (out of the cluster group)."""
        return self.js(
            """
            const found = new Map(), alone = [], out = [];
            clusters.eachLayer((marker) => {
                const id = Number(marker.options.responderId);
                // A circle marker drawn on its own is on the map; getVisibleParent only
                // knows icons, so it answers for clustered markers.
                if (map.hasLayer(marker)) { alone.push(id); return; }
                const parent = clusters.getVisibleParent(marker);
                if (parent === null) { out.push(id); return; }
                if (!found.has(parent)) found.set(parent, []);
                found.get(parent).push(id);
            });
            const hidden = Object.keys(markers).filter((id) => !clusters.hasLayer(markers[id]));
            return {
                clusters: [...found].map(([cluster, ids]) => ({
                    ids,
                    number: cluster._icon.textContent,
                    title: cluster._icon.querySelector(".tocsin-cluster").title,
                    at: [cluster.getLatLng().lat, cluster.getLatLng().lng],
                })),
                alone, out,
                hidden: hidden.map(Number).sort((a, b) => a - b),
                hidden_drawn: hidden.filter((id) => map.hasLayer(markers[id])).length,
                icons: document.querySelectorAll(".marker-cluster").length,
            };
            """
        )

    def marker(self, responder_id: int) -> dict | None:
        """One marker as drawn: position, options and, when drawn alone, its SVG colours."""
        return self.js(
            """
            const m = markers[String(arg)];
            if (!m) return null;
            return {
                at: [m.getLatLng().lat, m.getLatLng().lng],
                // In the cluster group, and how many times (a marker filed twice is a bug).
                copies: clusters.getLayers().filter((x) => x === m).length,
                color: m.options.color,
                alone: map.hasLayer(m),
                stroke: m._path && map.hasLayer(m) ? m._path.getAttribute("stroke") : null,
                fill: m._path && map.hasLayer(m) ? m._path.getAttribute("fill") : null,
            };
            """,
            responder_id,
        )

    def tooltip(self, responder_id: int) -> str:
        """The tooltip of a marker drawn alone, as the browser shows it."""
        return self.js(
            "const m = markers[String(arg)]; m.openTooltip();"
            " const text = m.getTooltip().getElement().innerText; m.closeTooltip(); return text;",
            responder_id,
        )

    def label(self, responder_id: int) -> str:
        """The tooltip a marker would show, also while it is in a cluster (lines joined by |)."""
        return self.js(
            """
            const m = markers[String(arg)], content = m.getTooltip().getContent();
            const box = typeof content === "function" ? content(m) : content;
            return [...box.childNodes].map((n) => n.nodeName === "BR" ? "|" : n.data).join("");
            """,
            responder_id,
        )

    def close(self) -> None:
        assert self.errors == [], self.errors
        self.page.context.close()


@pytest.fixture
def crowd_map(browser, server, guard) -> Iterator[MapPage]:
    url = server.add("crowd", build_incident_map(INCIDENT, PEOPLE))
    page = MapPage(browser, url, guard)
    yield page
    page.close()


def ring_title(
    ids: list[int],
    changed: dict[int, str | None] | None = None,
    people: dict[int, MapResponder] = BY_ID,
) -> str:
    """The title a cluster of these responders should carry, from the Python tables."""
    answers = {i: people[i].answer for i in ids} | (changed or {})
    counts = {a: sum(1 for i in ids if answers[i] == a) for a in ANSWERS}
    parts = [f"{n} {ANSWER_LABELS[a].lower()}" for a, n in counts.items() if n]
    return f"{len(ids)} responders: {', '.join(parts)}"


def test_it_clusters_thousands_of_responders_with_rings_of_their_answers(crowd_map, guard):
    shown = crowd_map.shown()
    # Everyone placed is on screen, once: in a cluster or alone.
    assert shown["out"] == []
    seen = [i for c in shown["clusters"] for i in c["ids"]] + shown["alone"]
    assert sorted(seen) == sorted(r.id for r in PLACED)
    assert shown["hidden"] == []
    assert 0 < shown["icons"] == len(shown["clusters"])
    assert len(shown["clusters"]) < 100  # 2,000 people read as a few dozen rings at most
    for cluster in shown["clusters"]:
        assert cluster["number"] == str(len(cluster["ids"]))
        assert cluster["title"] == ring_title(cluster["ids"])
    # One set of rings for everyone: a ring in the crowd holds people of every agency.
    assert any({BY_ID[i].agency for i in c["ids"]} == set(AGENCIES) for c in shown["clusters"])
    # The loners stand alone; so may someone on the crowd's edge.
    assert {r.id for r in LONERS} <= set(shown["alone"])
    for loner in LONERS:
        drawn = crowd_map.marker(loner.id)
        colour = ANSWER_COLOURS[loner.answer]
        assert (drawn["stroke"], drawn["fill"]) == (colour, colour)
        assert drawn["at"] == [loner.lat, loner.lon]
    assert crowd_map.marker(NOWHERE.id) is None
    guard.assert_clean()
    screenshot(crowd_map.page, "map-crowd")


def test_it_has_a_legend_and_one_layer_per_agency(crowd_map, guard):
    page = crowd_map.page
    layers = page.eval_on_selector_all(
        ".leaflet-control-layers-overlays label", "labels => labels.map((l) => l.innerText.trim())"
    )
    assert layers == AGENCIES
    legend = page.inner_text(".tocsin-legend")
    for label in ANSWER_LABELS.values():
        assert label in legend
    # Unticking an agency hides exactly its people; ticking it brings them back.
    fire = sorted(r.id for r in PLACED if r.agency == "Fire")
    crowd_map.tick("Fire", False)
    shown = crowd_map.shown()
    assert shown["hidden"] == fire and shown["hidden_drawn"] == 0
    in_clusters = [i for c in shown["clusters"] for i in c["ids"]]
    assert {BY_ID[i].agency for i in in_clusters} == {"Ambulance", "Council", "Police"}
    assert {BY_ID[i].agency for i in shown["alone"]} == {"Ambulance", "Council", "Police"}
    for cluster in shown["clusters"]:
        assert cluster["number"] == str(len(cluster["ids"]))
        assert cluster["title"] == ring_title(cluster["ids"])
    crowd_map.tick("Fire", True)
    shown = crowd_map.shown()
    assert shown["hidden"] == []
    seen = [i for c in shown["clusters"] for i in c["ids"]] + shown["alone"] + shown["out"]
    assert sorted(seen) == sorted(r.id for r in PLACED)
    assert "Fire" in {BY_ID[i].agency for c in shown["clusters"] for i in c["ids"]}
    guard.assert_clean()


def test_it_shows_each_responder_in_their_answer_colour_zoomed_in(crowd_map, guard):
    crowd_map.view(INCIDENT.lat, INCIDENT.lon, 18)
    shown = crowd_map.shown()
    assert len(shown["alone"]) >= 20
    colours = set()
    for responder_id in shown["alone"]:
        drawn = crowd_map.marker(responder_id)
        colour = ANSWER_COLOURS[BY_ID[responder_id].answer]
        assert (drawn["stroke"], drawn["fill"]) == (colour, colour), responder_id
        colours.add(colour)
    assert colours == set(ANSWER_COLOURS.values())
    someone = BY_ID[shown["alone"][0]]
    assert crowd_map.tooltip(someone.id) == (
        f"{someone.name} ({someone.agency})\n{ANSWER_LABELS[someone.answer]}"
    )
    screenshot(crowd_map.page, "map-zoomed")
    guard.assert_clean()


def cluster_of(shown: dict, responder_id: int) -> dict:
    return next(c for c in shown["clusters"] if responder_id in c["ids"])


def test_it_recolours_a_clustered_marker_live(crowd_map):
    responder = BY_ID[1]  # acknowledged, inside a crowd cluster
    before = cluster_of(crowd_map.shown(), responder.id)
    assert crowd_map.apply({"responder_id": responder.id, "answer": "on_scene"}) is True
    after = cluster_of(crowd_map.shown(), responder.id)
    assert after["ids"] == before["ids"]
    assert before["title"] == ring_title(before["ids"])
    assert after["title"] == ring_title(after["ids"], {responder.id: "on_scene"})
    assert after["title"] != before["title"]
    assert crowd_map.marker(responder.id)["color"] == ANSWER_COLOURS["on_scene"]
    assert crowd_map.label(responder.id) == f"{responder.name} ({responder.agency})|On scene"


def test_it_moves_a_marker_out_of_its_cluster_live(crowd_map):
    responder = BY_ID[2]
    old = cluster_of(crowd_map.shown(), responder.id)
    moved = {"responder_id": 2, "answer": "en_route", "lat": EMPTY_SPOT[0], "lon": EMPTY_SPOT[1]}
    assert crowd_map.apply(moved) is True
    drawn = crowd_map.marker(responder.id)
    assert drawn["at"] == list(EMPTY_SPOT)
    assert drawn["copies"] == 1
    # Re-clustered: its old cluster lost it...
    shown = crowd_map.shown()
    assert all(responder.id not in c["ids"] for c in shown["clusters"])
    assert any(set(c["ids"]) == set(old["ids"]) - {responder.id} for c in shown["clusters"])
    # ...and it stands alone at its new place, in its new colour.
    crowd_map.view(*EMPTY_SPOT, 16)
    assert crowd_map.shown()["alone"] == [responder.id]
    drawn = crowd_map.marker(responder.id)
    colour = ANSWER_COLOURS["en_route"]
    assert (drawn["stroke"], drawn["fill"]) == (colour, colour)
    # Sent back into the crowd, it joins a cluster again.
    back = {**moved, "lat": responder.lat, "lon": responder.lon}
    assert crowd_map.apply(back) is True
    crowd_map.back_to_start()
    shown = crowd_map.shown()
    assert responder.id not in shown["alone"]
    assert responder.id in cluster_of(shown, responder.id)["ids"]
    assert crowd_map.marker(responder.id)["copies"] == 1


def test_it_draws_a_first_position_into_the_clusters(crowd_map):
    assert crowd_map.apply({"responder_id": NOWHERE.id, "answer": "acknowledged"}) is False
    assert crowd_map.marker(NOWHERE.id) is None
    first = {"responder_id": NOWHERE.id, "answer": "en_route", "lat": "51.56", "lon": "-2.6"}
    assert crowd_map.apply(first) is True
    crowd_map.view(51.56, -2.6, 16)
    drawn = crowd_map.marker(NOWHERE.id)
    assert drawn["copies"] == 1
    assert drawn["at"] == [51.56, -2.6]
    assert drawn["alone"] and drawn["fill"] == ANSWER_COLOURS["en_route"]
    assert crowd_map.tooltip(NOWHERE.id) == "Nia Nowhere (Police)\nEn route"


def test_it_moves_a_marker_while_its_layer_is_hidden(crowd_map):
    fire = next(r for r in crowd() if r.agency == "Fire")
    crowd_map.tick("Fire", False)
    moved = {"responder_id": fire.id, "answer": "on_scene", "lat": EMPTY_SPOT[0], "lon": -2.61}
    assert crowd_map.apply(moved) is True
    drawn = crowd_map.marker(fire.id)
    assert drawn["alone"] is False and drawn["copies"] == 0
    assert drawn["at"] == [EMPTY_SPOT[0], -2.61]
    crowd_map.tick("Fire", True)
    crowd_map.view(EMPTY_SPOT[0], -2.61, 16)
    drawn = crowd_map.marker(fire.id)
    assert drawn["at"] == [EMPTY_SPOT[0], -2.61] and drawn["copies"] == 1
    assert drawn["alone"] and drawn["fill"] == ANSWER_COLOURS["on_scene"]
    in_group = crowd_map.js("return clusters.getLayers().map((m) => m.options.responderId);")
    fire_count = sum(1 for i in in_group if BY_ID[int(i)].agency == "Fire")
    assert fire_count == sum(1 for r in PLACED if r.agency == "Fire")
    assert len(in_group) == len(set(in_group)) == len(PLACED)


# A dense incident: every agency's people packed within some 20 m of the incident.
PACKED = [
    MapResponder(
        200_000 + i,
        f"Packed {i}",
        AGENCIES[i % len(AGENCIES)],
        INCIDENT.lat + random.Random(i).uniform(-0.0002, 0.0002),
        INCIDENT.lon + random.Random(-i).uniform(-0.0003, 0.0003),
        ANSWERS[i % len(ANSWERS)],
    )
    for i in range(30 * len(AGENCIES))
]
LATECOMER = MapResponder(299_999, "Pat Late", "Police", None, None, None)
PACKED_BY_ID = {r.id: r for r in [*PACKED, LATECOMER]}


def ids_of(agencies: set[str]) -> list[int]:
    return sorted(r.id for r in PACKED if r.agency in agencies)


def one_ring(page: MapPage, away: list[int] | None = None) -> dict:
    """The only cluster on the map: what a dense crowd must read as. `away`: who is shown but
    out of view."""
    shown = page.shown()
    assert shown["icons"] == len(shown["clusters"]) == 1, shown
    assert shown["alone"] == [] and shown["hidden_drawn"] == 0
    assert shown["out"] == (away or [])
    [ring] = shown["clusters"]
    assert ring["number"] == str(len(ring["ids"]))
    return {**ring, "ids": sorted(ring["ids"]), "hidden": shown["hidden"]}


def test_a_dense_crowd_of_several_agencies_is_one_set_of_clusters(browser, server, guard):
    url = server.add("dense", build_incident_map(INCIDENT, [*PACKED, LATECOMER]))
    page = MapPage(browser, url, guard)
    everyone = ids_of(set(AGENCIES))
    # A cluster group per agency drew one ring per agency here, stacked on top of each other
    # (len(AGENCIES) .marker-cluster icons); one group for everyone draws one ring for all.
    ring = one_ring(page)
    assert ring["ids"] == everyone and ring["hidden"] == []
    assert ring["title"] == ring_title(everyone, people=PACKED_BY_ID)
    assert {PACKED_BY_ID[i].agency for i in ring["ids"]} == set(AGENCIES)

    # Unticking an agency takes its people out of the ring and its count; ticking them back in.
    for hidden in [{"Ambulance"}, {"Council"}, {"Fire"}, {"Police"}, {"Fire", "Police"}]:
        for agency in sorted(hidden):
            page.tick(agency, False)
        ring = one_ring(page)
        left = ids_of(set(AGENCIES) - hidden)
        assert ring["ids"] == left and ring["hidden"] == ids_of(hidden)
        assert ring["title"] == ring_title(left, people=PACKED_BY_ID)
        for agency in sorted(hidden):
            page.tick(agency, True)
        ring = one_ring(page)
        assert ring["ids"] == everyone and ring["hidden"] == []
        assert ring["title"] == ring_title(everyone, people=PACKED_BY_ID)

    # While Police is hidden, one of them leaves the scene, one answers anew without a
    # position and a latecomer shares a first one: none of it may show...
    police = [r for r in PACKED if r.agency == "Police"]
    leaver = police[0]
    changer = next(r for r in police[1:] if r.answer != "unavailable")
    page.tick("Police", False)
    away = {"responder_id": leaver.id, "answer": "on_scene", "lat": EMPTY_SPOT[0]}
    assert page.apply({**away, "lon": EMPTY_SPOT[1]}) is True
    assert page.apply({"responder_id": changer.id, "answer": "unavailable"}) is True
    late = {"responder_id": LATECOMER.id, "answer": "en_route"}
    assert page.apply({**late, "lat": INCIDENT.lat, "lon": INCIDENT.lon}) is True
    ring = one_ring(page)
    assert ring["ids"] == ids_of({"Ambulance", "Council", "Fire"})
    assert ring["hidden"] == sorted([*ids_of({"Police"}), LATECOMER.id])
    page.view(*EMPTY_SPOT, 16)
    assert page.shown()["icons"] == 0 and page.shown()["alone"] == []
    # ...until Police is shown again: each where and as they now are.
    page.tick("Police", True)
    assert page.shown()["alone"] == [leaver.id]
    drawn = page.marker(leaver.id)
    colour = ANSWER_COLOURS["on_scene"]
    assert drawn["at"] == list(EMPTY_SPOT) and drawn["copies"] == 1
    assert (drawn["stroke"], drawn["fill"]) == (colour, colour)
    page.back_to_start()
    ring = one_ring(page, away=[leaver.id])
    here = sorted(set(everyone) - {leaver.id} | {LATECOMER.id})
    assert ring["ids"] == here and ring["hidden"] == []
    changed = {changer.id: "unavailable", LATECOMER.id: "en_route"}
    assert ring["title"] == ring_title(here, changed, people=PACKED_BY_ID)
    assert page.label(changer.id) == f"{changer.name} (Police)|Unavailable"
    assert page.marker(LATECOMER.id)["copies"] == 1
    guard.assert_clean()
    screenshot(page.page, "map")
    page.close()


def test_it_ignores_unknown_responders_and_other_incidents(crowd_map):
    before = crowd_map.shown()
    assert crowd_map.apply({"responder_id": 123_456, "answer": "on_scene"}) is False
    assert crowd_map.apply({"responder_id": "__proto__", "answer": "on_scene"}) is False
    assert crowd_map.js("return ({}).answer;") is None
    other = {"responder_id": 3, "answer": "on_scene", "incident_id": INCIDENT.id + 1}
    assert crowd_map.apply(other) is False
    assert crowd_map.js("return window.tocsinApplyResponse(null);") is False
    assert crowd_map.shown() == before


@pytest.mark.parametrize("tiles", [None, "http://tiles.example.org/{z}/{x}/{y}.png"])
def test_it_draws_markers_with_or_without_tiles(browser, server, tiles):
    guard = OfflineGuard()
    options = {"tile_url": tiles, "tile_attribution": "Example"} if tiles else {}
    url = server.add(f"tiles-{bool(tiles)}", build_incident_map(INCIDENT, PEOPLE, **options))
    page = MapPage(browser, url, guard)
    shown = page.shown()
    assert {r.id for r in LONERS} <= set(shown["alone"])
    assert shown["icons"] > 0
    drawn = page.marker(LONERS[3].id)
    assert drawn["fill"] == ANSWER_COLOURS[LONERS[3].answer]
    tile_images = page.page.locator("img.leaflet-tile").count()
    if tiles:
        # The configured tile server is asked (here: refused by the guard) and nothing else.
        assert tile_images > 0
        assert guard.left_the_machine
        assert all(u.startswith("http://tiles.example.org/") for u in guard.left_the_machine)
    else:
        assert tile_images == 0
        guard.assert_clean()
        screenshot(page.page, "map-no-tiles")
    page.close()


# --- the real map page of a running system -----------------------------------------------


@pytest.fixture
def system(tmp_path):
    system = start_system(f"sqlite:///{tmp_path / 'map.db'}", None)
    yield system
    system.shutdown()


def test_the_map_page_follows_an_answer_live_and_keeps_it_on_reload(system, browser):
    commander = system.browser()
    incident_id = system.declare(commander, ["fire", "ambulance"])
    n = next(n for n in system.notifications() if n.channel == "email")
    responder_id = n.responder_id
    guard = OfflineGuard()
    context_page = offline_page(browser, guard, viewport={"width": 1100, "height": 800})
    sign_in(context_page, system.url, "commander", DEMO_PASSWORD)
    context_page.goto(f"{system.url}/incidents/{incident_id}/map")
    context_page.wait_for_function("() => window.tocsinSocket && window.tocsinSocket.connected")
    home = context_page.evaluate(
        "(id) => { const p = window.tocsinMarkers[id].getLatLng(); return [p.lat, p.lng]; }",
        str(responder_id),
    )
    shared = [round(home[0] + 0.0123, 6), round(home[1] - 0.0456, 6)]

    started = time.monotonic()
    link = system.tocsin.links.url_for(n.id)
    answer = {"answer": "en_route", "lat": str(shared[0]), "lon": str(shared[1])}
    assert requests.post(link, data=answer, timeout=5).status_code == 200
    context_page.wait_for_function(
        """([id, lat, lon, colour]) => {
            const m = window.tocsinMarkers[id], p = m.getLatLng();
            return p.lat === lat && p.lng === lon && m.options.fillColor === colour;
        }""",
        arg=[str(responder_id), shared[0], shared[1], ANSWER_COLOURS["en_route"]],
        timeout=10_000,
    )
    print(f"\nanswer posted -> marker moved on the map page: {time.monotonic() - started:.3f} s")

    # Drawn from the database on a fresh load, before any live event is replayed.
    html = commander.get(f"{system.url}/incidents/{incident_id}/map", timeout=5).text
    people = json.loads(re.search(r"var people = (\{.*?\});\n", html).group(1))
    assert [people[str(responder_id)][k] for k in ("answer", "lat", "lon")] == [
        "en_route",
        *shared,
    ]
    context_page.reload()
    context_page.wait_for_function("() => window.tocsinApplyResponse !== undefined")
    at = context_page.evaluate(
        "(id) => { const p = window.tocsinMarkers[id].getLatLng(); return [p.lat, p.lng]; }",
        str(responder_id),
    )
    assert at == shared
    guard.assert_clean()
    screenshot(context_page, "map-page")
    context_page.context.close()


def test_it_draws_five_thousand_responders(browser, server, guard):
    many = crowd(5_000)
    page = MapPage(browser, server.add("five-thousand", build_incident_map(INCIDENT, many)), guard)
    shown = page.shown()
    assert shown["out"] == []
    seen = [i for c in shown["clusters"] for i in c["ids"]] + shown["alone"]
    assert sorted(seen) == [r.id for r in many]
    assert all(c["number"] == str(len(c["ids"])) for c in shown["clusters"])
    guard.assert_clean()
    page.close()
