"""The JSON documents of the Features API: collection(s), queryables, feature collection links.
Everything is built from a :class:`CollectionMeta`, so every registry entry gets the same documents."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

from . import crs as crsmod
from .collections import CollectionMeta

GEOJSON = "application/geo+json"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
REL_SCHEMA = "http://www.opengis.net/def/rel/ogc/1.0/schema"
# The schema of the GeoJSON features. Written "describedBy": Debian's GDAL (3.6) reads a collection's
# field types from a link of exactly that spelling (link relations compare case-insensitively, so
# it is RFC 8288's "describedby" all the same)
REL_DESCRIBED_BY = "describedBy"
SCHEMA_JSON = "application/schema+json"
# Part 5 geometry formats of a part of a mixed collection (its kind, single or multi)
_KIND_FORMATS = {"point": "geometry-point-or-multipoint", "line": "geometry-linestring-or-multilinestring",
                 "polygon": "geometry-polygon-or-multipolygon"}
REL_TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
TRS_GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def now_iso() -> str:
    """Now, UTC, RFC 3339 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def collection(meta: CollectionMeta, base: str) -> dict:
    """``/collections/{id}``: metadata, extent, CRS list and links (items, queryables, tiles)."""
    spec, state = meta.spec, meta.state
    href = f"{base}/collections/{spec.id}"
    doc: dict = {
        "id": spec.id,
        "title": spec.title,
        "description": spec.description,
        "itemType": "feature",
        "extent": {},
        "crs": crsmod.uris(),
        "storageCrs": crsmod.EPSG_URI.format(meta.layout.storage_srid),
    }
    if state.bbox is not None:
        doc["extent"]["spatial"] = {"bbox": [list(state.bbox)], "crs": crsmod.CRS84}
    if state.interval is not None:
        doc["extent"]["temporal"] = {"interval": [[_iso(state.interval[0]), _iso(state.interval[1])]],
                                     "trs": TRS_GREGORIAN}
    if not doc["extent"]:
        del doc["extent"]
    if state.count is not None:
        # ldproxy's extension, read by GDAL as the feature count (no need to page through to count).
        doc["itemCount"] = state.count
    doc["links"] = [
        {"rel": "self", "href": href, "type": "application/json", "title": "This collection"},
        {"rel": "alternate", "href": f"{href}?f=html", "type": "text/html", "title": "This collection as HTML"},
        {"rel": "items", "href": f"{href}/items", "type": GEOJSON, "title": f"Features of {spec.id}"},
        {"rel": "items", "href": f"{href}/items?f=html", "type": "text/html", "title": f"Features of {spec.id} (HTML)"},
        {"rel": REL_QUERYABLES, "href": f"{href}/queryables", "type": SCHEMA_JSON,
         "title": "Queryable properties"},
        {"rel": REL_SCHEMA, "href": f"{href}/schema", "type": SCHEMA_JSON,
         "title": "Schema of the features' properties (OGC API - Features Part 5)"},
        {"rel": REL_DESCRIBED_BY, "href": f"{href}/feature-schema", "type": SCHEMA_JSON,
         "title": "JSON Schema of a GeoJSON feature of this collection"},
        {"rel": REL_TILESETS_VECTOR, "href": f"{href}/tiles", "type": "application/json",
         "title": "Vector tilesets of this collection"},
    ]
    return doc


def collections(metas: list[CollectionMeta], base: str) -> dict:
    """``/collections``."""
    return {
        "links": [
            {"rel": "self", "href": f"{base}/collections", "type": "application/json", "title": "Collections"},
            {"rel": "alternate", "href": f"{base}/collections?f=html", "type": "text/html",
             "title": "Collections as HTML"},
        ],
        "crs": crsmod.uris(),
        "collections": [collection(m, base) for m in metas],
    }


