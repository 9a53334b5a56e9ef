"""OGC API - Features (Parts 1, 2, 3): conformance, the OpenAPI 3.0 document, collections,
queryables, items and single features, for every collection of the layer registry.

The work is in ``ogc/``; this module speaks HTTP: content negotiation (GeoJSON/JSON or HTML)
and headers (``Content-Crs``). Errors of ``ogc`` carry their statuses (400, 404).
"""
from __future__ import annotations

import logging
from typing import Callable

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from urbangis.access import roles as R
from urbangis.layers import scope
from urbangis.layers.settings import OgcSettings
from urbangis.ogc import conformance as conf
from urbangis.ogc import crs as crsmod
from urbangis.ogc import documents, html, openapi
from urbangis.ogc.collections import Catalog
from urbangis.ogc.errors import InvalidParameter
from urbangis.ogc.items import fetch_item, fetch_page
from urbangis.ogc.params import parse_format, parse_item, parse_items, times_in, wants_html

from ..auth import allow
from ..services import Services, base_url, get_services
from ..version import version

log = logging.getLogger("urbangis.api")

router = APIRouter(tags=["OGC API - Features"])

JSON = "application/json"
GEOJSON = "application/geo+json"

# The query parameters are parsed by ogc.params (the property filters differ per collection), so
# FastAPI does not see them; they are described for /docs from the same definitions as /api (with
# the settings' defaults here; openapi_limits puts the app's own limits into its document).
_PARAMS = openapi.components(OgcSettings.model_construct())["parameters"]
HTML = "text/html"


def _doc(parameters: list, *media: str, **more) -> dict:
    """`openapi_extra` of a route: its parameters, and the media types its 200 comes in besides
    the application/json FastAPI documents (GeoJSON, JSON Schema, the HTML page of f=html)."""
    return {"parameters": parameters, "responses": {"200": {"content": {m: {} for m in media}}}, **more}


ITEMS_DOC = _doc([_PARAMS[n] for n in openapi.ITEMS_REFS], GEOJSON, HTML,
                 description="Any of the collection's fields (see its queryables) is also an equality filter: "
                             "`?status=closed`. /api lists them per collection.")
ITEM_DOC = _doc([_PARAMS["f"], _PARAMS["crs"]], GEOJSON, HTML)
F_DOC = _doc([_PARAMS["f"]], HTML)
QUERYABLES_DOC = _doc([_PARAMS["f"]], "application/schema+json", HTML)
API_DOC = _doc([], openapi.MEDIA_OAS30)

OFFERS = [
    ("service-desc", "/api", openapi.MEDIA_OAS30, "OpenAPI 3.0 definition of the OGC API"),
    ("conformance", "/conformance", JSON, "OGC API conformance classes implemented by this server"),
    ("data", "/collections", JSON, "Feature collections (OGC API - Features)"),
]


CONFORMANCE = conf.FEATURES


def install(app: FastAPI) -> None:
    """Include the router."""
    app.include_router(router, dependencies=[allow(*R.READ, R.PUBLIC)])


def openapi_limits(settings: OgcSettings) -> Callable[[dict], None]:
    """A rewrite of the app's OpenAPI document: the ``limit`` of the items routes as configured."""
    limit = openapi.components(settings)["parameters"]["limit"]

    def rewrite(spec: dict) -> None:
        for path, item in spec.get("paths", {}).items():
            if path.endswith("/items"):
                for op in item.values():
                    params = op.get("parameters", []) if isinstance(op, dict) else []
                    op["parameters"] = [limit if p.get("name") == "limit" else p for p in params]

    return rewrite


def _catalog(services: Services) -> Catalog:
    return services.catalog


def _html(request: Request) -> bool:
    return wants_html(request.query_params.get("f"), request.headers.get("accept"))


def _json(doc: dict, media: str = JSON, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(doc), media_type=media, headers=headers)


