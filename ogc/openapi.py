"""The OpenAPI 3.0 document of the OGC API (served at ``/api``, linked as ``service-desc``).

FastAPI's own ``/openapi.json`` is OpenAPI 3.1 (pydantic 2 emits JSON Schema 2020-12), which OGC
clients such as GDAL's OAPIF driver do not read; this document is written for them. It lists, for
every collection of the registry, its items path with the property filters it accepts (GDAL reads
the `limit` maximum and the queryable parameters from there).
"""
from __future__ import annotations

from urbangis.layers.settings import OgcSettings

from . import crs as crsmod
from .collections import Layout
from .params import FILTER_LANGS

MEDIA_OAS30 = "application/vnd.oai.openapi+json;version=3.0"
GEOJSON = "application/geo+json"


def _param(name: str, description: str, schema: dict, style: str | None = None, explode: bool | None = None,
           required: bool = False, where: str = "query") -> dict:
    p = {"name": name, "in": where, "description": description, "required": required, "schema": schema}
    if style:
        p["style"] = style
    if explode is not None:
        p["explode"] = explode
    return p


def components(s: OgcSettings) -> dict:
    """The shared parameters, schemas and responses (``s``: the paging limits)."""
    crs_enum = {"type": "string", "format": "uri", "enum": crsmod.uris()}
    params = {
        "collectionId": _param("collectionId", "Id of a collection (see /collections).", {"type": "string"},
                               required=True, where="path"),
        "featureId": _param("featureId", "Id of a feature.", {"type": "string"}, required=True, where="path"),
        "f": _param("f", "Encoding of the response: json (GeoJSON for features) or html.",
                    {"type": "string", "enum": ["json", "html"]}),
        "limit": _param("limit", f"Features per page (1 to {s.max_limit}; larger values are answered with 400).",
                        {"type": "integer", "minimum": 1, "maximum": s.max_limit, "default": s.default_limit},
                        style="form", explode=False),
        "offset": _param("offset", "Features to skip before the page starts.",
                         {"type": "integer", "minimum": 0, "default": 0}),
        "cursor": _param("cursor", "Opaque keyset cursor from a `next` link (takes precedence over offset).",
                         {"type": "string"}),
        "bbox": _param("bbox", "minx,miny,maxx,maxy (or 6 numbers with heights) in bbox-crs, in its axis order.",
                       {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
                       style="form", explode=False),
        "bbox-crs": _param("bbox-crs", "CRS of bbox (default CRS84).", crs_enum),
        "crs": _param("crs", "CRS of the returned geometries (default CRS84).", crs_enum),
        "datetime": _param("datetime", "Instant or interval (RFC 3339; `..` or empty for an open end) "
                           "matched against the collection's time field.", {"type": "string"},
                           style="form", explode=False),  # as /req/core/fc-time-definition writes it
        "filter": _param("filter", "CQL2 filter on the queryables (see /collections/{collectionId}/queryables).",
                         {"type": "string"}),
        "filter-lang": _param("filter-lang", "Language of filter: cql2-text (default) or cql2-json; cql-text "
                              "is accepted as the draft name of cql2-text.",
                              {"type": "string", "enum": list(FILTER_LANGS), "default": "cql2-text"}),
        "filter-crs": _param("filter-crs", "CRS of geometries in filter (default CRS84).", crs_enum),
    }
    return {
        "parameters": params,
        "schemas": {
            "exception": {"type": "object", "required": ["code"], "properties": {
                "code": {"type": "string"}, "description": {"type": "string"}}},
            "link": {"type": "object", "required": ["href"], "properties": {
                "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
                "title": {"type": "string"}}},
            "featureCollectionGeoJSON": {"type": "object", "required": ["type", "features"], "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": {"type": "array", "items": {"$ref": "#/components/schemas/featureGeoJSON"}},
                "links": {"type": "array", "items": {"$ref": "#/components/schemas/link"}},
                "timeStamp": {"type": "string", "format": "date-time"},
                "numberMatched": {"type": "integer", "minimum": 0},
                "numberReturned": {"type": "integer", "minimum": 0}}},
            "featureGeoJSON": {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
                "type": {"type": "string", "enum": ["Feature"]},
                "geometry": {"type": "object", "nullable": True},
                "properties": {"type": "object", "nullable": True},
                "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}},
        },
        "responses": {
            "Error400": _json_response("The request is malformed; the body says which parameter and why.",
                                       "#/components/schemas/exception"),
            "Error404": _json_response("No such collection or feature.", "#/components/schemas/exception"),
            "Features": {"description": "A page of features.", "content": {
                GEOJSON: {"schema": {"$ref": "#/components/schemas/featureCollectionGeoJSON"}},
                "text/html": {"schema": {"type": "string"}}}},
            "Feature": {"description": "One feature.", "content": {
                GEOJSON: {"schema": {"$ref": "#/components/schemas/featureGeoJSON"}},
                "text/html": {"schema": {"type": "string"}}}},
        },
    }


def _json_response(description: str, ref: str | None = None) -> dict:
    schema = {"$ref": ref} if ref else {"type": "object"}
    return {"description": description, "content": {"application/json": {"schema": schema},
                                                    "text/html": {"schema": {"type": "string"}}}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def _bad_request() -> dict:
    """A wrong parameter (an `f` of neither json nor html) is a 400 on every operation."""
    return {"400": {"$ref": "#/components/responses/Error400"}}


def _errors() -> dict:
    return {**_bad_request(), "404": {"$ref": "#/components/responses/Error404"}}


ITEMS_REFS = ["f", "limit", "offset", "cursor", "bbox", "bbox-crs", "crs", "datetime", "filter", "filter-lang",
              "filter-crs"]


def document(base: str, title: str, version: str, layouts: list[Layout], settings: OgcSettings,
             extra_paths: dict | None = None) -> dict:
    """The OpenAPI 3.0.3 document for ``layouts`` as served from ``base``."""
    cid = _ref("collectionId")
    paths: dict = {
        "/": {"get": {"tags": ["Capabilities"], "summary": "Landing page", "operationId": "getLandingPage",
                      "parameters": [_ref("f")], "responses": {"200": _json_response("The landing page."),
                                                                **_bad_request()}}},
        "/conformance": {"get": {"tags": ["Capabilities"], "summary": "Conformance classes implemented",
                                 "operationId": "getConformance", "parameters": [_ref("f")],
                                 "responses": {"200": _json_response("The conformance declaration."),
                                               **_bad_request()}}},
        "/api": {"get": {"tags": ["Capabilities"], "summary": "This OpenAPI 3.0 document", "operationId": "getApi",
                         "responses": {"200": {"description": "The API definition.",
                                               "content": {MEDIA_OAS30: {"schema": {"type": "object"}}}}}}},
        "/collections": {"get": {"tags": ["Capabilities"], "summary": "The published collections",
                                 "operationId": "getCollections", "parameters": [_ref("f")],
                                 "responses": {"200": _json_response("The collections."), **_bad_request()}}},
        "/collections/{collectionId}": {"get": {
            "tags": ["Capabilities"], "summary": "One collection", "operationId": "describeCollection",
            "parameters": [cid, _ref("f")], "responses": {"200": _json_response("The collection."), **_errors()}}},
        "/collections/{collectionId}/queryables": {"get": {
            "tags": ["Capabilities"], "summary": "Queryable properties (JSON Schema)", "operationId": "getQueryables",
            "parameters": [cid, _ref("f")],
            "responses": {"200": {"description": "The queryables.", "content": {
                "application/schema+json": {"schema": {"type": "object"}},
                "text/html": {"schema": {"type": "string"}}}},
                **_errors()}}},
        "/collections/{collectionId}/items": {"get": {
            "tags": ["Data"], "summary": "Features of a collection", "operationId": "getFeatures",
            "parameters": [cid, *[_ref(n) for n in ITEMS_REFS]],
            "responses": {"200": {"$ref": "#/components/responses/Features"}, **_errors()}}},
        "/collections/{collectionId}/items/{featureId}": {"get": {
            "tags": ["Data"], "summary": "One feature", "operationId": "getFeature",
            "parameters": [cid, _ref("featureId"), _ref("f"), _ref("crs")],
            "responses": {"200": {"$ref": "#/components/responses/Feature"}, **_errors()}}},
    }
    for layout in layouts:
        c = layout.spec.id
        props = [_param(name, f"Features whose {name} equals this value"
                        + (" (one of the array's elements)" if f.is_array else "") + ".",
                        f.json_schema()["items"] if f.is_array else f.json_schema())
                 for name, f in layout.fields.items() if name not in ITEMS_REFS]
        paths[f"/collections/{c}/items"] = {"get": {
            "tags": ["Data"], "summary": f"Features of {layout.spec.title}", "operationId": f"getFeatures_{c}",
            "description": layout.spec.description,
            "parameters": [*[_ref(n) for n in ITEMS_REFS], *props],
            "responses": {"200": {"$ref": "#/components/responses/Features"}, **_errors()}}}
    for path, item in (extra_paths or {}).items():
        paths.setdefault(path, item)
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version,
                 "description": "OGC API - Features (Parts 1, 2, 3) of urbangis, on PostGIS."},
        "servers": [{"url": base}],
        "tags": [{"name": "Capabilities"}, {"name": "Data"}],
        "paths": paths,
        "components": components(settings),
    }
