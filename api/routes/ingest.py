"""Bulk loading over HTTP for staff without shell access: upload a file as a job, follow it.

``POST /ingest/jobs`` takes a multipart upload (size-limited while it streams in), checks what it
really is (zip bombs, path traversal in archives and wrong file types are refused with a 4xx
before any job exists), and queues a job; ``GET /ingest/jobs/{id}`` tells its state, progress
and report. Loads run with the same loader, validation and guarantees as ``urbangis load``.
"""
from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
import shutil
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.formparsers import MultiPartException, MultiPartParser

from urbangis.access import roles as R
from urbangis.ingest.jobs import JobRunner
from urbangis.layers import scope
from urbangis.layers.contract import BY_NAME, TITLE_ZH
from urbangis.layers.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge, Unauthorized, UnsupportedMediaType

from ..auth import Digest, allow
from ..errors import error_response, parameter
from ..services import Services, base_url, get_services, services_of
from .maps import STATIC

log = logging.getLogger("urbangis.api.ingest")
router = APIRouter(prefix="/ingest", tags=["ingest"])
OFFERS = [("ingest", "/ingest/jobs", "application/json",
           "Bulk loading: POST a file (multipart) as a job, GET /ingest/jobs/{id} for its state and report"),
          ("ingest-page", "/ingest", "text/html", "Data loading page: upload a file, follow it, read its report")]


class NoToken(Unauthorized):
    """The ingest token is missing or wrong (401, asking for a bearer token)."""

    headers = {"WWW-Authenticate": "Bearer"}


_bearer = HTTPBearer(auto_error=False, description="URBANGIS_INGEST_TOKEN, when the server sets one")


