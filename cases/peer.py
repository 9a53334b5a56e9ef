"""The same alerts answered by one PostGIS statement each: the peer bench/cases_alerts.py measures
the in-memory answers against, and the truth the tests compare them with."""
from __future__ import annotations

import datetime as dt

import psycopg

from .similarity import SimilarityRules

SIMILAR = """
SELECT case_no, ST_Distance(c.geom::geography, q.p::geography) AS d,
       (extract(epoch FROM %(at)s::timestamptz - c.reported_at) / 3600)::float8 AS hours,
       c.minor_class = %(minor)s AS same, c.status
FROM cases c, (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490) AS p) q
WHERE c.kind = %(kind)s AND c.status = ANY(%(counted)s) AND c.major_class = %(major)s
  AND (c.minor_class = %(minor)s OR %(same_major)s > 0)
  AND c.reported_at BETWEEN %(at)s::timestamptz - %(window)s AND %(at)s::timestamptz
  AND ST_DWithin(c.geom, q.p, %(deg)s)
  AND ST_DWithin(c.geom::geography, q.p::geography, %(radius)s)
"""


def similar(conn: psycopg.Connection, kind: str, major: str, minor: str, lon: float, lat: float,
            at: dt.datetime, rules: SimilarityRules) -> list[tuple[str, float, float, bool, str, float]]:
    """(case_no, metres, hours before, same minor class, status, score) of every similar case, best
    first, by one statement (a bounding box in degrees for the index, the distance on the ellipsoid)."""
    rule = rules.of(kind, major, minor)
    rows = conn.execute(SIMILAR, {
        "kind": kind, "major": major, "minor": minor, "lon": lon, "lat": lat, "at": at,
        "same_major": rule.same_major, "window": dt.timedelta(hours=rule.window_h),
        "counted": sorted(rules.counted), "deg": rule.radius_m / 60_000, "radius": rule.radius_m}).fetchall()
    out = [(no, d, h, same, status, rule.score(d, h, same)) for no, d, h, same, status in rows]
    return sorted((r for r in out if r[5] > 0), key=lambda r: (-r[5], r[1], r[0]))


CROSS_GRID = """
SELECT (SELECT array_agg(g.code) FROM responsibility_grids g WHERE ST_Covers(g.geom, q.p)) AS here,
       (SELECT min(ST_Distance(g.geom::geography, q.p::geography)) FROM supervisor_grids sg
        JOIN responsibility_grids g ON g.code = sg.grid_code WHERE sg.supervisor_id = %(who)s) AS nearest_own,
       (SELECT bool_or(ST_Covers(g.geom, q.p)) FROM supervisor_grids sg
        JOIN responsibility_grids g ON g.code = sg.grid_code WHERE sg.supervisor_id = %(who)s) AS inside
FROM (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490) AS p) q
"""


def cross_grid(conn: psycopg.Connection, supervisor: str, lon: float, lat: float) -> tuple[list[str], float, bool]:
    """(grids containing the point, metres to the nearest of the supervisor's grids, inside one of
    them) by one statement."""
    row = conn.execute(CROSS_GRID, {"who": supervisor, "lon": lon, "lat": lat}).fetchone()
    here, nearest, inside = row if row is not None else (None, None, None)
    return here or [], nearest, bool(inside)
