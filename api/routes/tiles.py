"""OGC API - Tiles (vector tiles): tile matrix sets, a tileset per collection and the multi-layer
"city" tileset, TileJSON 3.0 and the MapLibre style. Tiles are gzipped MVT with an ETag (304 on
If-None-Match) and Cache-Control."""
from __future__ import annotations

import gzip
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, FastAPI, Header, Path, Query, Request
from fastapi.responses import Response

from urbangis.access import roles as R
from urbangis.layers import scope
from urbangis.layers.errors import Invalid, NotFound
from urbangis.layers.registry import Collection
from urbangis.tiles import style as stylelib
from urbangis.tiles import tilejson as tjlib
from urbangis.tiles import tms as tmslib
from urbangis.tiles.tilesets import CITY, TileResult, TileService, Tileset, city_tileset, get_tileset

from .. import ranges
from ..auth import allow
from ..services import base_url, services_of
from ..version import version

router = APIRouter(tags=["tiles"])

MVT = "application/vnd.mapbox-vector-tile"
TILES_CONF = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
CONFORMANCE = [
    TILES_CONF + c
    for c in ("core", "tileset", "tilesets-list", "geodata-tilesets", "dataset-tilesets", "geodata-selection", "mvt")
] + [
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]
REL = "http://www.opengis.net/def/rel/ogc/1.0/"

TmsId = Annotated[str, Path(description="Tile matrix set id: " + ", ".join(tmslib.ids()))]
Z = Annotated[int, Path(description="Tile matrix (zoom level)")]
Row = Annotated[int, Path(description="Tile row (y), from the top")]
Col = Annotated[int, Path(description="Tile column (x), from the left")]


OFFERS = [
    (REL + "tiling-schemes", "/tileMatrixSets", "application/json", "Tile matrix sets"),
    (REL + "tilesets-vector", "/tiles", "application/json", "Vector tilesets of the whole city"),
    ("describedby", "/tiles/WebMercatorQuad/tilejson.json", "application/json", "TileJSON of the city tileset"),
    (REL + "styles", "/styles", "application/json", "Map styles"),
    ("alternate", "/map", "text/html", "Map of the city (MapLibre)"),
]


def install(app: FastAPI) -> None:
    """Include the router (the tile service runs in the app's services)."""
    app.include_router(router, dependencies=[allow(*R.READ, R.PUBLIC)])


def service(request: Request) -> TileService:
    """The app's tile service."""
    return services_of(request).tiles


def _tms(tms_id: str) -> None:
    tmslib.get(tms_id)


def _tileset(request: Request, tileset_id: str) -> Tileset:
    return get_tileset(tileset_id, services_of(request).collections)


def _city(request: Request) -> Tileset:
    return city_tileset(services_of(request).collections)


def _collection(request: Request, cid: str) -> Collection:
    services = services_of(request)
    coll = services.collections.get(cid)
    if coll is None:
        raise NotFound(f"unknown collection {cid!r}; available: {', '.join(services.collections)}",
                       parameter="collectionId", value=cid)
    return coll


def _selection(request: Request, collections: str | None) -> Tileset:
    """The city tileset, or the layers named in ``collections`` (OGC geodata-selection)."""
    services = services_of(request)
    city = city_tileset(services.collections)
    if not collections:
        return city
    wanted = [c.strip() for c in collections.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in services.collections]
    if unknown or not wanted:
        raise Invalid(
            f"collections: unknown collection(s) {', '.join(unknown) or '(none given)'}; "
            f"available: {', '.join(services.collections)}",
            parameter="collections",
            value=collections,
        )
    layers = tuple(c for c in city.layers if c.id in wanted or c.part_of in wanted)  # a mixed one: its parts
    return Tileset(CITY + "+" + "+".join(sorted(wanted)), city.title, city.description, layers)


