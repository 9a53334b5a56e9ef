"""Case intake: a report (a class, a point or an address, the reporter, a time) checked, placed,
classified and stored with its alerts, all or nothing; a retried request with the same idempotency
key finds the case it stored instead of storing a second one.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import zoneinfo
from dataclasses import dataclass, field

import orjson
import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field, field_validator

from urbangis.geocoder.engine import Geocoder
from urbangis.geocoder.output import parse_crs, unproject
from urbangis.layers.classes import CaseClass, Classes, UnknownClass
from urbangis.layers.contract import CODES
from urbangis.layers.errors import Invalid

from .grids import Place, Supervisors, locate
from .index import metres_per_degree

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)  # no case of this system is older
FUTURE_SLACK = dt.timedelta(minutes=5)  # a device clock a little ahead is not an impossible time
MAX_TEXT = 2000


class CaseReport(BaseModel):
    """A case as another subsystem reports it (POST /cases, GET /cases/check)."""

    kind: str | None = Field(default=None,
                             description="component (部件) or event (事件); read from the class when left out")
    major_class: str | None = Field(default=None, description="2-digit major class (大类), or its Chinese name")
    minor_class: str | None = Field(default=None, description="2-digit minor class (小类), or its Chinese name")
    component_code: str | None = Field(default=None, description="16-digit code of the component the case is about "
                                                         "(its class is the case's)")
    lon: float | None = Field(default=None, description="longitude (or easting in a projected crs)")
    lat: float | None = Field(default=None, description="latitude (or northing)")
    crs: str | None = Field(default=None, description="CRS of lon/lat: CRS84 (default), EPSG:4490, EPSG:4326, "
                                              "EPSG:3857 or a Gauss-Kruger zone EPSG:4534-4554")
    address: str | None = Field(default=None, max_length=200, description="where, as an address (instead of lon/lat)")
    source: str | None = Field(default=None, max_length=100,
                               description="监督员上报, 12345热线, 公众举报, 视频巡查 ...")
    reporter: str | None = Field(default=None, max_length=100,
                                 description="the supervisor's id, when a supervisor reports")
    reported_by: str | None = Field(default=None, max_length=200,
                                    description="who else reported it (a caller, a camera)")
    description: str | None = Field(default=None, max_length=MAX_TEXT, description="what is wrong")
    reported_at: dt.datetime | None = Field(default=None, description="when (default now); without an offset, in the "
                                                              "server's time zone")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200,
                                        description="the client's key of this report: a retried request with the "
                                                    "same key returns the case stored the first time")

    @field_validator("kind", "major_class", "minor_class", "component_code", "source", "reporter", "reported_by",
                     "description", "address", "idempotency_key", "crs")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip()
        return v or None

    def fingerprint(self) -> str:
        """A hash of what the report asks, without its idempotency key: the same key with another
        report is refused."""
        data = self.model_dump(mode="json", exclude={"idempotency_key"})
        return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class Prepared:
    """A report checked and placed, ready to be alerted on and stored."""

    report: CaseReport
    cls: CaseClass
    place: Place
    at: dt.datetime
    component: str | None = None  # the component the case is about
    component_note: str | None = None  # what was found (or not) near the point
    placed_by: str | None = None  # the geocoder's standard address when the report gave an address
    notes: list[str] = field(default_factory=list)


def classify(report: CaseReport, classes: Classes) -> CaseClass:
    """The report's class: from its component code, or its (kind,) major and minor class given as
    codes or names; 400 naming what does not fit the class dictionary."""
    kind = report.kind
    if kind is not None and kind not in ("component", "event"):
        aliases = {"部件": "component", "部件类": "component", "事件": "event", "事件类": "event"}
        if kind not in aliases:
            raise Invalid(f"kind: {kind!r} is neither component (部件) nor event (事件)", parameter="kind", value=kind)
        kind = aliases[kind]
    major, minor = report.major_class, report.minor_class
    if report.component_code is not None:
        code = report.component_code
        if not CODES["component"].pattern.match(code):
            raise Invalid(f"component_code: {code!r} must be {CODES['component'].describe}",
                          parameter="component_code", value=code)
        if kind == "event":
            raise Invalid("component_code: an event case names no component", parameter="component_code", value=code)
        kind, major, minor = "component", major or code[6:8], minor or code[8:10]
        if (major, minor) != (code[6:8], code[8:10]):
            raise Invalid(f"component_code: {code} is of class {code[6:8]}/{code[8:10]}, the case says "
                          f"{major}/{minor}", parameter="component_code", value=code)
    if minor is None:
        raise Invalid("minor_class is required (or a component_code): the class of the problem",
                      parameter="minor_class")
    codes = {"major": major if major and major.isdigit() else None,
             "minor": minor if minor.isdigit() else None,
             "major_name": major if major and not major.isdigit() else None,
             "minor_name": minor if not minor.isdigit() else None}
    try:
        return classes.resolve(kind, **codes)
    except UnknownClass as exc:
        exc.details.setdefault("parameter", "minor_class")
        raise


def when(report: CaseReport, zone: str, now: dt.datetime) -> dt.datetime:
    """The report's time (now when it gives none; a naive one read in ``zone``); 400 for a time in
    the future or before 2000."""
    at = report.reported_at
    if at is None:
        return now
    if at.tzinfo is None:
        at = at.replace(tzinfo=zoneinfo.ZoneInfo(zone))
    if at > now + FUTURE_SLACK:
        raise Invalid(f"reported_at: {at.isoformat()} is in the future (the server's time is {now.isoformat()})",
                      parameter="reported_at", value=at.isoformat())
    if at < EARLIEST:
        raise Invalid(f"reported_at: {at.isoformat()} is before 2000", parameter="reported_at", value=at.isoformat())
    return at


def position(report: CaseReport, geocoder: Geocoder) -> tuple[float, float, str | None]:
    """CGCS2000 lon, lat of the report (from lon/lat in its crs, or its address through the running
    geocoder) and the standard address the geocoder read; 400 when neither places it."""
    if report.lon is not None or report.lat is not None:
        if report.lon is None or report.lat is None:
            raise Invalid("lon and lat go together", parameter="lon" if report.lon is None else "lat")
        lon, lat = unproject(report.lon, report.lat, parse_crs(report.crs))  # 400s of crs, lon/lat
        return lon, lat, None
    if report.address is None:
        raise Invalid("where: give lon and lat, or an address", parameter="lon")
    answer = geocoder.geocode(report.address, 1)
    best = answer.candidates[0] if answer.candidates else None
    if best is None or best.level == "area":
        raise Invalid(f"address: {report.address!r} cannot be placed: the geocoder finds no road, house, place or "
                      "grid for it" + (" (only an admin area)" if best is not None else ""),
                      parameter="address", value=report.address)
    lon, lat = geocoder.ix.plane.inv(best.x, best.y)
    return float(lon), float(lat), best.label


def prepare(report: CaseReport, classes: Classes, geocoder: Geocoder, supervisors: Supervisors, zone: str,
            now: dt.datetime) -> Prepared:
    """Check and place a report; every problem a 400 naming the field and value, nothing stored."""
    cls = classify(report, classes)
    at = when(report, zone, now)
    if report.reporter is not None and report.reporter not in supervisors.names:
        raise Invalid(f"reporter: {report.reporter!r} is not a supervisor of this server (give a supervisor id, or "
                      "name another reporter in reported_by)", parameter="reporter", value=report.reporter)
    lon, lat, placed_by = position(report, geocoder)
    place = locate(geocoder.ix, lon, lat)
    if place.code("district") is None:
        raise Invalid(f"lon/lat: ({lon:.6f}, {lat:.6f}) lies in no district of the gazetteer", parameter="lon/lat",
                      value=f"{lon},{lat}")
    return Prepared(report, cls, place, at, placed_by=placed_by)


def match_component(conn: psycopg.Connection, prepared: Prepared, radius_m: float) -> None:
    """A component case's component: the one it names (which must exist), or the nearest of its
    class within ``radius_m`` of the point, or a note that there is none."""
    if prepared.cls.kind != "component":
        return
    code = prepared.report.component_code
    lon, lat = prepared.place.lon, prepared.place.lat
    point = "ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490)"
    if code is not None:
        row = conn.execute(f"SELECT ST_Distance(geom::geography, {point}::geography) FROM components "
                           "WHERE code = %(code)s", {"code": code, "lon": lon, "lat": lat}).fetchone()
        if row is None:
            raise Invalid(f"component_code: no component {code}", parameter="component_code", value=code)
        prepared.component = code
        prepared.component_note = f"component {code} named, {row[0]:.1f} m from the point"
        return
    mx, _ = metres_per_degree(lat)
    row = conn.execute(
        f"SELECT code, ST_Distance(geom::geography, {point}::geography) AS d FROM components "
        f"WHERE major_class = %(major)s AND minor_class = %(minor)s AND ST_DWithin(geom, {point}, %(deg)s) "
        f"ORDER BY geom <-> {point} LIMIT 1",
        {"major": prepared.cls.major, "minor": prepared.cls.minor, "lon": lon, "lat": lat,
         "deg": radius_m / mx}).fetchone()
    if row is not None and row[1] <= radius_m:
        prepared.component = row[0]
        prepared.component_note = f"component {row[0]} ({prepared.cls.minor_name}) found {row[1]:.1f} m away"
    else:
        prepared.component_note = f"no {prepared.cls.minor_name} within {radius_m:g} m of the point"


# the case and its first event in one statement, atomic on the pool's autocommit connection (one
# round trip); l marks the statement's own transaction as logging its change of cases (migration
# 0010; set_config(..., true) lasts until that transaction ends, and the statement trigger counting
# the change fires at the statement's end). Was BEGIN, SET LOCAL, the insert and COMMIT in a psycopg
# pipeline: the same round trip, more of the server's CPU (this step 0.31 -> 0.25 ms). An idempotency
# key stored before fails in the statement's trigger (migration 0015: case_numbers_idempotency_key)
INSERT = """
WITH l AS (SELECT set_config('urbangis.logged', 'on', true) AS logged),
c AS (
    INSERT INTO cases (case_no, kind, major_class, minor_class, component_code, status, source, description, address,
                       supervisor_id, reporter, grid_code, district_code, responsibility_grid, reported_at, geom,
                       idempotency_key, request_hash, alerts)
    SELECT to_char(%(at)s::timestamptz, 'YYYYMMDD') || lpad(nextval('case_serial')::text, 8, '0'),
           %(kind)s, %(major)s, %(minor)s, %(component)s, 'reported', %(source)s, %(description)s, %(address)s,
           %(supervisor)s, %(reporter)s, %(grid)s, %(district)s, %(resp)s, %(at)s,
           ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490), %(key)s, %(hash)s, %(alerts)s
    FROM l
    RETURNING case_no),
