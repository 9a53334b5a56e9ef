"""TileJSON 3.0.0 documents of tilesets (https://github.com/mapbox/tilejson-spec/tree/master/3.0.0),
the form MapLibre, Leaflet plugins and GDAL read a vector tileset's URL template and layers from."""
from __future__ import annotations

from typing import Mapping

from psycopg import sql

from urbangis.layers.registry import MapView

from .tilesets import Tileset

# SQL data types as TileJSON's field descriptions (the spec lets them be any text; these are the
# words GL style authors expect).
_NUMBER = {"smallint", "integer", "bigint", "real", "double precision", "numeric"}


def field_kind(data_type: str | None) -> str:
    if data_type in _NUMBER:
        return "Number"
    if data_type == "boolean":
        return "Boolean"
    return "String"


def extents_sql(ts: Tileset) -> sql.Composed:
    """Each layer's extent in EPSG:4326: the planner's estimate where the table is analysed
    (instant on millions of rows), else an exact ST_Extent (small, fresh tables)."""
    parts = [
        sql.SQL(
            "SELECT {cid} AS id, ST_Transform(ST_SetSRID(coalesce("
            "urbangis_estimated_extent({tname}::regclass, {gname})::geometry, "
            "(SELECT ST_Extent({gcol}) FROM {table})::geometry), {srid}), 4326) AS g"
        ).format(
            cid=sql.Literal(c.id),
            tname=sql.Literal(c.table),
            gname=sql.Literal(c.geometry_column),
            gcol=sql.Identifier(c.geometry_column),
            table=sql.Identifier(c.table),
            srid=sql.Literal(c.storage_crs),
        )
        for c in ts.layers
    ]
    return sql.SQL(
        "SELECT id, ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM ({}) u WHERE g IS NOT NULL"
    ).format(sql.SQL(" UNION ALL ").join(parts))


def layer_extents(conn, ts: Tileset) -> dict[str, list[float]]:
    """{layer id: [west, south, east, north]} in degrees, for the layers that hold data."""
    out = {}
    for cid, w, s, e, n in conn.execute(extents_sql(ts)):
        out[cid] = [round(v, 6) for v in (max(-180.0, w), max(-85.0511, s), min(180.0, e), min(85.0511, n))]
    return out


def union(extents: Mapping[str, list[float]]) -> list[float] | None:
    """The bounding box of all extents."""
    if not extents:
        return None
    boxes = list(extents.values())
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def center(extents: Mapping[str, list[float]]) -> list[float] | None:
    """Where most layers are: the median of the layers' centres. A province polygon in the admin
    layer must not pull the view into the desert, so not the centre of the union."""
    if not extents:
        return None
    xs = sorted((b[0] + b[2]) / 2 for b in extents.values())
    ys = sorted((b[1] + b[3]) / 2 for b in extents.values())
    mid = len(xs) // 2
    if len(xs) % 2:
        return [round(xs[mid], 6), round(ys[mid], 6)]
    return [round((xs[mid - 1] + xs[mid]) / 2, 6), round((ys[mid - 1] + ys[mid]) / 2, 6)]


def tilejson(
    ts: Tileset,
    tile_url: str,
    extents: Mapping[str, list[float]],
    types: Mapping[str, Mapping[str, str]],
    version: str,
    view: MapView | None = None,
) -> dict:
    """The TileJSON 3.0.0 document of ``ts`` with tiles at ``tile_url`` ({z}/{x}/{y} template)."""
    minzoom, maxzoom = ts.minzoom, ts.maxzoom
    doc: dict = {
        "tilejson": "3.0.0",
        "name": ts.title,
        "description": ts.description,
        "version": version,
        "scheme": "xyz",
        "tiles": [tile_url],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "vector_layers": [
            {
                "id": c.id,
                "description": c.title,
                "minzoom": c.minzoom,
                "maxzoom": c.maxzoom,
                "fields": {f: field_kind(types.get(c.table, {}).get(f)) for f in c.tile_columns},
            }
            for c in ts.layers
        ],
    }
    box = union(extents)
    if box:
        doc["bounds"] = box
    middle, zoom = opening(ts, extents, view)
    if middle:
        doc["center"] = [*middle, zoom]
    return doc


def default_zoom(ts: Tileset) -> int:
    """A city-scale opening zoom, inside the tileset's zoom range."""
    return max(ts.minzoom, min(12, ts.maxzoom))


def opening(ts: Tileset, extents: Mapping[str, list[float]], view: MapView | None) -> tuple[list[float] | None, int]:
    """Where a map of ``ts`` opens: the configured view (registry ``map`` section) where set, else
    where the data is, at a zoom where the tileset already shows something."""
    middle = list(view.center) if view and view.center else center(extents)
    zoom = view.zoom if view and view.zoom is not None else default_zoom(ts)
    return middle, max(ts.minzoom, min(zoom, ts.maxzoom))
