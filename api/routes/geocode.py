"""Geocoding: GET /geocode, GET /reverse, POST /geocode/batch, GET /geocode/suggest,
GET /geocode/status. Answers come from the in-process index of :mod:`geocoder`, which a
background thread keeps in step with the database (see docs/geocoder.md)."""
from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
from typing import cast

import numpy as np
import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse

from urbangis.access import roles as R
from urbangis.access.areas import Outlines
from urbangis.geocoder.batch import (
    CSV_FIELDS,
    MAX_ROWS,
    BatchError,
    csv_record,
    geocode_rows,
    rows_from_csv,
    rows_from_json,
)
from urbangis.geocoder.engine import MAX_QUERY_CHARS, Geocoder, check_query
from urbangis.geocoder.output import answer_dict, parse_crs, project, reverse_dict, unproject
from urbangis.geocoder.reverse import DEFAULT_RADIUS, MAX_RADIUS, reverse
from urbangis.geocoder.suggest import MAX_SUGGESTIONS, suggest
from urbangis.layers import scope
from urbangis.layers.errors import Forbidden, Invalid, NotFound, TooLarge, Unavailable, UnsupportedMediaType

from ..auth import allow
from ..errors import contract_requires, error_response, parameter
from ..services import Services, get_services

router = APIRouter(tags=["geocoding"])

READY_WAIT = 30.0  # seconds a request waits for the first index before a 503
MAX_BATCH_BYTES = 64 * 1024 * 1024
OFFERS = [
    ("geocode", "/geocode?q=", "application/json", "Geocode: address -> coordinate, grids, admin chain (18 models)"),
    ("reverse", "/reverse?lon=&lat=", "application/json", "Reverse geocode: coordinate -> standard address"),
    ("geocode-batch", "/geocode/batch", "application/x-ndjson", "Batch geocode (POST a JSON list or a CSV)"),
    ("geocode-suggest", "/geocode/suggest?q=", "application/json", "Address autocomplete"),
]


def install(app: FastAPI) -> None:
    """Include the geocoding routes (the index service runs in the app's services)."""
    app.include_router(router, dependencies=[allow(*R.GEOCODE)])


_OUTLINES = Outlines()


class _InArea:
    """The geocoder as a caller bound to an area sees it: candidates outside the area's outline
    (PostgreSQL's, access/areas.py) are not answered."""

    def __init__(self, g: Geocoder, inside):
        self.g, self.inside, self.ix = g, inside, g.ix

    def __getattr__(self, name: str):  # everything but the answers is the geocoder's own
        return getattr(self.g, name)

    def geocode(self, text: str, limit: int = 5):
        ans = self.g.geocode(text, limit)
        if ans.candidates:
            xs, ys = np.array([c.x for c in ans.candidates]), np.array([c.y for c in ans.candidates])
            lon, lat = self.ix.plane.inv(xs, ys)
            keep = self.inside(lon, lat)
            kept = [c for c, k in zip(ans.candidates, keep) if k]
            # the areas a tie spans, as far as this caller sees them (none outside its area)
            seen = {a["code"] for c in kept for a in c.chain}
            areas = [a for a in ans.ambiguous
                     if any(code.startswith(a["code"][:4] if a["level"] == "city" else a["code"]) for code in seen)]
            ans = dataclasses.replace(ans, candidates=kept, ambiguous=areas if len(areas) > 1 else [])
        return ans


async def get_geocoder(services: Services = Depends(get_services)) -> Geocoder:
    """The current geocoder (503 while the first index is still being built)."""
    service = services.geocoder
    g = service.geocoder
    if g is None:  # only before the first index: wait for it off the event loop
        g = await asyncio.to_thread(service.wait_ready, READY_WAIT)
    if g is None:
        reason = f": {service.error}" if service.error else ""
        raise Unavailable(f"the geocoder index is still being built{reason}; retry in a few seconds")
    area = scope.current()
    if area is not None:
        # the outline read once a minute (off the event loop), tested in the process in between
        inside = _OUTLINES.cached(area) or await asyncio.to_thread(_outline_test, services, area)
        return cast(Geocoder, _InArea(g, inside))
    return g


def _outline_test(services: Services, area: str):
    with scope.connection(services.pool) as conn:
        return _OUTLINES.test(conn, area)