async def require_token(services: Services = Depends(get_services),
                  credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """The jobs endpoints need the server's ingest token when it has one (URBANGIS_INGEST_TOKEN):
    loads write to the database, and reports and rejected rows hold the data."""
    token = services.settings.ingest.token
    if not token:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
        raise NoToken("the ingest jobs need this server's ingest token: send 'Authorization: Bearer <token>' "
                           "(the value of URBANGIS_INGEST_TOKEN on the server)" if not given else
                           "the ingest token sent is not this server's")


AUTH = [Depends(require_token), allow(*R.INGEST)]  # on every /ingest/jobs route


class _TooLarge(Exception):
    pass


def _safe_name(name: str | None) -> str:
    base = Path((name or "").replace("\\", "/")).name
    base = re.sub(r"[^\w.\-\u4e00-\u9fff]+", "_", base).strip("._") or "upload"
    return base[-120:]


async def _read_upload(request: Request, limit: int, dest: Path) -> tuple[Path, dict[str, str]]:
    """Stream the multipart body to ``dest``, refusing it as soon as it passes ``limit`` bytes."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise UnsupportedMediaType("send the file as multipart/form-data with a part named 'file'")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise TooLarge(f"upload of {int(declared) >> 20} MiB is over the limit of {limit >> 20} MiB")
    seen = 0
    digest = Digest.of(request)

    async def counted():
        nonlocal seen
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit + 64 * 1024:
                raise _TooLarge()
            digest.update(chunk)
            yield chunk

    parser = MultiPartParser(request.headers, counted(), max_files=1, max_fields=20)
    try:
        form = await parser.parse()
    except _TooLarge:
        raise TooLarge(f"upload is over the limit of {limit >> 20} MiB") from None
    except MultiPartException as exc:
        raise Invalid(f"the multipart body cannot be read: {exc.message}") from None
    digest.check()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise Invalid("no file: send the data as a multipart part named 'file'")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / _safe_name(upload.filename)
    size = 0
    with target.open("wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"upload is over the limit of {limit >> 20} MiB")
            out.write(chunk)
    await upload.close()
    fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    return target, fields


def _check_file(path: Path, max_unpacked: int) -> str:
    """What the upload is: a ReadError (415) for a type the loader does not read or a damaged archive,
    400 for an unsafe archive (UnsafeArchive) or a file without its parts (MissingParts)."""
    from urbangis.ingest.formats import detect_kind
    from urbangis.ingest.formats.archive import check

    kind = detect_kind(path)
    if kind == "shp":
        raise Invalid(f"{path.name}: a shapefile is several files; upload a zip holding its .shp, .shx and "
                      ".dbf (and .prj, .cpg)")
    if kind == "mapinfo":
        from urbangis.ingest.formats.mapinfo import check_parts

        check_parts(path)  # alone, a .tab lacks its .dat, .map and .id (a .mif with columns its .mid)
    if kind in ("zip", "kmz"):
        check(path, max_total=max_unpacked)
    return kind


def _options(fields: dict[str, str], request: Request) -> dict:
    from urbangis.ingest.crs import parse_source_crs

    def get(k: str) -> str | None:
        return fields.get(k) or request.query_params.get(k)

    mode = (get("mode") or "strict").strip().lower().replace("_", "-")
    if mode not in ("strict", "skip-invalid", "check"):
        raise Invalid(f"mode: {mode!r} is not one of strict, skip-invalid, check", parameter="mode")
    layer = get("layer")
    if layer and layer not in BY_NAME:
        raise Invalid(f"layer: {layer!r} is not a layer ({', '.join(BY_NAME)})", parameter="layer")
    crs = get("source_crs")
    if crs:
        with parameter("source_crs"):
            parse_source_crs(crs)
    replace = (get("replace") or "false").strip().lower()
    if replace not in ("true", "false", "1", "0", "yes", "no"):
        raise Invalid(f"replace: {replace!r} is not true or false", parameter="replace")
    return {"mode": mode, "layer": layer, "source_crs": crs, "replace": replace in ("true", "1", "yes")}


_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "GeoJSON, GeoPackage, CSV, XLSX, XLS, WPS ET, ODS, FlatGeobuf, KML/KMZ, "
                                        "or a zip (shapefiles, a File Geodatabase .gdb folder, MapInfo "
                                        ".tab/.mif with their parts, a gazetteer folder)"},
                "layer": {"type": "string", "enum": list(BY_NAME),
                          "description": "contract layer, when the file name does not say it"},
                "source_crs": {"type": "string", "description": "e.g. EPSG:4326, gcj02, bd09, or a PROJ "
                                                              "string / WKT (+towgs84 for Beijing 1954, Xi'an 1980)"},
                "mode": {"type": "string", "enum": ["strict", "skip-invalid", "check"], "default": "strict",
                         "description": "strict: all or nothing; skip-invalid: load the good rows; check: "
                                        "validate and report what would load, write nothing"},
                "replace": {"type": "boolean", "default": False},
            }}}},
    }
}


def _file(media: str, what: str) -> dict:
    """An OpenAPI 200 response of a file of type ``media`` (a JSON file is an object, text is a string)."""
    kind = "object" if media.endswith("json") else "string"
    return {"description": what, "content": {media: {"schema": {"type": kind}}}}


def _runner(request: Request) -> JobRunner:
    return services_of(request).jobs


def _job_links(base: str, job_id: str, files: dict | None = None) -> list[dict]:
    links = [{"rel": "self", "href": f"{base}/ingest/jobs/{job_id}", "type": "application/json"}]
    files = files or {}
    if files.get("json"):
        links.append({"rel": "report", "href": f"{base}/ingest/jobs/{job_id}/report", "type": "application/json"})
    if files.get("table"):
        links.append({"rel": "report-table", "href": f"{base}/ingest/jobs/{job_id}/report.txt", "type": "text/plain"})
    if files.get("rejected"):
        links.append({"rel": "rejected", "href": f"{base}/ingest/jobs/{job_id}/rejected",
                      "type": "application/geo+json"})
    for key in files:
        if key.startswith("rejected_csv:"):  # rows read from a CSV or XLSX, one CSV per layer
            layer = key.partition(":")[2]
            links.append({"rel": "rejected-table", "href": f"{base}/ingest/jobs/{job_id}/rejected/{layer}.csv",
                          "type": "text/csv", "title": layer})
    return links


@lru_cache(maxsize=1)
def _page() -> str:
    """The data-loading page (api/static/ingest.html) with the contract's layers to choose from."""
    from html import escape

    options = "\n      ".join(f'<option value="{escape(name)}">{escape(TITLE_ZH[name])} {escape(name)}</option>'
                              for name in BY_NAME)
    text = (STATIC / "ingest.html").read_text(encoding="utf-8")
    return text.replace("<!--LAYER_OPTIONS-->", options)


@router.get("", summary="The data-loading page (HTML): upload, follow, report", response_class=HTMLResponse)
def ingest_page() -> HTMLResponse:
    """A page for data staff: upload a file as a job, follow its progress, read its report, fetch the
    rejected rows, cancel it, see recent jobs. It uses only the JSON endpoints below."""
    return HTMLResponse(_page())


@router.get("/layers", summary="What each layer accepts: fields, formats, values, Chinese headings")
def list_layers(request: Request) -> dict:
    """The contract layers in load order (parents first), each with its key, geometry and fields:
    type, required, the format a code must have, an enumeration's values and the Chinese spellings
    read as them, the Chinese column headings accepted for a field; and the column names read as
    coordinates, WKT or an address in CSV/XLSX."""
    from urbangis.ingest.validate.accepts import describe

    base = base_url(request)
    layers = []
    for layer in BY_NAME.values():
        doc = describe(layer)
        doc["template"] = f"{base}/ingest/layers/{layer.name}/template.csv"
        layers.append(doc)
    return {"layers": layers}


@router.get("/layers/{name}/template.csv", summary="An empty CSV with the layer's columns, to fill in",
            response_class=Response, responses={200: _file("text/csv", "the header row")})
def layer_template(name: str) -> Response:
    from urbangis.ingest.validate.accepts import template_csv

    layer = BY_NAME.get(name)
    if layer is None:
        raise NotFound(f"no layer {name!r} (layers: {', '.join(BY_NAME)})")
    return Response(template_csv(layer), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@router.post("/jobs", dependencies=AUTH, status_code=202, summary="Upload a file to load, as a job",
             openapi_extra=_UPLOAD_DOC,
             responses={400: error_response("A bad option, an unsafe archive (path traversal, zip bomb), a bare .shp"),
                        413: error_response("The upload is over URBANGIS_INGEST_MAX_UPLOAD_MB"),
                        415: error_response("Not multipart, or a file of a type the loader does not read")})
async def create_job(request: Request) -> JSONResponse:
    """Queue a load of the uploaded file; answers 202 with the job's id and where to follow it."""
    settings = services_of(request).settings.ingest
    runner = _runner(request)
    incoming = runner.workdir / f"incoming-{uuid.uuid4().hex}"
    try:
        path, fields = await _read_upload(request, settings.max_upload_mb << 20, incoming)
        options = _options(fields, request)
        area = scope.current()
        if area is not None:
            if options["replace"]:
                raise Invalid(f"replace empties the whole layer, beyond the caller's area {area}: load without it "
                              "(rows are added or updated by their keys)", parameter="replace")
            options["area"] = area
        _check_file(path, settings.max_unpacked_mb << 20)
        job_id = runner.create(path.name, options)
        target = runner.job_dir(job_id) / "upload"
        incoming.rename(target)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    runner.submit(job_id, target / path.name)
    base = base_url(request)
    return JSONResponse({"id": job_id, "state": "queued", "filename": path.name, "options": options,
                         "links": _job_links(base, job_id)}, status_code=202,
                        headers={"Location": f"{base}/ingest/jobs/{job_id}"})


_IMAGERY_FIELDS = ("acquired", "site", "name", "bands")
_IMAGERY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file", "acquired"],
            "properties": {
                "file": {"type": "string", "format": "binary", "description": "a GeoTIFF in any CRS"},
                "acquired": {"type": "string", "format": "date", "description": "when it was taken (YYYY-MM-DD)"},
                "site": {"type": "string", "description": "the heritage site it covers (its id)"},
                "name": {"type": "string", "description": "a name for the epoch (default: the file's)"},
                "bands": {"type": "string", "description": "band names, comma-separated (default: red,green,"
                                                           "blue,nir for 3 or 4 bands)"},
            }}}},
    }
}


