"""Heritage-change monitoring (docs/heritage.md): sites, imagery epochs and their raster tiles, a
site's change report (JSON or HTML), a patch's before/after view and its review. The work is in
``heritage/`` (detection, rules, store, report), ``ingest/imagery.py`` and ``tiles/imagery.py``."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from urbangis.access import roles as R
from urbangis.heritage import report as reportlib
from urbangis.heritage import store
from urbangis.layers import scope
from urbangis.layers.errors import NotFound, Unavailable
from urbangis.tiles.imagery import FORMATS, MissingImage, OutsideImage

from ..auth import allow
from ..services import Services, base_url, get_services

router = APIRouter(tags=["heritage"])
READ, REVIEW = [allow(*R.READ)], [allow(*R.HERITAGE_REVIEW)]

OFFERS = [
    ("heritage-sites", "/heritage/sites", "application/json", "Heritage sites and their protection zones"),
    ("heritage-imagery", "/heritage/imagery", "application/json", "Imagery epochs and their raster tiles"),
]


def install(app: FastAPI) -> None:
    """Include the heritage routes."""
    app.include_router(router)


@router.get("/heritage/sites", dependencies=READ, summary="Heritage sites, with their zones and patches counted")
def sites(services: Services = Depends(get_services)) -> JSONResponse:
    with scope.connection(services.reads) as conn:
        rows = conn.execute(
            "SELECT s.id, s.name, s.kind, s.level, s.district_code, s.provenance, "
            "(SELECT count(*) FROM protection_zones z WHERE z.site_id = s.id), "
            "(SELECT count(*) FROM imagery_epochs e WHERE e.site_id = s.id), "
            "ARRAY[ST_XMin(s.geom), ST_YMin(s.geom), ST_XMax(s.geom), ST_YMax(s.geom)] "
            "FROM heritage_sites s ORDER BY s.id").fetchall()
        runs = reportlib.runs_by_site(conn)  # the patches each report counts, and the runs stored
    return JSONResponse({"sites": [
        {"id": r[0], "name": r[1], "kind": r[2], "level": r[3], "district_code": r[4], "provenance": r[5],
         "zones": r[6], "patches": sum(x["patches"] for x in runs.get(r[0], []) if x["shown"]),
         "runs": len(runs.get(r[0], [])), "epochs": r[7], "bbox": r[8], "report": f"/heritage/sites/{r[0]}/report"}
        for r in rows]})


@router.get("/heritage/sites/{site_id}/report", dependencies=READ,
            summary="A site's changes between two dates: by class and zone, violations, reviews, patches")
def site_report(site_id: str, request: Request, services: Services = Depends(get_services),
                date_from: Annotated[dt.date | None, Query(alias="from", description="first date (YYYY-MM-DD)")] = None,
                date_to: Annotated[dt.date | None, Query(alias="to", description="last date (YYYY-MM-DD)")] = None,
                run: Annotated[str | None, Query(description="one run only (default: the latest run of each pair "
                                                             "of dates; `runs` in the report lists them)")] = None,
                f: Annotated[Literal["json", "html"] | None, Query(description="json or html (default: by Accept)")]
                = None):
    """Counts and areas by class (new construction, demolition, alteration, vegetation loss and
    gain, water change, other) and by protection zone, the violations of the zones' rules, the
    reviews, and every patch whose before and after dates lie in [from, to]: of the latest run of
    each pair of dates (an earlier detection of the same images is listed under `runs` with what
    superseded it, and shown with `run=`). As a readable page (`f=html`, or a browser's Accept)
    with a map and before/after views."""
    store.check_dates(date_from, date_to)
    with scope.connection(services.reads) as conn:
        doc = reportlib.build(conn, site_id, date_from, date_to, run)
    wants_html = f == "html" or (f is None and "text/html" in request.headers.get("accept", ""))
    if wants_html:
        return HTMLResponse(reportlib.render(doc, base_url(request)))
    return JSONResponse(doc)


@router.get("/heritage/imagery", dependencies=READ, summary="Registered imagery epochs")
def epochs(services: Services = Depends(get_services),
           site: Annotated[str | None, Query(description="only the epochs of this site")] = None) -> JSONResponse:
    with scope.connection(services.reads) as conn:
        rows = conn.execute("SELECT id, name, acquired, site_id, source, source_crs, bands, band_names, pixel_m, "
                            "width, height, ST_AsGeoJSON(geom, 7)::json FROM imagery_epochs "
                            "WHERE %s::text IS NULL OR site_id = %s ORDER BY acquired, id", (site, site)).fetchall()
    return JSONResponse({"epochs": [
        {"id": r[0], "name": r[1], "acquired": r[2].isoformat(), "site_id": r[3], "source": r[4], "source_crs": r[5],
         "bands": r[6], "band_names": r[7], "pixel_m": r[8], "width": r[9], "height": r[10], "footprint": r[11],
         "tiles": f"/heritage/imagery/{r[0]}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}.png"} for r in rows]})


def _epoch_path(services: Services, epoch_id: int) -> str:
    with scope.connection(services.reads) as conn:
        row = conn.execute("SELECT path FROM imagery_epochs WHERE id = %s", (epoch_id,)).fetchone()
    if row is None:
        raise NotFound(f"no imagery epoch {epoch_id}", parameter="epoch", value=epoch_id)
    return row[0]


@router.get("/heritage/imagery/{epoch_id}/tiles/WebMercatorQuad/{z}/{y}/{x}.{fmt}", dependencies=READ,
            summary="A raster tile of an imagery epoch (PNG, JPEG or WebP)",
            responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}})
def imagery_tile(epoch_id: int, z: Annotated[int, Path(ge=0, le=24)], y: Annotated[int, Path(ge=0)],
                 x: Annotated[int, Path(ge=0)], fmt: Literal["png", "jpg", "webp"],
                 services: Services = Depends(get_services),
                 bands: Annotated[str, Query(pattern=r"^\d{1,2}(,\d{1,2}){2}$",
                                             description="three band numbers as red,green,blue")] = "1,2,3"):
    if x >= 1 << z or y >= 1 << z:
        raise NotFound(f"tile {z}/{y}/{x} is outside the WebMercatorQuad matrix of zoom {z}")
    rel = _epoch_path(services, epoch_id)
    chosen = tuple(int(b) for b in bands.split(","))
    try:
        body = services.imagery.tile(rel, z, x, y, fmt, chosen)
    except OutsideImage as exc:
        raise NotFound(str(exc)) from None
    except IndexError:
        raise NotFound(f"bands {bands}: the epoch has fewer bands", parameter="bands", value=bands) from None
    except MissingImage as exc:
        raise Unavailable(str(exc)) from None
    return Response(body, media_type=FORMATS[fmt][1], headers={"Cache-Control": "max-age=3600"})


@router.get("/heritage/patches/{patch_id}/view.png", dependencies=READ,
            summary="A patch seen on the imagery of its before or after date (PNG, the patch's surroundings)")
def patch_view(patch_id: int, services: Services = Depends(get_services),
               when: Annotated[Literal["before", "after"], Query()] = "after") -> Response:
    with scope.connection(services.reads) as conn:
        row = conn.execute(
            "SELECT e.path, ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM change_patches p "
            "JOIN imagery_epochs e ON e.id = CASE WHEN %s = 'before' THEN p.before_epoch ELSE p.after_epoch END, "
            "LATERAL (SELECT ST_Expand(ST_Envelope(p.geom), greatest(ST_XMax(p.geom) - ST_XMin(p.geom), "
            "ST_YMax(p.geom) - ST_YMin(p.geom), 0.0004)) AS b) s WHERE p.id = %s", (when, patch_id)).fetchone()
    if row is None:
        raise NotFound(f"no change patch {patch_id} with imagery of its {when} date", parameter="id", value=patch_id)
    try:
        body = services.imagery.view(row[0], tuple(row[1:5]))
    except MissingImage as exc:
        raise Unavailable(str(exc)) from None
    return Response(body, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


class ReviewIn(BaseModel):
    review: Literal["待核查", "属实", "不属实", "pending", "confirmed", "rejected"] = Field(
        description="待核查 (pending), 属实 (confirmed: the change is real) or 不属实 (rejected: it is not)")
    note: str | None = Field(default=None, max_length=2000, description="what the inspector found")


@router.patch("/heritage/patches/{patch_id}", dependencies=REVIEW, summary="An inspector's review of a change patch")
def review_patch(patch_id: int, request: Request, body: ReviewIn = Body(...),
                 services: Services = Depends(get_services)) -> JSONResponse:
    """Sets the review (待核查 -> 属实 / 不属实) with who and when; 404 for a patch the caller cannot see."""
    caller = request.state.caller  # found by the route's guard (api/auth.py)
    with scope.connection(services.pool) as conn:
        done = store.review(conn, patch_id, body.review, caller.actor, body.note)
    return JSONResponse(done)
