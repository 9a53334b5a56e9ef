"""Web-map coordinates passed off as lon/lat: a file's first rows tested against the areas they name.

Points picked on Amap or Tencent (GCJ-02) or Baidu (BD-09) are 300-700 m off CGCS2000 in Urumqi,
and they arrive as plain lon/lat: a GeoJSON (WGS84 by definition) exported from a web-map app, a
CSV with 经度/纬度. Loaded as they are, each row lands in the wrong grid; a strict load fails row by
row with "lies outside its unit grid", and a skip-invalid load keeps the rows that happen to fall
inside one, every one of them misplaced. So before a load whose CRS nobody stated explicitly, the
first rows that name an area (grid_code, district_code, community_code ...) are tested three ways:
as they are, converted from GCJ-02, converted from BD-09. When nearly all would lie in their area
once converted, and a quarter of them or more only then, the load is refused, saying which offset
and how to pass it.
"""
from __future__ import annotations

import numpy as np
import psycopg
import shapely

from urbangis.layers.contract import Layer

from .. import crs as crs_mod
from .relations import INSIDE, ON_EDGE

SAMPLE = 500  # rows read to decide
MIN_TESTED = 20  # rows naming an area the database holds, fewer: no verdict
CONVERTED_AT_LEAST = 0.9  # share inside their area once converted ...
GAIN_AT_LEAST = 0.25  # ... at least this much above the share as they are (a unit grid a few hundred metres
# wide holds some shifted points still; a district nearly all: its rule gives no verdict either way)


def _rules(layer: Layer, mapping: dict[str, str]) -> list:
    """The layer's INSIDE rules the file's columns can be tested by (lines only touch their area)."""
    return [rule for rule in INSIDE.get(layer.name, ()) if not rule.lines and rule.field in mapping]


def applies(layer: Layer, mapping: dict[str, str]) -> bool:
    """Whether the file names an area its rows can be tested against (else nothing is read)."""
    return bool(_rules(layer, mapping))


def _area_codes(layer: Layer, mapping: dict[str, str], columns: dict[str, list]) -> list[tuple[str, str, list]]:
    """(area table, what it is called, the code each row names) per INSIDE rule the file can be
    tested by."""
    out = []
    for rule in _rules(layer, mapping):
        if mapping[rule.field] not in columns:
            continue
        values = columns[mapping[rule.field]]
        district_of_code = rule.expr.startswith("left(")  # a component's code begins with its district
        out.append((rule.table, rule.what, [None if v is None else str(v).strip()[:6] if district_of_code
                                            else str(v).strip() for v in values]))
    return out


def verdict(conn: psycopg.Connection, layer: Layer, mapping: dict[str, str], columns: dict[str, list],
            geoms: np.ndarray) -> str | None:
    """Why the rows look like GCJ-02 or BD-09 coordinates, or None. ``columns``: the file's first
    rows by column name; ``geoms``: their geometries as read (lon/lat)."""
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    if not present.any():
        return None
    x = np.full(len(geoms), np.nan)
    y = np.full(len(geoms), np.nan)
    xy = shapely.get_coordinates(shapely.point_on_surface(geoms[present]))
    x[present], y[present] = xy[:, 0], xy[:, 1]
    best = None
    for table, what, codes in _area_codes(layer, mapping, columns):
        wanted = sorted({c for c, ok in zip(codes, present) if c and ok})
        if not wanted:
            continue
        areas: dict[str, bytes] = dict(conn.execute(
            f"SELECT code, ST_AsBinary(geom) FROM {table} WHERE code = ANY(%s) "  # noqa: S608
            "AND geom IS NOT NULL", (wanted,)).fetchall())
        rows = [i for i, c in enumerate(codes) if present[i] and c in areas]
        if len(rows) < MIN_TESTED:
            continue
        polygons = shapely.from_wkb(np.array([bytes(areas[codes[i]]) for i in rows], dtype=object))
        px, py = x[rows], y[rows]
        shares = {}
        for shift, undo in ((None, None), ("gcj02", crs_mod.gcj02_to_wgs84), ("bd09", crs_mod.bd09_to_wgs84)):
            qx, qy = (px, py) if undo is None else undo(px, py)
            inside = shapely.contains_xy(polygons, qx, qy) | shapely.dwithin(polygons, shapely.points(qx, qy),
                                                                            float(ON_EDGE))
            shares[shift] = int(inside.sum())
        shift = max(("gcj02", "bd09"), key=lambda s: shares[s])
        n = len(rows)
        if shares[shift] >= CONVERTED_AT_LEAST * n and shares[shift] - shares[None] >= GAIN_AT_LEAST * n:
            best = (len(rows), what, shares[None], shift, shares[shift])
            break
    if best is None:
        return None
    n, what, as_is, shift, converted = best
    name = crs_mod.SourceCRS(4326, shift).label
    maker = "Amap, Tencent" if shift == "gcj02" else "Baidu"
    return (f"these look like {name} coordinates ({maker}), not CGCS2000/WGS84: of the first {n} rows naming a "
            f"{what}, {as_is} lie in it as they are, {converted} once converted from {name}. Load with "
            f"--source-crs {shift} (source_crs={shift} over HTTP); if they really are CGCS2000, say so with "
            "--source-crs EPSG:4490")