@router.post("/imagery", dependencies=AUTH, status_code=201, summary="Register a GeoTIFF as an imagery epoch",
             openapi_extra=_IMAGERY_DOC,
             responses={200: {"description": "The same image was registered for that date before: that epoch"},
                        400: error_response("Not a readable GeoTIFF, no CRS, a bad date or field"),
                        403: error_response("The image lies outside the caller's area"),
                        404: error_response("No such heritage site"),
                        413: error_response("The upload is over URBANGIS_INGEST_MAX_UPLOAD_MB"),
                        415: error_response("Not multipart")})
async def register_imagery(request: Request) -> JSONResponse:
    """Register an orthoimage of a date (`urbangis heritage register` over HTTP): kept as a
    Cloud-Optimized GeoTIFF aligned to the map's tile grid, listed at `/heritage/imagery` and
    served as raster tiles; the change detection compares two such epochs. The same image
    registered again for the same date is the same epoch (200, nothing stored twice). The COG is
    made while the request waits (about a second for a 1,000 x 1,000 px, 4-band image here)."""
    from urbangis.ingest.imagery import register

    services = services_of(request)
    incoming = _runner(request).workdir / f"imagery-{uuid.uuid4().hex}"
    try:
        path, fields = await _read_upload(request, services.settings.ingest.max_upload_mb << 20, incoming)
        fields = {**dict(request.query_params), **fields}
        unknown = sorted(set(fields) - set(_IMAGERY_FIELDS))
        if unknown:
            raise Invalid(f"{unknown[0]}: not a field of an imagery registration ({', '.join(_IMAGERY_FIELDS)})",
                          parameter=unknown[0])
        acquired = _past_date(fields.get("acquired"), "acquired", services.settings.database.timezone)
        site = (fields.get("site") or "").strip() or None
        bands = tuple(b.strip() for b in fields["bands"].split(",")) if fields.get("bands") else None
        folder = services.settings.heritage.imagery_folder(services.settings.database.home)

        def run():
            _imagery_in_area(services, path, site)
            with scope.unscoped(), services.pool.connection() as conn:  # (checked in the area just above)
                return register(conn, path, acquired, folder, name=(fields.get("name") or "").strip() or None,
                                site_id=site, band_names=bands)
        epoch = await run_in_threadpool(run)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    base = base_url(request)
    return JSONResponse({
        "id": epoch.id, "name": epoch.name, "acquired": epoch.acquired.isoformat(), "site_id": epoch.site_id,
        "pixel_m": epoch.pixel_m, "bands": epoch.bands, "created": epoch.created,
        "tiles": f"{base}/heritage/imagery/{epoch.id}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}.png"},
        status_code=201 if epoch.created else 200,
        headers={"Location": f"{base}/heritage/imagery" + (f"?site={epoch.site_id}" if epoch.site_id else "")})