def _query(q: str | None) -> str:
    if q is None:
        raise Invalid("q is required: the address to geocode", parameter="q")
    with parameter("q"):
        return check_query(q)


@router.get("/geocode", summary="Geocode an address (all 18 combination models)",
            openapi_extra=contract_requires("q"),
            responses={404: error_response("No gazetteer feature matches the address (the body says how it was read)")})
async def geocode(
    q: str | None = Query(None, description=f"The address, at most {MAX_QUERY_CHARS} characters."),
    limit: int = Query(5, ge=1, le=20, description="How many candidates at most (the best plus others)."),
    crs: str | None = Query(None, description="Output CRS: CRS84 (default), EPSG:4490, EPSG:4326, EPSG:3857 or a "
                                              "CGCS2000 Gauss-Kruger zone EPSG:4534-4554 (Urumqi: 4538)."),
    g: Geocoder = Depends(get_geocoder),
):
    text = _query(q)
    out_crs = parse_crs(crs)
    ans = g.geocode(text, limit)
    if not ans.candidates and ans.unplaced:
        named = ", ".join(f"{name} ({code})" for code, name in ans.unplaced)
        raise NotFound(f"q={text!r} names {named}, which the gazetteer holds without an outline (loaded from a "
                       "code list): there is no coordinate to give until its outline is loaded",
                       parameter="q", value=text, normalised=ans.normalised)
    if not ans.candidates:
        raise NotFound(f"no gazetteer feature matches q={text!r} (read as {ans.normalised!r})",
                       parameter="q", value=text, normalised=ans.normalised)
    return answer_dict(g.ix, ans, out_crs)


@router.get("/reverse", summary="Reverse geocode a coordinate", openapi_extra=contract_requires("lon", "lat"))
async def reverse_geocode(
    lon: float | None = Query(None, description="Longitude (or easting in a projected crs)."),
    lat: float | None = Query(None, description="Latitude (or northing in a projected crs)."),
    crs: str | None = Query(None, description="CRS of lon/lat and of the answer; default CRS84."),
    radius: float = Query(DEFAULT_RADIUS, gt=0, le=MAX_RADIUS, description="Search radius in metres."),
    g: Geocoder = Depends(get_geocoder),
):
    if lon is None or lat is None:
        raise Invalid("lon and lat are both required", parameter="lon" if lon is None else "lat")
    in_crs = parse_crs(crs)
    glon, glat = unproject(lon, lat, in_crs)
    if isinstance(g, _InArea) and not g.inside(np.array([glon]), np.array([glat]))[0]:
        raise Forbidden(f"({lon}, {lat}) lies outside the caller's area {scope.current()!r}", parameter="lon")
    ix = g.ix
    x, y = ix.plane.fwd(glon, glat)
    r = reverse(ix, x, y, radius)
    body = reverse_dict(ix, r, in_crs, glon, glat)
    body["radius_m"] = radius
    return body


@router.get("/geocode/suggest", summary="Autocomplete an address from what was typed",
            openapi_extra=contract_requires("q"))
async def geocode_suggest(
    q: str | None = Query(None, description="What was typed so far."),
    limit: int = Query(MAX_SUGGESTIONS, ge=1, le=MAX_SUGGESTIONS, description="At most 10."),
    crs: str | None = Query(None, description="Output CRS, as for /geocode."),
    g: Geocoder = Depends(get_geocoder),
):
    text = _query(q)
    out_crs = parse_crs(crs)
    ix = g.ix
    items = []
    for s in suggest(ix, text, limit):
        coords = None
        if s["x"] is not None:
            lon, lat = ix.plane.inv(s["x"], s["y"])
            if isinstance(g, _InArea) and not g.inside(np.array([lon]), np.array([lat]))[0]:
                continue
            coords = project(float(lon), float(lat), out_crs)
        items.append({"text": s["text"], "kind": s["kind"], "layer": s["layer"], "id": s["id"], "coordinates": coords})
    return {"query": text, "crs": out_crs, "suggestions": items}


