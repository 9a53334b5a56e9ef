"""Supervisors in the field: GPS fixes posted in batches and kept as tracks (``supervisor_fixes``,
a partition per day), their last known positions, the on-duty supervisors nearest a case, and
patrol check-ins (巡更打卡) validated against the supervisor's own grids and the patrol point.
"""
from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from dataclasses import dataclass
from typing import Annotated

import psycopg
from pydantic import BaseModel, BeforeValidator, Field

from urbangis.layers.errors import Invalid, NotFound

MAX_FIXES = 10_000  # per request
FUTURE_SLACK = dt.timedelta(minutes=5)


def _time_text(value):
    """A time as JSON sends one: an ISO 8601 string (a number is not read as seconds since 1970)."""
    if isinstance(value, (int, float)):  # (bool is an int too)
        raise ValueError("a time is an ISO 8601 string, e.g. 2026-03-01T09:30:00+08:00")
    return value


IsoTime = Annotated[dt.datetime, BeforeValidator(_time_text)]


class Fix(BaseModel):
    """One GPS fix."""

    supervisor_id: str = Field(min_length=1, max_length=100)
    # numbers as JSON numbers: strict, so "12" or true is refused, not read as a number
    lon: float = Field(strict=True, description="CGCS2000 longitude")
    lat: float = Field(strict=True, description="CGCS2000 latitude")
    at: IsoTime = Field(description="when; without an offset, in the server's time zone")
    accuracy_m: float | None = Field(default=None, strict=True, ge=0, le=10_000)
    speed_mps: float | None = Field(default=None, strict=True, ge=0, le=100)


class CheckIn(BaseModel):
    """A check-in at a patrol point."""

    supervisor_id: str = Field(min_length=1, max_length=100)
    point_id: str = Field(min_length=1, max_length=100)
    lon: float = Field(strict=True)
    lat: float = Field(strict=True)
    at: IsoTime | None = Field(default=None, description="when (default now)")


@dataclass
class FixesResult:
    accepted: int
    rejected: list[dict]
    positions_updated: int


def _aware(at: dt.datetime, zone: str) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=zoneinfo.ZoneInfo(zone))


def _problem(fix: Fix, known: set[str], now: dt.datetime) -> str | None:
    if fix.supervisor_id not in known:
        return f"supervisor_id {fix.supervisor_id!r} is not a supervisor"
    if not (math.isfinite(fix.lon) and math.isfinite(fix.lat) and 73 <= fix.lon <= 136 and 3 <= fix.lat <= 54):
        return f"({fix.lon}, {fix.lat}) is not a position in China (CGCS2000 lon, lat)"
    if fix.at > now + FUTURE_SLACK:
        return f"at {fix.at.isoformat()} is in the future"
    return None


def ensure_partitions(conn: psycopg.Connection, days: set[dt.date]) -> None:
    """The day partitions of ``supervisor_fixes`` the fixes need, days of the session's time zone
    (made once; safe when two requests make the same one). Made by the database function of
    migration 0013, with its owner's rights: a caller bound to an area works in a role that owns
    nothing."""
    for day in sorted(days):
        name = f"supervisor_fixes_{day:%Y%m%d}"
        if conn.execute("SELECT 1 WHERE to_regclass(%s) IS NOT NULL", (name,)).fetchone() is not None:
            continue
        conn.execute("SELECT urbangis_fixes_partition(%s)", (day,))


def post_fixes(conn: psycopg.Connection, fixes: list[Fix], zone: str, now: dt.datetime) -> FixesResult:
    """Store a batch of fixes: the good ones in one transaction, each bad one set aside with its
    reason; each supervisor's position moves to their newest fix."""
    if len(fixes) > MAX_FIXES:
        raise Invalid(f"{len(fixes)} fixes; at most {MAX_FIXES} per request", parameter="fixes")
    known = {r[0] for r in conn.execute("SELECT id FROM supervisors WHERE id = ANY(%s)",
                                        (list({f.supervisor_id for f in fixes}),))}
    good, rejected = [], []
    for n, fix in enumerate(fixes):
        fix = fix.model_copy(update={"at": _aware(fix.at, zone)})
        problem = _problem(fix, known, now)
        if problem:
            rejected.append({"index": n, "supervisor_id": fix.supervisor_id, "reason": problem})
        else:
            good.append(fix)
    if not good:
        return FixesResult(0, rejected, 0)
    ensure_partitions(conn, {f.at.astimezone(zoneinfo.ZoneInfo(zone)).date() for f in good})
    with conn.transaction():
        # one INSERT of arrays, not COPY: COPY FROM is refused on a table under row-level security
        # (a caller bound to an area, migration 0013), and a batch is at most MAX_FIXES rows
        conn.execute(
            "INSERT INTO supervisor_fixes (supervisor_id, at, accuracy_m, speed_mps, geom) "
            "SELECT s, t, a, v, ST_SetSRID(ST_MakePoint(x, y), 4490) "
            "FROM unnest(%s::text[], %s::timestamptz[], %s::real[], %s::real[], %s::float8[], %s::float8[]) "
            "AS f(s, t, a, v, x, y)",
            ([f.supervisor_id for f in good], [f.at for f in good], [f.accuracy_m for f in good],
             [f.speed_mps for f in good], [f.lon for f in good], [f.lat for f in good]))
        newest: dict[str, Fix] = {}
        for f in good:
            if f.supervisor_id not in newest or f.at > newest[f.supervisor_id].at:
                newest[f.supervisor_id] = f
        updated = 0
        for f in newest.values():
            updated += conn.execute(
                "INSERT INTO supervisor_positions (supervisor_id, at, accuracy_m, geom) "
                "VALUES (%s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4490)) ON CONFLICT (supervisor_id) DO UPDATE "
                "SET at = excluded.at, accuracy_m = excluded.accuracy_m, geom = excluded.geom "
                "WHERE supervisor_positions.at < excluded.at",
                (f.supervisor_id, f.at, f.accuracy_m, f.lon, f.lat)).rowcount
    return FixesResult(len(good), rejected, updated)