def _past_date(value: str | None, name: str, zone: str) -> dt.date:
    """A date (YYYY-MM-DD) not after today where the server is (``zone``): when an image was taken."""
    if not value:
        raise Invalid(f"{name}: required, the date the image was taken (YYYY-MM-DD)", parameter=name)
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{name}: {value!r} is not a date (YYYY-MM-DD)", parameter=name, value=value) from None
    if day > dt.datetime.now(ZoneInfo(zone)).date():
        raise Invalid(f"{name}: {day} is in the future", parameter=name, value=value)
    return day


def _imagery_in_area(services: Services, path: Path, site: str | None) -> None:
    """The site exists and the caller sees it; a caller bound to an area registers imagery that
    reaches into it (its footprint intersects the area's outline, as PostgreSQL tests it)."""
    import shapely

    from urbangis.ingest.imagery import describe

    footprint = describe(path)["footprint"]
    with scope.connection(services.pool) as conn:
        if site and conn.execute("SELECT 1 FROM heritage_sites WHERE id = %s", (site,)).fetchone() is None:
            raise NotFound(f"site: no heritage site {site!r}", parameter="site", value=site)
        area = scope.current()
        if area is not None and conn.execute(
                "SELECT 1 WHERE _ST_Intersects(ST_SetSRID(ST_GeomFromWKB(%s), 4490), urbangis_scope_area())",
                (shapely.to_wkb(footprint),)).fetchone() is None:
            raise Forbidden(f"{path.name}: the image lies outside the caller's area {area}", parameter="file")


@router.get("/jobs", dependencies=AUTH, summary="Recent ingest jobs")
def list_jobs(request: Request, limit: int = Query(50, ge=1, le=500, description="How many jobs")) -> dict:
    """The most recent jobs, newest first."""
    base = base_url(request)
    jobs = _runner(request).recent(limit)
    for job in jobs:
        job["links"] = _job_links(base, job["id"])
    return {"jobs": jobs}


@router.get("/jobs/{job_id}", dependencies=AUTH, summary="State, progress and report of an ingest job")
def get_job(request: Request, job_id: uuid.UUID) -> dict:
    """State (queued, running, loaded, checked, rejected, failed, cancelled), progress and the report once done."""
    job = _runner(request).get(str(job_id))
    if job is None:
        raise NotFound(f"no ingest job {job_id}")
    total, done = job.pop("rows_total"), job.pop("rows_done")
    job["progress"] = {"layer": job.pop("layer"), "phase": job.pop("phase"), "rows_done": done, "rows_total": total,
                       "percent": round(100 * done / total, 1) if total else None}
    files = (job.get("report") or {}).get("files") or {}
    job["links"] = _job_links(base_url(request), job["id"], files)
    return job


@router.delete("/jobs/{job_id}", dependencies=AUTH, summary="Cancel an ingest job",
               responses={200: {"description": "the job, as GET returns it, once it has ended"},
                          202: {"description": "the cancellation is under way (a long rollback): poll the job"},
                          409: {"description": "the job had already ended; nothing to cancel"}})
