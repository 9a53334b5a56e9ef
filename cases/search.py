"""The filtered cases inside a box (GET /cases/search): what a bin or a cluster clicked on the map
holds, read from PostGIS by the same filters the maps count with (cases/filters.py)."""
from __future__ import annotations

import math

import psycopg
from psycopg import sql

from urbangis.layers.errors import Invalid

from .filters import CaseFilter, admin_prefix

COLUMNS = ("case_no", "kind", "major_class", "minor_class", "status", "source", "description", "address",
           "grid_code", "responsibility_grid", "reported_at", "closed_at")


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """minlon,minlat,maxlon,maxlat (CRS84); 400 naming what is wrong."""
    parts = [p.strip() for p in text.split(",")]
    try:
        box = tuple(float(p) for p in parts)
    except ValueError:
        raise Invalid(f"bbox: {text!r} must be four numbers minlon,minlat,maxlon,maxlat", parameter="bbox",
                      value=text) from None
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise Invalid(f"bbox: {text!r} must be four finite numbers minlon,minlat,maxlon,maxlat", parameter="bbox",
                      value=text)
    x0, y0, x1, y1 = box
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise Invalid(f"bbox: {text!r}: need -180 <= minlon <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90",
                      parameter="bbox", value=text)
    return x0, y0, x1, y1


def where(f: CaseFilter) -> tuple[sql.Composable, list]:
    """The filter as a WHERE condition on ``cases`` and its parameters (the maps' semantics: an
    area by its code's level, a city or province code by its prefix)."""
    parts: list[sql.Composable] = [sql.SQL("true")]
    args: list = []
    if f.start is not None:
        parts.append(sql.SQL("reported_at >= %s"))
        args.append(f.start)
    if f.end is not None:
        parts.append(sql.SQL("reported_at <= %s"))
        args.append(f.end)
    if f.classes is not None:
        parts.append(sql.SQL("(kind || '/' || major_class || '/' || minor_class) = ANY(%s)"))
        args.append(sorted("/".join(k) for k in f.classes))
    if f.statuses:
        parts.append(sql.SQL("status = ANY(%s)"))
        args.append(list(f.statuses))
    if f.sources:
        parts.append(sql.SQL("source = ANY(%s)"))
        args.append(list(f.sources))
    if f.area is not None:
        if len(f.area) in (9, 12):
            parts.append(sql.SQL("left(grid_code, %s) = %s"))
            args += [len(f.area), f.area]
        else:
            parts.append(sql.SQL("coalesce(district_code, left(grid_code, 6)) LIKE %s"))
            args.append(admin_prefix(f.area) + "%")
    if f.responsibility_grid is not None:
        parts.append(sql.SQL("responsibility_grid = %s"))
        args.append(f.responsibility_grid)
    return sql.SQL(" AND ").join(parts), args


def search(conn: psycopg.Connection, bbox: tuple[float, float, float, float], f: CaseFilter, limit: int) -> dict:
    """The filtered cases inside ``bbox`` (newest first, at most ``limit``) and how many there are,
    as GeoJSON. Inside as a bin counts: the west and north edges in, the east and south ones out
    (a case on the edge of two bins is listed by one)."""
    cond, args = where(f)
    box = sql.SQL("geom && ST_MakeEnvelope(%s, %s, %s, %s, 4490) AND ST_X(geom) >= %s AND ST_X(geom) < %s "
                  "AND ST_Y(geom) > %s AND ST_Y(geom) <= %s")
    x0, y0, x1, y1 = bbox
    edges = (x0, y0, x1, y1, x0, x1, y0, y1)
    matched = conn.execute(sql.SQL("SELECT count(*) FROM cases WHERE {} AND {}").format(box, cond),
                           [*edges, *args]).fetchone()
    rows = conn.execute(sql.SQL("SELECT {}, ST_X(geom), ST_Y(geom) FROM cases WHERE {} AND {} "
                                "ORDER BY reported_at DESC, case_no LIMIT %s").format(
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), box, cond), [*edges, *args, limit]).fetchall()
    features = [{"type": "Feature", "id": r[0], "properties": dict(zip(COLUMNS, r[:-2])),
                 "geometry": {"type": "Point", "coordinates": [r[-2], r[-1]]}} for r in rows]
    return {"type": "FeatureCollection", "numberMatched": matched[0] if matched else 0,
            "numberReturned": len(features), "filter": f.given, "features": features}