@router.get("/geocode/status", summary="The geocoder index: when built, from which versions, how big")
async def geocode_status(services: Services = Depends(get_services), g: Geocoder = Depends(get_geocoder)):
    service = services.geocoder
    ix = g.ix
    return {"ready": True, "builds": service.builds, "build_seconds": round(ix.build_seconds, 3),
            "versions": ix.versions, "counts": ix.stats, "last_error": service.error,
            "models": [{"number": m.number, "name": m.name, "title": m.title, "parts": list(m.parts),
                        "relax": list(m.relax), "search": m.search} for m in g.models]}


async def _batch_rows(request: Request) -> list:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BATCH_BYTES:
        raise TooLarge(f"the batch is {length} bytes; at most {MAX_BATCH_BYTES} are accepted")
    if ctype == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or not hasattr(upload, "read"):
            raise Invalid("multipart batch: send the CSV as the form field 'file'", parameter="file")
        raw = await upload.read()
        return rows_from_csv(_decode(raw))
    raw = await request.body()
    if len(raw) > MAX_BATCH_BYTES:
        raise TooLarge(f"the batch is {len(raw)} bytes; at most {MAX_BATCH_BYTES} are accepted")
    if ctype in ("application/json", ""):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Invalid(f"the body is not valid JSON: {exc}") from None
        return rows_from_json(data)
    if ctype in ("text/csv", "text/plain", "application/csv"):
        return rows_from_csv(_decode(raw))
    raise UnsupportedMediaType(
        f"content type {ctype!r} is not accepted; send application/json, text/csv or multipart/form-data (field 'file')"
    )


def _decode(raw: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise BatchError("the CSV is neither UTF-8 nor GBK/GB18030 text")


_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "description": "Up to 100,000 addresses: a JSON list (strings, or {id, q} objects), a CSV body "
        "(column q, address, query or 地址; optional id; UTF-8 or GBK), or a multipart upload (field 'file').",
        "content": {
            # a row of another shape is answered with its own error, in its place (the batch goes on)
            "application/json": {"schema": {"type": "array", "items": {
                "description": "an address, or an object {id, q}; any other row is answered with an error"}},
                "example": ["天山区解放南路12号3号楼", {"id": "case-17", "q": "二道桥5号"}]},
            "text/csv": {"schema": {"type": "string"}, "example": "id,address\n1,解放南路12号\n"},
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "string", "format": "binary"}}}},
        },
    },
    "responses": {"200": {"description": "One answer per row, in input order (NDJSON, or CSV with format=csv).",
                          "content": {"application/x-ndjson": {}, "text/csv": {}}}},
}


@router.post("/geocode/batch", summary="Geocode up to 100,000 addresses; answers stream back in input order",
             openapi_extra=_BATCH_BODY)
async def geocode_batch(
    request: Request,
    limit: int = Query(1, ge=1, le=20, description="Candidates per row."),
    crs: str | None = Query(None, description="Output CRS, as for /geocode."),
    format: str | None = Query(None, description="ndjson (default) or csv; or send Accept: text/csv."),
    g: Geocoder = Depends(get_geocoder),
):
    out_crs = parse_crs(crs)
    fmt = (format or ("csv" if "text/csv" in request.headers.get("accept", "") else "ndjson")).lower()
    if fmt not in ("ndjson", "csv"):
        raise Invalid(f"format {format!r} is not offered; use ndjson or csv", parameter="format", value=format)
    rows = await _batch_rows(request)
    if len(rows) > MAX_ROWS:
        raise TooLarge(f"the batch has {len(rows)} rows; at most {MAX_ROWS} are accepted per request")
    answers = geocode_rows(g, rows, limit, out_crs)  # one index snapshot for the whole batch

    if fmt == "csv":
        def lines():
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
            w.writeheader()
            for n, ans in enumerate(answers, 1):
                w.writerow(csv_record(ans))
                if n % 500 == 0:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
            yield buf.getvalue()

        return StreamingResponse(lines(), media_type="text/csv; charset=utf-8",
                                 headers={"X-Batch-Rows": str(len(rows))})

    def ndjson():
        chunk = []
        for ans in answers:
            chunk.append(orjson.dumps(ans) + b"\n")
            if len(chunk) >= 500:
                yield b"".join(chunk)
                chunk = []
        if chunk:
            yield b"".join(chunk)

    return StreamingResponse(ndjson(), media_type="application/x-ndjson", headers={"X-Batch-Rows": str(len(rows))})