e AS (
    INSERT INTO case_events (case_no, stage, at, actor, note)
    SELECT case_no, 'reported', %(at)s, %(actor)s, %(note)s FROM c)
SELECT case_no FROM c
"""


KEY_TAKEN = "case_numbers_idempotency_key"


def _json(value) -> bytes:
    """The alerts as stored: orjson (0.06 ms of an intake less than the standard library)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def row_of(prepared: Prepared, alerts: dict) -> dict:
    """The values of the case's row as stored (:data:`INSERT`'s parameters)."""
    r, place, cls = prepared.report, prepared.place, prepared.cls
    return {"at": prepared.at, "kind": cls.kind, "major": cls.major, "minor": cls.minor,
            "component": prepared.component, "source": r.source or ("监督员上报" if r.reporter else None),
            "description": r.description, "address": r.address or prepared.placed_by, "supervisor": r.reporter,
            "reporter": r.reported_by, "grid": place.unit_grid, "district": place.code("district"),
            "resp": place.resp_grid, "lon": place.lon, "lat": place.lat, "key": r.idempotency_key,
            "hash": r.fingerprint(), "alerts": Jsonb(alerts, dumps=_json), "actor": r.reporter or r.reported_by,
            "note": r.source}


def store(conn: psycopg.Connection, values: dict) -> psycopg.Cursor:
    """Send the insert of the case and its first event (:func:`row_of`) in the caller's
    transaction; the cursor's one row is the case's number. A case with the same idempotency key
    stored meanwhile fails the transaction with a unique violation of ``KEY_TAKEN``."""
    return conn.execute(INSERT, values)