# -- tile matrix sets -------------------------------------------------------------------------
def _tms_summary(base: str, tms_id: str) -> dict:
    tms = tmslib.get(tms_id)
    out: dict[str, Any] = {"id": tms_id, "title": tms.title, "crs": tmslib.crs_uri(tms_id)}
    if tms.uri:
        out["uri"] = tms.uri
    out["links"] = [
        {"rel": "self", "href": f"{base}/tileMatrixSets/{tms_id}", "type": "application/json", "title": tms_id},
        {"rel": REL + "tiling-scheme", "href": f"{base}/tileMatrixSets/{tms_id}", "type": "application/json"},
    ]
    return out


@router.get("/tileMatrixSets", summary="Tile matrix sets tiles are cut on")
def tile_matrix_sets(request: Request) -> dict:
    base = base_url(request)
    return {
        "tileMatrixSets": [_tms_summary(base, t) for t in tmslib.ids()],
        "links": [{"rel": "self", "href": f"{base}/tileMatrixSets", "type": "application/json"}],
    }


@router.get("/tileMatrixSets/{tileMatrixSetId}", summary="One tile matrix set (OGC 2D TMS 2.0 JSON, or 1.0)")
def tile_matrix_set(request: Request, tileMatrixSetId: TmsId,
                    encoding: Literal["2.0", "1.0"] = Query(
                        "2.0", description="2.0 (OGC 17-083r4), or the 1.0 encoding (17-083r2) that GDAL before "
                                           "3.7 reads (Debian 12's GDAL 3.6: `-co TILING_SCHEME=<this URL>`)")) -> dict:
    _tms(tileMatrixSetId)
    doc = tmslib.document(tileMatrixSetId, encoding)
    query = "" if encoding == "2.0" else f"?encoding={encoding}"
    doc["links"] = [
        {"rel": "self", "href": f"{base_url(request)}/tileMatrixSets/{tileMatrixSetId}{query}",
         "type": "application/json"}
    ]
    return doc


def _tiling_scheme_links(base: str, tms_id: str) -> list[dict]:
    """The tiling-scheme links of a tileset: the 2.0 document, then the 1.0 encoding. GDAL takes
    the last such link and reads 1.0 in every version (3.6 only 1.0); other clients take the
    first, or pick by title."""
    href = f"{base}/tileMatrixSets/{tms_id}"
    return [{"rel": REL + "tiling-scheme", "href": href, "type": "application/json", "title": "TMS 2.0"},
            {"rel": REL + "tiling-scheme", "href": f"{href}?encoding=1.0", "type": "application/json",
             "title": "TMS 1.0 encoding (GDAL before 3.7)"}]


# -- tileset metadata -------------------------------------------------------------------------
def _geometry_dimension(coll: Collection) -> int | None:
    return {"point": 0, "line": 1, "polygon": 2}.get(coll.geometry)


def _tileset_doc(base: str, prefix: str, ts: Tileset, tms_id: str) -> dict:
    """An OGC API - Tiles TileSet document (vector, MVT) for ``ts`` at ``{base}{prefix}``."""
    tms = tmslib.get(tms_id)
    url = f"{base}{prefix}/{tms_id}"
    doc: dict[str, Any] = {
        "title": ts.title,
        "description": ts.description,
        "dataType": "vector",
        "crs": tmslib.crs_uri(tms_id),
        "links": [
            {"rel": "self", "href": url, "type": "application/json", "title": f"{ts.title} ({tms_id})"},
            *_tiling_scheme_links(base, tms_id),
            {
                "rel": "item",
                "href": url + "/{tileMatrix}/{tileRow}/{tileCol}",
                "templated": True,
                "type": MVT,
                "title": "Mapbox vector tiles",
            },
        ],
        "layers": [
            {
                "id": c.id,
                "title": c.title,
                "description": c.description,
                "dataType": "vector",
                **({"geometryDimension": d} if (d := _geometry_dimension(c)) is not None else {}),
                "minTileMatrix": str(c.minzoom),
                "maxTileMatrix": str(min(c.maxzoom, tms.maxzoom)),
                "links": [{"rel": "collection", "href": f"{base}/collections/{c.id}", "type": "application/json"}],
            }
            for c in ts.layers
        ],
    }
    if tms.uri:
        doc["tileMatrixSetURI"] = tms.uri
    if tms_id == "WebMercatorQuad":
        doc["links"].append(
            {"rel": "describedby", "href": url + "/tilejson.json", "type": "application/json", "title": "TileJSON 3.0"}
        )
    return doc


