"""Case operations over HTTP: intake with its alerts, the alerts alone, a case and its history,
the workflow, the class dictionary, supervisors' GPS fixes and positions, patrol check-ins. The
work is in ``cases/``; errors carry their statuses."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Depends, FastAPI, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from urbangis.access import roles as R
from urbangis.cases import patrols, workflow
from urbangis.cases.intake import CaseReport
from urbangis.cases.service import CaseService
from urbangis.layers import scope

from ..auth import allow
from ..errors import error_response
from ..services import services_of

router = APIRouter(tags=["cases"])
READ, WRITE = [allow(*R.CASES_READ)], [allow(*R.CASES_WRITE)]  # the roles of each route

OFFERS = [
    ("cases", "/cases", "application/json", "Case intake (POST) with cross-grid and similar-case alerts"),
    ("cases-check", "/cases/check", "application/json", "The alerts a report would raise, nothing stored"),
    ("case-classes", "/cases/classes", "application/json", "The class dictionary of components and events"),
]


def install(app: FastAPI) -> None:
    """Include the case routes (the case service runs in the app's services)."""
    app.include_router(router)


async def _cases(request: Request) -> CaseService:
    # the request itself, not Depends(get_services): each level of dependencies costs FastAPI ~50 us
    return services_of(request).cases


Cases = Annotated[CaseService, Depends(_cases)]


def _json(body: dict, status_code: int = 200, headers: dict | None = None) -> Response:
    """A JSON answer encoded by orjson (times as ISO 8601 with their offset, as ``isoformat``):
    ~0.1 ms of an intake's CPU less than FastAPI's encoder or the standard library's."""
    return Response(orjson.dumps(body, default=_number, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status_code,
                    headers=headers, media_type="application/json")


def _number(value):
    """A numeric column's value (Decimal), as FastAPI's encoder gave it: a number."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


@router.post("/cases", dependencies=WRITE, status_code=201,
             summary="Take in a case: placed, classified, stored with its alerts",
             responses={200: {"description": "A retried request (same idempotency key): the case stored the first "
                                             "time, with `Idempotent-Replayed: true`"},
                        422: error_response("The idempotency key was used for another report")})
def take_case(cases: Cases, report: CaseReport = Body(...),
              idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> Response:
    """Store a case reported by a supervisor, the 12345 hotline, the public or a camera, and answer
    with the case (its admin chain, unit and responsibility grid, component) and its alerts:
    `cross_grid` (null, or where the report lies and whose grid that is, when a supervisor reports
    outside all of their grids) and `similar` (known cases of the same class nearby and recent, best
    first). A retried request with the same `Idempotency-Key` (header or field) returns the case
    stored the first time; nothing is stored twice."""
    if idempotency_key and not report.idempotency_key:
        report = report.model_copy(update={"idempotency_key": idempotency_key.strip() or None})
    body, created = cases.take(report)
    headers = {"Location": f"/cases/{body['case']['case_no']}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return _json(body, 201 if created else 200, headers)


@router.get("/cases/check", dependencies=READ, response_model=dict,
            summary="The alerts a report would raise, nothing stored")
def check_case(
    cases: Cases,
    lon: float | None = Query(None, description="longitude (or easting in crs)"),
    lat: float | None = Query(None, description="latitude (or northing in crs)"),
    major_class: str | None = Query(None, description="2-digit major class, or its name"),
    minor_class: str | None = Query(None, description="2-digit minor class, or its name"),
    kind: str | None = Query(None, description="component or event (read from the class when unique)"),
    component_code: str | None = Query(None, description="the component a component case is about"),
    reporter: str | None = Query(None, description="the reporting supervisor's id"),
    reported_at: dt.datetime | None = Query(None, description="when (default now)"),
    crs: str | None = Query(None, description="CRS of lon/lat (default CRS84)"),
    address: str | None = Query(None, description="where, as an address, instead of lon/lat"),
) -> Response:
    """`cross_grid` and `similar`, as POST /cases answers them, for a report not stored."""
    report = CaseReport(lon=lon, lat=lat, major_class=major_class, minor_class=minor_class, kind=kind,
                        component_code=component_code, reporter=reporter, reported_at=reported_at, crs=crs,
                        address=address)
    return _json(cases.check(report))


@router.get("/cases/classes", dependencies=READ,
             summary="The class dictionary: major and minor classes of components and events")
def case_classes(cases: Cases, kind: str | None = Query(None, description="component or event")) -> dict:
    rows = [c for c in cases.classes.all if kind is None or c.kind == kind]
    return {"classes": [{"kind": c.kind, "major_class": c.major, "major_name": c.major_name, "minor_class": c.minor,
                         "minor_name": c.minor_name} for c in rows]}


@router.get("/cases/{case_no}", dependencies=READ, response_model=dict,
            summary="A case with its history (stage, time, actor) and its alerts")
def get_case(case_no: str, cases: Cases) -> Response:
    return _json(cases.get(case_no))


class EventIn(BaseModel):
    """A step of the workflow."""

    to: str = Field(description="the stage the case moves to: " + ", ".join(workflow.NEXT),
                    json_schema_extra={"enum": list(workflow.NEXT)})
    actor: str | None = Field(None, max_length=200, description="who moves it (an operator, a department)")
    note: str | None = Field(None, max_length=workflow.MAX_NOTE)
    at: dt.datetime | None = Field(None, description="when (default now); with its offset")


@router.post("/cases/{case_no}/events", dependencies=WRITE, status_code=201,
             summary="Move a case on in its workflow (GB/T 30428.8)",
             responses={409: error_response("The workflow does not allow that move from the case's stage")})
def move_case(case_no: str, event: EventIn, cases: Cases) -> Response:
    """Moves allowed: reported -> registered | not_registered | cancelled; registered -> dispatched |
    cancelled; dispatched -> handling | registered; handling -> handled; handled -> verified |
    dispatched; verified -> closed. A handled case whose responsibility grid has exactly one
    supervisor gets its verification assigned to them (`event.verification`)."""
    done = cases.move(case_no, workflow.Move(event.to, event.actor, event.note, event.at))
    return _json(done, 201)


@router.get("/cases/{case_no}/nearest-supervisors", dependencies=READ, response_model=dict,
            summary="The on-duty supervisors nearest a case")
def nearest_supervisors(case_no: str, cases: Cases, limit: int = Query(5, ge=1, le=50)) -> Response:
    case = cases.get(case_no)["case"]
    with scope.connection(cases.reads) as conn:
        found = patrols.nearest_on_duty(conn, case["lon"], case["lat"], cases.settings.on_duty_minutes, limit,
                                        dt.datetime.now(dt.timezone.utc))
    return _json({"case_no": case_no, "on_duty_minutes": cases.settings.on_duty_minutes, "supervisors": found})


class FixesIn(BaseModel):
    """A batch of GPS fixes."""

    fixes: list[patrols.Fix] = Field(max_length=patrols.MAX_FIXES)


@router.post("/supervisors/fixes", dependencies=WRITE, status_code=201,
             summary="Post a batch of supervisors' GPS fixes")
def post_fixes(batch: FixesIn, cases: Cases) -> dict:
    """The good fixes are stored (tracks, partitioned by day) and move each supervisor's last known
    position; each bad one is set aside with its index and reason."""
    with scope.connection(cases.pool) as conn:
        result = patrols.post_fixes(conn, batch.fixes, cases.zone, dt.datetime.now(dt.timezone.utc))
    return {"accepted": result.accepted, "rejected": result.rejected, "positions_updated": result.positions_updated}


@router.get("/supervisors/positions", dependencies=READ, summary="Supervisors' last known positions (GeoJSON)")
def positions(cases: Cases) -> dict:
    with scope.connection(cases.reads) as conn:
        rows = conn.execute("SELECT p.supervisor_id, s.name, p.at, p.accuracy_m, ST_X(p.geom), ST_Y(p.geom), "
                            "p.at >= now() - make_interval(mins => %s) FROM supervisor_positions p "
                            "JOIN supervisors s ON s.id = p.supervisor_id ORDER BY p.supervisor_id",
                            (cases.settings.on_duty_minutes,)).fetchall()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": sid, "geometry": {"type": "Point", "coordinates": [x, y]},
         "properties": {"name": name, "at": at.isoformat(), "accuracy_m": acc, "on_duty": duty}}
        for sid, name, at, acc, x, y, duty in rows]}


@router.post("/patrols/checkins", dependencies=WRITE, status_code=201, response_model=dict,
             summary="Check in at a patrol point (巡更打卡)",
             responses={404: error_response("No supervisor or patrol point of that id")})
def check_in(checkin: patrols.CheckIn, cases: Cases) -> Response:
    """Accepted when the supervisor stands inside one of their own grids, the patrol point belongs
    to one of them, and they are within URBANGIS_CASES_CHECKIN_M of it; otherwise `accepted` is false
    and `reasons` say what was wrong. Either way the check-in is recorded."""
    with scope.connection(cases.pool) as conn:
        return _json(patrols.check_in(conn, checkin, cases.settings.checkin_m, cases.zone,
                                      dt.datetime.now(dt.timezone.utc)), 201)