def _only_f(request: Request) -> None:
    for key in request.query_params:
        if key != "f":
            raise InvalidParameter(f"unknown parameter {key!r}; this resource takes only f", parameter=key)
    parse_format(request.query_params.get("f"), ("json", "html"))


@router.get("/conformance", summary="Conformance classes this server implements", openapi_extra=F_DOC)
def get_conformance(request: Request, services: Services = Depends(get_services)):
    """The conformance declaration."""
    _only_f(request)
    classes = list(services.doors.conformance)
    base = base_url(request)
    if _html(request):
        return HTMLResponse(html.conformance_page(classes, base, f"{base}/conformance?f=json"))
    return _json({"conformsTo": classes})


@router.get("/api", summary="OpenAPI 3.0 definition of the OGC API (for GDAL, QGIS, OWSLib)", openapi_extra=API_DOC)
def get_api(request: Request, services: Services = Depends(get_services)):
    """The OpenAPI 3.0 document."""
    catalog = _catalog(services)
    with scope.connection(services.pool) as conn:
        metas = catalog.available(conn)
    doc = openapi.document(base_url(request), request.app.title, version(), [m.layout for m in metas],
                           catalog.settings)
    return _json(doc, openapi.MEDIA_OAS30)


@router.get("/collections", summary="The published collections", openapi_extra=F_DOC)
def get_collections(request: Request, services: Services = Depends(get_services)):
    """Every published collection."""
    _only_f(request)
    base = base_url(request)
    with scope.connection(services.pool) as conn:
        metas = _catalog(services).available(conn)
    doc = documents.collections(metas, base)
    if _html(request):
        return HTMLResponse(html.collections_page(doc, base, f"{base}/collections?f=json"))
    return _json(doc)


def _one_collection(request: Request, services: Services, cid: str, build, render, media: str = JSON,
                    suffix: str = ""):
    """A document about one collection, as JSON or (``render``) HTML."""
    _only_f(request)
    base = base_url(request)
    with scope.connection(services.pool) as conn:
        meta = _catalog(services).describe(conn, cid)
    doc = build(meta, base)
    if _html(request):
        return HTMLResponse(render(doc, base, f"{base}/collections/{cid}{suffix}?f=json"))
    return _json(doc, media)


@router.get("/collections/{collectionId}", summary="One collection: extent, CRS, links", openapi_extra=F_DOC)
def get_collection(collectionId: str, request: Request, services: Services = Depends(get_services)):
    """One collection."""
    return _one_collection(request, services, collectionId, documents.collection, html.collection_page)


@router.get("/collections/{collectionId}/queryables", summary="Queryable properties (JSON Schema)",
            openapi_extra=QUERYABLES_DOC)
def get_queryables(collectionId: str, request: Request, services: Services = Depends(get_services)):
    """A collection's queryables."""
    return _one_collection(request, services, collectionId, documents.queryables,
                           lambda doc, base, href: html.queryables_page(collectionId, doc, base, href),
                           "application/schema+json", "/queryables")


@router.get("/collections/{collectionId}/schema", summary="Schema of the features (OGC API - Features Part 5)",
            openapi_extra=QUERYABLES_DOC)
def get_schema(collectionId: str, request: Request, services: Services = Depends(get_services)):
    """The JSON Schema of a collection's features: each property's type (an array's items too), and
    the roles of the id, the time and the geometry."""
    return _one_collection(request, services, collectionId, documents.schema,
                           lambda doc, base, href: html.queryables_page(collectionId, doc, base, href, "Schema"),
                           documents.SCHEMA_JSON, "/schema")


@router.get("/collections/{collectionId}/feature-schema", summary="JSON Schema of one GeoJSON feature (for GDAL)",
            openapi_extra=QUERYABLES_DOC)
