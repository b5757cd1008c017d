"""Where a CAP area is, as Tocsin places an incident: a centre and a radius that
covers all of it.

A circle is its centre and radius; a polygon is its centroid and the distance to
its farthest vertex; several shapes are the mean of their centres and the radius
that covers every one. Distances are great-circle (haversine). Polygons are
treated as flat in latitude/longitude, which is fine for the few hundred km a
warning covers; one that crosses the antimeridian is not handled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True)
class Disc:
    lat: float
    lon: float
    radius_m: float


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def polygon_disc(points: Sequence[tuple[float, float]]) -> Disc:
    """Centroid (area-weighted; the vertices' mean for a polygon without area) and
    the distance to the farthest vertex."""
    ring = list(points[:-1]) if points[0] == points[-1] else list(points)
    twice_area = cx = cy = 0.0
    for (lat1, lon1), (lat2, lon2) in zip(ring, ring[1:] + ring[:1], strict=True):
        cross = lon1 * lat2 - lon2 * lat1
        twice_area += cross
        cx += (lon1 + lon2) * cross
        cy += (lat1 + lat2) * cross
    if abs(twice_area) < 1e-12:
        lat = sum(p[0] for p in ring) / len(ring)
        lon = sum(p[1] for p in ring) / len(ring)
    else:
        lat, lon = cy / (3 * twice_area), cx / (3 * twice_area)
    return Disc(lat, lon, max(distance_m(lat, lon, p[0], p[1]) for p in ring))


def cover(discs: Sequence[Disc]) -> Disc:
    """One disc covering every disc given (exactly the one, when there is one)."""
    if len(discs) == 1:
        return discs[0]
    lat = sum(d.lat for d in discs) / len(discs)
    lon = sum(d.lon for d in discs) / len(discs)
    return Disc(lat, lon, max(distance_m(lat, lon, d.lat, d.lon) + d.radius_m for d in discs))
