"""The case maps of the supervision-and-command screen (监督指挥): aggregate vector tiles (square
bins, hexagons, clusters), heat and glow tiles, flows, area statistics with comparisons, hot
spots, and the cases of a box. Every path takes the same filters (cases/filters.py). The work is
in ``cases/``; errors carry their statuses."""
from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import Response

from urbangis.access import roles as R
from urbangis.cases import aggregate, heat
from urbangis.cases import search as searchlib
from urbangis.cases import stats as statslib
from urbangis.cases.areas import LEVELS
from urbangis.cases.filters import CaseFilter
from urbangis.cases.service import CaseService
from urbangis.layers import scope
from urbangis.tiles.tilesets import gzip_tile

from ..auth import allow, in_area, narrowed_area
from ..services import Services, get_services, services_of

router = APIRouter(tags=["case maps"])
MVT = "application/vnd.mapbox-vector-tile"

OFFERS = [
    ("case-tiles", "/cases/tiles/WebMercatorQuad/{z}/{y}/{x}?bins=cluster", MVT,
     "Aggregate tiles of cases: square bins, hexagons, clusters (filtered)"),
    ("case-heat", "/cases/heat/WebMercatorQuad/{z}/{y}/{x}.png", "image/png", "Heat (and glow) tiles of cases"),
    ("case-stats", "/cases/stats?by=district", "application/geo+json", "Case statistics and rankings per area"),
    ("case-hotspots", "/cases/hotspots", "application/geo+json", "Hot spots (Getis-Ord Gi*) of unit grids"),
    ("case-flows", "/cases/flows", "application/geo+json", "Cases reported across grids, as flow lines"),
]
FILTER_DOC = ("Filters (every case map): datetime (an instant or an OGC interval a/b, ../b, a/..; without an offset "
              "in the server's time zone), kind, major_class, minor_class (major+minor 0102, or the names), status, "
              "source (comma-separated lists), area (an admin code of any level), responsibility_grid.")
TmsId = Annotated[str, Path(description="WebMercatorQuad, CGCS2000Quad or WorldCRS84Quad")]


def install(app: FastAPI) -> None:
    """Include the case map routes."""
    app.include_router(router, dependencies=[allow(*R.CASES_READ)])


async def _cases(services: Services = Depends(get_services)) -> CaseService:
    return services.cases


Cases = Annotated[CaseService, Depends(_cases)]


def _filter(request: Request, cases: CaseService) -> CaseFilter:
    params = dict(request.query_params)
    area = narrowed_area(params.get("area"))
    if area:
        params["area"] = area
    return cases.filter(params)


def _in_area(doc: dict, *keys: str) -> dict:
    """``doc``'s features whose codes (properties ``keys``) all lie in the caller's area: the
    areas' reference data is read once for every caller, so a scoped answer drops the others."""
    if scope.current() is not None:
        doc["features"] = [f for f in doc["features"]
                           if all(in_area(str(f["properties"].get(k) or "")) for k in keys)]
    return doc


GEOJSON_ANSWER: dict = {200: {"content": {"application/geo+json": {"schema": {"type": "object"}}}}}


def _one_of(values) -> dict:
    """The OpenAPI ``enum`` of a parameter the route checks itself (its 400 names the choices)."""
    return {"enum": list(values)}