def _tilesets_list(base: str, prefix: str, ts: Tileset) -> dict:
    sets = []
    for tms_id in tmslib.ids():
        doc = _tileset_doc(base, prefix, ts, tms_id)
        sets.append(
            {k: doc[k] for k in ("title", "dataType", "crs", "tileMatrixSetURI") if k in doc}
            | {"links": [{**doc["links"][0], "rel": "self"},
                         *(link for link in doc["links"][1:] if link["rel"] in (REL + "tiling-scheme", "item"))]}
        )
    return {"tilesets": sets, "links": [{"rel": "self", "href": base + prefix, "type": "application/json"}]}


@router.get("/collections/{collectionId}/tiles", summary="Vector tilesets of a collection")
def collection_tilesets(request: Request, collectionId: str) -> dict:
    coll = _collection(request, collectionId)
    return _tilesets_list(base_url(request), f"/collections/{coll.id}/tiles", _tileset(request, coll.id))


@router.get("/collections/{collectionId}/tiles/{tileMatrixSetId}",
            summary="A collection's tileset on one tile matrix set")
def collection_tileset(request: Request, collectionId: str, tileMatrixSetId: TmsId) -> dict:
    coll = _collection(request, collectionId)
    _tms(tileMatrixSetId)
    return _tileset_doc(base_url(request), f"/collections/{coll.id}/tiles", _tileset(request, coll.id), tileMatrixSetId)


@router.get("/tiles", summary="Vector tilesets of the whole city (every collection a layer)")
def city_tilesets(request: Request) -> dict:
    return _tilesets_list(base_url(request), "/tiles", _city(request))


@router.get("/tiles/{tileMatrixSetId}", summary="The city tileset on one tile matrix set")
def city_tileset_doc(request: Request, tileMatrixSetId: TmsId) -> dict:
    _tms(tileMatrixSetId)
    return _tileset_doc(base_url(request), "/tiles", _city(request), tileMatrixSetId)


# -- TileJSON and style -----------------------------------------------------------------------
def _tilejson(request: Request, ts: Tileset, prefix: str, tms_id: str, query: str = "") -> dict:
    _tms(tms_id)
    if tms_id != "WebMercatorQuad":
        raise Invalid(
            f"TileJSON describes Web Mercator tiles only; use /WebMercatorQuad/tilejson.json, not {tms_id}",
            parameter="tileMatrixSetId",
            value=tms_id,
        )
    svc = service(request)
    with scope.connection(svc.pool) as conn:
        extents = tjlib.layer_extents(conn, ts)
        types = svc.column_types(conn)
    url = f"{base_url(request)}{prefix}/{tms_id}/{{z}}/{{y}}/{{x}}{query}"
    return tjlib.tilejson(ts, url, extents, types, version(), services_of(request).view)


@router.get("/tiles/{tileMatrixSetId}/tilejson.json", summary="TileJSON 3.0 of the city tileset")
def city_tilejson(request: Request, tileMatrixSetId: TmsId, collections: str | None = None) -> dict:
    ts = _selection(request, collections)
    return _tilejson(request, ts, "/tiles", tileMatrixSetId, f"?collections={collections}" if collections else "")


@router.get("/collections/{collectionId}/tiles/{tileMatrixSetId}/tilejson.json",
            summary="TileJSON 3.0 of a collection's tileset")
def collection_tilejson(request: Request, collectionId: str, tileMatrixSetId: TmsId) -> dict:
    coll = _collection(request, collectionId)
    return _tilejson(request, _tileset(request, coll.id), f"/collections/{coll.id}/tiles", tileMatrixSetId)


