"""Answers as JSON-ready dicts, in the CRS the caller asked for.

Coordinates are always easting/longitude first ([lon, lat] for the geographic CRSs), as in
GeoJSON. CRS84 and EPSG:4490 (CGCS2000) give the same numbers: the two datums differ by
centimetres, far below a geocode's accuracy.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

from pyproj import Transformer

from urbangis.layers.errors import Invalid
from urbangis.layers.geodesy import GK_ZONE_SRIDS

from .engine import Answer
from .index import Index
from .query import Candidate
from .rank import standard_address
from .reverse import Nearby, ReverseAnswer

CRS_NAMES = {
    "CRS84": "CRS84", "OGC:CRS84": "CRS84", "WGS84": "CRS84",
    "EPSG:4490": "EPSG:4490", "EPSG:4326": "EPSG:4326", "EPSG:3857": "EPSG:3857",
    # every CGCS2000 3-degree Gauss-Kruger zone: a city's own survey CRS
    **{f"EPSG:{srid}": f"EPSG:{srid}" for srid in GK_ZONE_SRIDS},
}
GEOGRAPHIC = {"CRS84", "EPSG:4490", "EPSG:4326"}
_URI = re.compile(r"^https?://www\.opengis\.net/def/crs/(EPSG|OGC)/[^/]+/([A-Za-z0-9]+)$")


class UnknownCRS(Invalid, ValueError):
    """A ``crs`` the server does not offer (400, said of the ``crs`` parameter)."""

    def __init__(self, description: str, **details: object) -> None:
        super().__init__(description, **{"parameter": "crs", **details})


class BadPosition(Invalid, ValueError):
    """A coordinate that is not a position in its CRS (400, said of ``lon/lat``)."""

    def __init__(self, description: str, **details: object) -> None:
        super().__init__(description, **{"parameter": "lon/lat", **details})


def parse_crs(value: str | None) -> str:
    """Canonical name of a CRS given as CRS84, EPSG:4490, 4490 or an OGC URI."""
    if value is None or value == "":
        return "CRS84"
    v = value.strip()
    m = _URI.match(v)
    if m:
        v = ("OGC:" if m.group(1) == "OGC" else "EPSG:") + m.group(2)
    v = v.upper()
    if v.isdigit():
        v = "EPSG:" + v
    name = CRS_NAMES.get(v)
    if name is None:
        raise UnknownCRS(f"crs {value!r} is not offered; use one of CRS84, EPSG:4490, EPSG:4326, EPSG:3857 or "
                         f"a CGCS2000 Gauss-Kruger zone EPSG:{GK_ZONE_SRIDS[0]}-{GK_ZONE_SRIDS[-1]}")
    return name


@lru_cache(maxsize=32)
def _to(crs: str) -> Transformer:
    return Transformer.from_crs("EPSG:4490", crs, always_xy=True)


@lru_cache(maxsize=32)
def _from(crs: str) -> Transformer:
    return Transformer.from_crs(crs, "EPSG:4490", always_xy=True)


def project(lon: float, lat: float, crs: str) -> list[float]:
    """A CGCS2000 lon/lat in ``crs``, rounded to about a centimetre."""
    if crs in GEOGRAPHIC:
        return [round(lon, 7), round(lat, 7)]
    x, y = _to(crs).transform(lon, lat)
    return [round(x, 2), round(y, 2)]


def unproject(x: float, y: float, crs: str) -> tuple[float, float]:
    """A coordinate in ``crs`` -> CGCS2000 lon/lat (:class:`BadPosition` when it is not a valid one)."""
    if not (math.isfinite(x) and math.isfinite(y)):
        raise BadPosition("coordinates must be finite numbers")
    if crs in GEOGRAPHIC:
        if not (-180 <= x <= 180):
            raise BadPosition(f"lon {x} is out of range [-180, 180]")
        if not (-90 <= y <= 90):
            raise BadPosition(f"lat {y} is out of range [-90, 90]")
        return x, y
    lon, lat = _from(crs).transform(x, y)
    ok = math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90
    if ok:  # a point outside the projection's domain does not survive the round trip
        bx, by = _to(crs).transform(lon, lat)
        ok = math.isfinite(bx) and math.isfinite(by) and abs(bx - x) < 1.0 and abs(by - y) < 1.0
    if not ok:
        raise BadPosition(f"({x}, {y}) is not a valid position in {crs}")
    return lon, lat


def candidate_dict(ix: Index, c: Candidate, crs: str) -> dict:
    """One forward-geocode answer."""
    lon, lat = ix.plane.inv(c.x, c.y)
    return {
        "coordinates": project(float(lon), float(lat), crs),
        "model": c.model,
        "match_level": c.level,
        "confidence": round(c.score, 3),
        "standard_address": standard_address(c),
        "admin": c.chain,
        "unit_grid": c.unit_grid,
        "responsibility_grid": c.resp_grid,
        "responsibility_grid_name": c.resp_grid_name,
        "matched": {"layer": c.layer, "id": c.id},
        "parsed": c.reading or {},
    }


def answer_dict(ix: Index, ans: Answer, crs: str) -> dict:
    """A forward geocode: the best answer's fields at the top level, the others in ``candidates``."""
    cands = [candidate_dict(ix, c, crs) for c in ans.candidates]
    body = {"query": ans.query, "normalised": ans.normalised, "crs": crs, "found": bool(cands)}
    if cands:
        body.update(cands[0])
    body["ambiguous"] = ans.ambiguous
    body["candidates"] = cands[1:]
    return body


def _nearby(ix: Index, n: Nearby | None, crs: str) -> dict | None:
    if n is None:
        return None
    lon, lat = ix.plane.inv(n.x, n.y)
    return {"layer": n.layer, "id": n.id, "label": n.label, "distance_m": round(n.distance, 2),
            "coordinates": project(float(lon), float(lat), crs), **n.extra}


def reverse_dict(ix: Index, r: ReverseAnswer, crs: str, lon: float, lat: float) -> dict:
    """A reverse geocode."""
    return {
        "coordinates": project(lon, lat, crs),
        "crs": crs,
        "found": r.level != "none",
        "match_level": r.level,
        "standard_address": r.standard_address,
        "admin": r.chain,
        "unit_grid": r.unit_grid,
        "responsibility_grid": r.resp_grid,
        "responsibility_grid_name": r.resp_grid_name,
        "house_number": _nearby(ix, r.house, crs),
        "building": _nearby(ix, r.building, crs),
        "road": _nearby(ix, r.road, crs),
    }