def _geojson(doc: dict) -> Response:
    """A (large) GeoJSON answer, encoded by orjson (FastAPI's own encoder takes seconds for the 58,000
    unit grids of a hot-spot map)."""
    return Response(orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/geo+json")


def _tile_response(request: Request, data: bytes, total: int, media: str) -> Response:
    # vector tiles are left alone by the app's gzip middleware (api/app.py): compressed here
    headers = {"Cache-Control": "no-cache", "X-Case-Count": str(total), "Vary": "Accept-Encoding"}
    if len(data) >= 1024 and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(gzip_tile(data, services_of(request).settings.tiles.gzip_level), media_type=media,
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(data, media_type=media, headers=headers)


@router.get("/cases/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}", response_class=Response,
            summary="Aggregate tile of cases (MVT): bins or clusters with their counts, and the tile's total",
            responses={200: {"content": {MVT: {}}}}, description=FILTER_DOC)
def case_tile(request: Request, cases: Cases, tileMatrixSetId: TmsId, tileMatrix: int, tileRow: int, tileCol: int,
              bins: str = Query("cluster", description="square, hex or cluster",
                                json_schema_extra=_one_of(aggregate.KINDS))) -> Response:
    """Layers: `bins` (square or hex: polygons with `count`) or `clusters` (points at the middle of
    their cases with `count`, `mix` (JSON: cases per major class) and `top`), and `meta` (one feature
    with the tile's filtered total as `count`). Square bins nest: a tile's bins add up to the
    filtered cases inside it."""
    f = _filter(request, cases)
    ix = cases.maps_ready()
    data, total = aggregate.tile(ix, cases.classes, tileMatrixSetId, tileMatrix, tileCol, tileRow, ix.compile(f), bins)
    return _tile_response(request, data, total, MVT)


@router.get("/cases/heat/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}.png", response_class=Response,
            summary="Heat tile of cases (PNG): kernel density, the heat or the glow (荧光) ramp",
            responses={200: {"content": {"image/png": {}}}}, description=FILTER_DOC)
def heat_tile(request: Request, cases: Cases, tileMatrixSetId: TmsId, tileMatrix: int, tileRow: int, tileCol: int,
              ramp: str = Query("heat", description="heat or glow", json_schema_extra=_one_of(heat.RAMPS)),
              scale: float = Query(heat.SCALE, description="cases per km² two-thirds up the ramp")) -> Response:
    f = _filter(request, cases)
    ix = cases.maps_ready()
    png = heat.heat_tile(ix, tileMatrixSetId, tileMatrix, tileCol, tileRow, ix.compile(f), ramp, scale)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-cache"})


@router.get("/cases/stats", summary="Case statistics per area, ranked (GeoJSON for a choropleth)",
            description=FILTER_DOC, response_class=Response, responses=GEOJSON_ANSWER)
def case_stats(request: Request, cases: Cases,
               by: str = Query("district", description="district, street, community, unit_grid or "
                                                       "responsibility_grid", json_schema_extra=_one_of(LEVELS)),
               compare: str | None = Query(None, description="previous or same_period_last_year (needs a datetime "
                                                             "interval)", json_schema_extra=_one_of(statslib.COMPARES)),
               geometry: bool = Query(True, description="include the areas' outlines")) -> Response:
    f = _filter(request, cases)
    # the areas' cache is shared by every caller: read unscoped
    with scope.unscoped(), cases.reads.connection() as conn:
        doc = statslib.stats(conn, cases.maps_ready(), cases.areas, by, f, compare, geometry)
    return _geojson(_in_area(doc, "code"))  # (out of unscoped(): the caller's area again)


@router.get("/cases/hotspots", summary="Hot spots: Getis-Ord Gi* of the unit grids' case counts (GeoJSON)",
            description=FILTER_DOC, response_class=Response, responses=GEOJSON_ANSWER)
def case_hotspots(request: Request, cases: Cases,
                  adjust: bool = Query(False, description="Benjamini-Hochberg adjusted p-values (p_adjusted)"),
                  geometry: bool = Query(True, description="include the grids' outlines")) -> Response:
    f = _filter(request, cases)
    with scope.unscoped(), cases.reads.connection() as conn:  # (as case_stats)
        doc = statslib.hotspots(conn, cases.maps_ready(), cases.areas, f, adjust, geometry)
    return _geojson(_in_area(doc, "code"))


@router.get("/cases/flows", summary="Cases reported from one grid (or district) into another, as lines (GeoJSON)",
            description=FILTER_DOC, response_class=Response, responses=GEOJSON_ANSWER)
def case_flows(request: Request, cases: Cases,
               by: str = Query("responsibility_grid", description="responsibility_grid or district",
                               json_schema_extra=_one_of(statslib.FLOW_LEVELS)),
               limit: int = Query(500, ge=1, le=10_000)) -> Response:
    f = _filter(request, cases)
    with scope.unscoped(), cases.reads.connection() as conn:  # (as case_stats)
        doc = statslib.flows(conn, cases.maps_ready(), cases.areas, f, by, limit)
    return _geojson(_in_area(doc, "from", "to"))


@router.get("/cases/filters", summary="What the case maps' filters can take: the time span of the cases, the "
            "stages, the sources, the districts (the classes: /cases/classes)")
def case_filters(cases: Cases) -> dict:
    ix = cases.maps_ready()
    with scope.unscoped(), cases.reads.connection() as conn:  # admin areas: public
        districts = cases.areas.level(conn, "district")
    names = [{"code": c, "name": districts.names.get(c)} for c in districts.codes]
    return {**ix.extent(cases.zone), "districts": names}


@router.get("/cases/search", summary="The filtered cases inside a box (a bin or a cluster clicked on the map)",
            description=FILTER_DOC)
def case_search(request: Request, cases: Cases,
                bbox: str = Query(..., description="minlon,minlat,maxlon,maxlat (CRS84)"),
                limit: int = Query(50, ge=1, le=1000)) -> Response:
    f = _filter(request, cases)
    with scope.connection(cases.reads) as conn:
        return _geojson(searchlib.search(conn, searchlib.parse_bbox(bbox), f, limit))