def get_feature_schema(collectionId: str, request: Request, services: Services = Depends(get_services)):
    """The JSON Schema of one GeoJSON feature of the items (the collection's ``describedBy`` link):
    GDAL's OAPIF driver types the fields from it instead of guessing from a first page."""
    return _one_collection(request, services, collectionId, documents.feature_schema,
                           lambda doc, base, href: html.queryables_page(
                               collectionId, doc["properties"]["properties"], base, href, "Feature schema"),
                           documents.SCHEMA_JSON, "/feature-schema")


@router.get("/collections/{collectionId}/items", summary="Features: bbox, datetime, property and CQL2 filters, CRS",
            openapi_extra=ITEMS_DOC)
def get_items(collectionId: str, request: Request, services: Services = Depends(get_services)):
    """A page of features."""
    base = base_url(request)
    query = list(request.query_params.multi_items())
    catalog = _catalog(services)
    # the catalogue (a collection's count, extent and interval, cached per data version) is shared
    # by every caller and read without an area when it must be (ogc/collections.py); the features
    # are read under the caller's area
    with scope.connection(services.reads) as conn, times_in(services.settings.database.timezone):
        meta = catalog.describe(conn, collectionId)
        q = parse_items(query, meta.layout, catalog.settings, html=_html(request))
        page = fetch_page(conn, meta, q, services.counts, services.matches, catalog.settings.exact_count_max)
    links = documents.page_links(base, collectionId, query, q.limit, q.offset, page.next_cursor, page.returned)
    tail: dict[str, object] = {"numberReturned": page.returned}
    if page.matched is not None:
        tail["numberMatched"] = page.matched
    tail["timeStamp"] = documents.now_iso()
    tail["links"] = links
    headers = {"Content-Crs": crsmod.content_crs_header(q.crs)}
    if q.format == "html" or (request.query_params.get("f") is None and _html(request)):
        fc = {"type": "FeatureCollection", "features": orjson.loads(f"[{page.features}]"), **tail}
        return HTMLResponse(html.items_page(meta.spec.title, collectionId, fc, base,
                                            next(link["href"] for link in links if link["rel"] == "self")),
                            headers=headers)
    # The features are already JSON text made by PostGIS; only the envelope is serialised here.
    body = b'{"type":"FeatureCollection","features":[' + page.features.encode() + b"]," + orjson.dumps(tail)[1:]
    queryables = {"rel": documents.REL_QUERYABLES, "href": f"{base}/collections/{collectionId}/queryables",
                  "type": "application/schema+json"}
    return Response(body, media_type=GEOJSON, headers={**headers, "Link": documents.link_header([*links, queryables])})


@router.get("/collections/{collectionId}/items/{featureId}", summary="One feature", openapi_extra=ITEM_DOC)
def get_item(collectionId: str, featureId: str, request: Request, services: Services = Depends(get_services)):
    """One feature."""
    base = base_url(request)
    fmt, out_crs = parse_item(request.query_params.multi_items())
    with scope.connection(services.reads) as conn:
        layout = _catalog(services).layout(conn, collectionId)
        text = fetch_item(conn, layout, featureId, out_crs)
    href = f"{base}/collections/{collectionId}/items/{featureId}"
    links = [
        {"rel": "self", "href": href, "type": GEOJSON, "title": "This feature"},
        {"rel": "alternate", "href": f"{href}?f=html", "type": "text/html", "title": "This feature as HTML"},
        {"rel": "collection", "href": f"{base}/collections/{collectionId}", "type": JSON, "title": "The collection"},
    ]
    headers = {"Content-Crs": crsmod.content_crs_header(out_crs)}
    if fmt == "html" or (request.query_params.get("f") is None and _html(request)):
        return HTMLResponse(html.item_page(collectionId, orjson.loads(text), base, f"{href}?f=json"), headers=headers)
    body = text[:-1].encode() + b',"links":' + orjson.dumps(links) + b"}"
    return Response(body, media_type=GEOJSON, headers={**headers, "Link": documents.link_header(links)})