def _properties(meta: CollectionMeta) -> dict:
    """The JSON Schema of each published property, with its role (id, time, geometry)."""
    props: dict = {}
    for name, f in meta.layout.fields.items():
        s = {"title": name, **f.json_schema()}
        if meta.layout.time_field is not None and name == meta.layout.time_field.name:
            s["x-ogc-role"] = "primary-instant"
        if name == meta.spec.id_field:
            s["x-ogc-role"] = "id"
        props[name] = s
    gtype = meta.layout.geometry_type
    fmt = f"geometry-{gtype.lower()}" if gtype != "Geometry" else "geometry-any"
    if meta.spec.part_of is not None:
        fmt = _KIND_FORMATS[meta.spec.geometry]
    props["geometry"] = {"title": "geometry", "format": fmt, "x-ogc-role": "primary-geometry"}
    return props


def queryables(meta: CollectionMeta, base: str) -> dict:
    """``/collections/{id}/queryables``: a JSON Schema of the filterable properties."""
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{base}/collections/{meta.id}/queryables",
        "type": "object",
        "title": meta.spec.title,
        "properties": _properties(meta),
        "additionalProperties": False,
    }


def schema(meta: CollectionMeta, base: str) -> dict:
    """``/collections/{id}/schema`` (OGC API - Features Part 5): the features' properties, the
    geometry and the id among them with their roles; an array field's items typed."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/collections/{meta.id}/schema",
        "type": "object",
        "title": meta.spec.title,
        "properties": _properties(meta),
    }


def feature_schema(meta: CollectionMeta, base: str) -> dict:
    """``/collections/{id}/feature-schema``: the JSON Schema of one GeoJSON feature of the items,
    which GDAL's OAPIF driver reads its field types from (an array of strings becomes a string
    list, which it cannot tell from a page whose first values are empty arrays)."""
    props = _properties(meta)
    geometry = props.pop("geometry")
    key = props.get(meta.spec.id_field, {"type": "string"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/collections/{meta.id}/feature-schema",
        "title": meta.spec.title,
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {k: v for k, v in key.items() if k in ("type", "format")},
            "geometry": {"description": f"GeoJSON geometry ({geometry['format']})", "type": ["object", "null"]},
            "properties": {"type": "object", "properties": props},
        },
    }


def link_header(links: list[dict]) -> str:
    """The links of an answer as an HTTP Link header (RFC 8288), beside the ones in its body, as
    OGC API - Features recommends (clients such as ogctests read the formats offered from it).
    Hrefs are percent-encoded already; titles are left out (header values are ASCII)."""
    return ", ".join(f'<{link["href"]}>; rel="{link["rel"]}"; type="{link["type"]}"' for link in links)


def page_links(base: str, cid: str, query: list[tuple[str, str]], limit: int, offset: int,
               next_cursor: str | None, returned: int) -> list[dict]:
    """self / alternate / next / prev / collection links of a page of items."""
    path = f"{base}/collections/{cid}/items"
    kept = [(k, v) for k, v in query if k not in ("f", "offset", "cursor")]

    def url(extra: list[tuple[str, str]], fmt: str | None) -> str:
        q = kept + extra + ([("f", fmt)] if fmt else [])
        return f"{path}?{urlencode(q)}" if q else path

    here = [("offset", str(offset))] if offset else []
    cur = dict(query).get("cursor")
    if cur:
        here.append(("cursor", cur))
    links = [
        {"rel": "self", "href": url(here, None), "type": GEOJSON, "title": "This page"},
        {"rel": "alternate", "href": url(here, "html"), "type": "text/html", "title": "This page as HTML"},
    ]
    if next_cursor is not None:
        nxt = [("offset", str(offset + returned)), ("cursor", next_cursor)]
        links.append({"rel": "next", "href": url(nxt, None), "type": GEOJSON, "title": "Next page"})
        links.append({"rel": "next", "href": url(nxt, "html"), "type": "text/html", "title": "Next page as HTML"})
    if offset > 0:
        prev = [("offset", str(max(offset - limit, 0)))] if offset - limit > 0 else []
        links.append({"rel": "prev", "href": url(prev, None), "type": GEOJSON, "title": "Previous page"})
        links.append({"rel": "prev", "href": url(prev, "html"), "type": "text/html", "title": "Previous page as HTML"})
    links.append({"rel": "collection", "href": f"{base}/collections/{cid}", "type": "application/json",
                  "title": "The collection"})
    return links