def nearest_on_duty(conn: psycopg.Connection, lon: float, lat: float, on_duty_minutes: int, limit: int,
                    now: dt.datetime) -> list[dict]:
    """The on-duty supervisors (a fix within ``on_duty_minutes``) nearest a point, with distances."""
    rows = conn.execute(
        "SELECT p.supervisor_id, s.name, p.at, ST_Distance(p.geom::geography, q.g::geography) AS d, "
        "ST_X(p.geom), ST_Y(p.geom) "
        "FROM supervisor_positions p JOIN supervisors s ON s.id = p.supervisor_id, "
        "(SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4490) AS g) q "
        "WHERE p.at >= %s ORDER BY p.geom <-> q.g LIMIT %s",
        (lon, lat, now - dt.timedelta(minutes=on_duty_minutes), limit * 4)).fetchall()
    found = sorted(rows, key=lambda r: r[3])[:limit]  # <-> orders in degrees: the metres decide
    return [{"supervisor_id": sid, "name": name, "at": at, "distance_m": round(d, 1), "lon": x, "lat": y}
            for sid, name, at, d, x, y in found]


def check_in(conn: psycopg.Connection, c: CheckIn, max_m: float, zone: str, now: dt.datetime) -> dict:
    """Validate and record a check-in: accepted when the supervisor stands inside one of their own
    grids, the point belongs to one of them, and they are within ``max_m`` of it; otherwise the
    reasons. 404 for an unknown supervisor or patrol point."""
    at = _aware(c.at, zone) if c.at else now
    if at > now + FUTURE_SLACK:
        raise Invalid(f"at: {at.isoformat()} is in the future", parameter="at", value=at.isoformat())
    if conn.execute("SELECT 1 FROM supervisors WHERE id = %s", (c.supervisor_id,)).fetchone() is None:
        raise NotFound(f"no supervisor {c.supervisor_id!r}", parameter="supervisor_id", value=c.supervisor_id)
    row = conn.execute(
        "SELECT p.grid_code, ST_Distance(p.geom::geography, q.g::geography), "
        "EXISTS (SELECT 1 FROM supervisor_grids sg WHERE sg.supervisor_id = %(s)s AND sg.grid_code = p.grid_code), "
        "(SELECT array_agg(sg.grid_code ORDER BY sg.grid_code) FROM supervisor_grids sg "
        " JOIN responsibility_grids g ON g.code = sg.grid_code "
        " WHERE sg.supervisor_id = %(s)s AND ST_Covers(g.geom, q.g)) "
        "FROM patrol_points p, (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490) AS g) q WHERE p.id = %(p)s",
        {"s": c.supervisor_id, "p": c.point_id, "lon": c.lon, "lat": c.lat}).fetchone()
    if row is None:
        raise NotFound(f"no patrol point {c.point_id!r}", parameter="point_id", value=c.point_id)
    grid, distance, point_is_own, inside = row
    reasons = []
    if not point_is_own:
        reasons.append(f"patrol point {c.point_id} belongs to grid {grid}, which is not one of {c.supervisor_id}'s")
    if not inside:
        reasons.append(f"({c.lon}, {c.lat}) lies outside every grid of {c.supervisor_id}")
    if distance > max_m:
        reasons.append(f"{distance:.0f} m from patrol point {c.point_id}; a check-in must be within {max_m:g} m")
    accepted = not reasons
    conn.execute("INSERT INTO patrol_checkins (supervisor_id, point_id, at, accepted, distance_m, reasons, geom) "
                 "VALUES (%s, %s, %s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4490))",
                 (c.supervisor_id, c.point_id, at, accepted, distance, reasons, c.lon, c.lat))
    return {"accepted": accepted, "supervisor_id": c.supervisor_id, "point_id": c.point_id, "grid": grid,
            "distance_m": round(distance, 1), "at": at, "reasons": reasons}


def patrol_routes(conn: psycopg.Connection) -> dict[str, list[tuple[float, float]]]:
    """Each supervisor's patrol points (lon, lat) over all their grids, in the order of the points'
    ids: the round a supervisor walks."""
    routes: dict[str, list[tuple[float, float]]] = {}
    for sid, x, y in conn.execute(
            "SELECT sg.supervisor_id, ST_X(p.geom), ST_Y(p.geom) FROM supervisor_grids sg "
            "JOIN patrol_points p ON p.grid_code = sg.grid_code ORDER BY sg.supervisor_id, p.id"):
        routes.setdefault(sid, []).append((x, y))
    return routes
