"""The JSON documents of the Features API: collection(s), queryables, feature collection links.
Everything is built from a :class:`CollectionMeta`, so every registry entry gets the same documents."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

from . import crs as crsmod
from .collections import CollectionMeta

GEOJSON = "application/geo+json"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
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
        {"rel": REL_QUERYABLES, "href": f"{href}/queryables", "type": "application/schema+json",
         "title": "Queryable properties"},
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


def queryables(meta: CollectionMeta, base: str) -> dict:
    """``/collections/{id}/queryables``: a JSON Schema of the filterable properties."""
    props: dict = {}
    for name, f in meta.layout.fields.items():
        s = {"title": name, **f.json_schema()}
        if meta.layout.time_field is not None and name == meta.layout.time_field.name:
            s["x-ogc-role"] = "primary-instant"
        if name == meta.spec.id_field:
            s["x-ogc-role"] = "id"
        props[name] = s
    gtype = meta.layout.geometry_type
    props["geometry"] = {
        "title": "geometry",
        "format": f"geometry-{gtype.lower()}" if gtype != "Geometry" else "geometry-any",
        "x-ogc-role": "primary-geometry",
    }
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{base}/collections/{meta.id}/queryables",
        "type": "object",
        "title": meta.spec.title,
        "properties": props,
        "additionalProperties": False,
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