@router.get("/styles", summary="Map styles")
def styles(request: Request) -> dict:
    base = base_url(request)
    return {
        "styles": [
            {
                "id": CITY,
                "title": "City: every published layer",
                "links": [
                    {"rel": "stylesheet", "href": f"{base}/styles/{CITY}/style.json",
                     "type": "application/vnd.mapbox.style+json", "title": "MapLibre style"},
                ],
            }
        ],
        "links": [{"rel": "self", "href": f"{base}/styles", "type": "application/json"}],
    }


@router.get("/styles/{styleId}/style.json", summary="MapLibre style of the city, generated from the registry",
            response_class=Response,
            responses={200: {"content": {"application/vnd.mapbox.style+json": {"schema": {"type": "object"}}}}})
def style(request: Request, styleId: str) -> Response:
    if styleId != CITY:
        raise NotFound(f"unknown style {styleId!r}; available: {CITY}", parameter="styleId", value=styleId)
    ts = _city(request)
    svc = service(request)
    with scope.connection(svc.pool) as conn:
        extents = tjlib.layer_extents(conn, ts)
    middle, zoom = tjlib.opening(ts, extents, services_of(request).view)
    doc = stylelib.city_style(list(ts.layers), f"{base_url(request)}/tiles/WebMercatorQuad/tilejson.json", middle, zoom,
                              services_of(request).collections)
    return Response(orjson.dumps(doc), media_type="application/vnd.mapbox.style+json")


# -- tiles ------------------------------------------------------------------------------------
def _tile_response(request: Request, result: TileResult, max_age: int, cache_state: str) -> Response:
    # a tile of a caller's area is theirs: no shared cache may keep it for another
    shared = "private" if scope.current() is not None else "public"
    headers = {"Cache-Control": f"{shared}, max-age={max_age}", "Vary": "Accept-Encoding", "X-Tile-Cache": cache_state}
    if result.etag:
        headers["ETag"] = result.etag
    if result.not_modified:
        return Response(status_code=304, headers=headers)
    if not result.data:
        # An empty tile: 204, as OGC API - Tiles allows, so clients skip decoding nothing.
        return Response(status_code=204, headers=headers)
    headers["Accept-Ranges"] = "bytes"
    body = result.data
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
    else:
        body = gzip.decompress(body)
    byte_range = ranges.wanted(request, result.etag)
    if byte_range is not None:  # of the encoding sent (RFC 9110: ranges apply to the representation)
        part = ranges.answer(body, byte_range, MVT, headers)
        if part is not None:
            return part
    return Response(body, media_type=MVT, headers=headers)


def _tile(request: Request, ts: Tileset, tms_id: str, z: int, y: int, x: int, if_none_match: str | None) -> Response:
    svc = service(request)
    result = svc.tile(ts, tms_id, z, x, y, if_none_match)
    if not svc.cache.enabled:
        state = "off"
    else:
        state = {"cache": "hit", "state": "revalidated"}.get(result.source, "miss")
    return _tile_response(request, result, services_of(request).settings.tiles.max_age, state)


IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match", include_in_schema=False)]


@router.get(
    "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
    summary="A vector tile of one collection (MVT)",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 204: {"description": "No features in this tile"}},
)
def collection_tile(
    request: Request, collectionId: str, tileMatrixSetId: TmsId, tileMatrix: Z, tileRow: Row, tileCol: Col,
    if_none_match: IfNoneMatch = None,
) -> Response:
    coll = _collection(request, collectionId)
    return _tile(request, _tileset(request, coll.id), tileMatrixSetId, tileMatrix, tileRow, tileCol, if_none_match)


@router.get(
    "/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
    summary="A vector tile of the city: every collection shown at that zoom is a layer",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 204: {"description": "No features in this tile"}},
)
def city_tile(
    request: Request, tileMatrixSetId: TmsId, tileMatrix: Z, tileRow: Row, tileCol: Col,
    collections: Annotated[
        str | None, Query(description="Comma-separated collections to include (default: all)")
    ] = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return _tile(request, _selection(request, collections), tileMatrixSetId, tileMatrix, tileRow, tileCol,
                 if_none_match)