def cancel_job(request: Request, job_id: uuid.UUID) -> JSONResponse:
    """Cancel a queued or running job. A queued one never starts; a running one is stopped where it
    is and its transaction rolled back, so nothing of it is written (state `cancelled`). Answers
    once the job has ended (200), or after 15 s with 202 if its rollback is still going on; again
    on a cancelled job, 200. A job that has ended otherwise cannot be cancelled (409): a finished
    load is undone by loading again (`replace`)."""
    runner = _runner(request)
    state = runner.cancel(str(job_id))
    if state is None:
        raise NotFound(f"no ingest job {job_id}")
    if state not in ("cancelled", "running"):
        raise Conflict(f"job {job_id} has already ended ({state}); there is nothing to cancel")
    if state == "running":
        state = runner.wait_cancelled(str(job_id))
    job = get_job(request, job_id)
    return JSONResponse(jsonable_encoder(job), status_code=202 if state == "running" else 200)


def _job_file(request: Request, job_id: uuid.UUID, name: str, media: str, missing: str) -> FileResponse:
    """One of a job's files. Asked for while the job is queued or running, a 409 that says so (its
    files are written when it ends), not a 404 a client would take for "there is none"; ``missing``
    says why an ended job has none."""
    runner = _runner(request)
    job = runner.get(str(job_id))
    if job is None:
        raise NotFound(f"no ingest job {job_id}")
    path = runner.job_dir(str(job_id)) / name
    if not path.exists():
        if job["state"] in ("queued", "running"):
            raise Conflict(f"job {job_id} is {job['state']} ({job['phase'] or 'waiting'}, {job['rows_done']:,} rows "
                           f"so far): its {name} is written when it ends; follow GET /ingest/jobs/{job_id}")
        raise NotFound(f"job {job_id} ({job['state']}) {missing}")
    return FileResponse(path, media_type=media, filename=f"{job_id}-{name}")


_NO_REPORT = ("has no report: it was cancelled, or stopped by a database failure, before one was written "
              "(GET /ingest/jobs/{id} says which)")
# (keyed as FastAPI's ``responses`` are, so that it can be merged into theirs)
_RUNNING: dict[int | str, dict[str, Any]] = {
    409: error_response("The job is still queued or running: its files are written when it ends"),
}


@router.get("/jobs/{job_id}/report", dependencies=AUTH, summary="The job's full report (JSON, every issue)",
            response_class=FileResponse,
            responses={200: {"description": "the report",
                             "content": {"application/json": {"schema": {"type": "object"}}}}, **_RUNNING})
def job_report(request: Request, job_id: uuid.UUID) -> FileResponse:
    return _job_file(request, job_id, "report.json", "application/json", _NO_REPORT)


@router.get("/jobs/{job_id}/report.txt", dependencies=AUTH, summary="The job's report as a readable table",
            response_class=FileResponse,
            responses={200: _file("text/plain", "the report as a table"), **_RUNNING})
def job_report_table(request: Request, job_id: uuid.UUID) -> FileResponse:
    return _job_file(request, job_id, "report.txt", "text/plain; charset=utf-8", _NO_REPORT)


@router.get("/jobs/{job_id}/rejected", dependencies=AUTH, summary="The rows the job set aside (GeoJSON)",
            response_class=FileResponse,
            responses={200: _file("application/geo+json", "the rejected rows"), **_RUNNING})
def job_rejected(request: Request, job_id: uuid.UUID) -> Response:
    """An ended job that set no rows aside answers an empty collection (the rows it set aside: none)."""
    try:
        return _job_file(request, job_id, "report.rejected.geojson", "application/geo+json", "set no rows aside")
    except NotFound:
        if _runner(request).get(str(job_id)) is None:
            raise
        return Response(b'{"type":"FeatureCollection","features":[]}', media_type="application/geo+json")


@router.get("/jobs/{job_id}/rejected/{layer}.csv", dependencies=AUTH,
            summary="One layer's rejected rows as CSV (rows read from CSV/XLSX)",
            response_class=FileResponse, responses={200: _file("text/csv", "the layer's rejected rows"), **_RUNNING})
def job_rejected_table(request: Request, job_id: uuid.UUID, layer: str) -> FileResponse:
    """The rows of ``layer`` the job set aside, for a load from a CSV or XLSX: the reasons beside
    each row, UTF-8 with a byte-order mark for Excel; fixed and uploaded again, each row goes back
    to its layer."""
    if layer not in BY_NAME:
        raise NotFound(f"no layer {layer!r} (layers: {', '.join(BY_NAME)})")
    return _job_file(request, job_id, f"report.rejected.{layer}.csv", "text/csv; charset=utf-8",
                     f"set aside no rows of {layer} read from a CSV or spreadsheet")


def install(app: FastAPI) -> None:
    """Include the ingest routes (the job runner runs in the app's services)."""
    app.include_router(router)
