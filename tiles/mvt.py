"""The SQL that makes a Mapbox Vector Tile: PostGIS cuts, simplifies and encodes (ST_TileEnvelope,
ST_Simplify, ST_AsMVTGeom, ST_AsMVT); this module only composes the statement from the registry.

One statement per tile, however many layers: each layer is a scalar subquery returning its
ST_AsMVT bytes and the layers are concatenated (an MVT is a sequence of layer messages, so
concatenating single-layer tiles is a valid multi-layer tile)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Mapping, Sequence

import pyproj
from psycopg import sql

from urbangis.layers.registry import Collection, kind_condition

from . import tms as tmslib

EXTENT = 4096  # tile units per side, as every MVT client expects
BUFFER = 64  # tile units kept beyond each edge so lines and point symbols join across tiles
TILE_PIXELS = 256  # the registry's `simplify` is in pixels of a 256-pixel tile

# Attribute encodings. ST_AsMVT writes text, numbers and booleans natively and anything else
# through its text output, which gives '{a,b}' for arrays and '2024-05-01 09:30:00+08' for a
# timestamp; clients get JSON arrays, and ISO 8601 in the session's time zone with its offset
# ('2024-05-01T09:30:00+08:00', as the OGC items write it: the configured URBANGIS_TIMEZONE).
_ARRAY = "ARRAY"
_TIMESTAMPTZ = "timestamp with time zone"


@dataclass(frozen=True)
class TileStatement:
    """A composed tile statement and the parameters it takes."""

    query: sql.Composed
    params: dict


@dataclass(frozen=True)
class StoredGeometry:
    """Geometry a table keeps ready for Web Mercator tiles, in generated columns
    (layers/migrations/0003_tile_geometry.sql, described by the ``tile_geometry`` table)."""

    mercator: str | None = None  # the source geometry in EPSG:3857
    # zoom -> (column, ST_Simplify tolerance, extent): ST_AsMVTGeom of the geometry for the whole
    # zoom level, i.e. in tile units of the zoom (x right, y down), snapped and validated
    zooms: Mapping[int, tuple[str, float, int]] = field(default_factory=dict)

    def zoom_column(self, coll: Collection, tms_id: str, z: int) -> str | None:
        """The column holding ``coll``'s tile geometry at zoom ``z``, if it was made exactly as
        the registry now asks (same simplification, same extent); else None."""
        if tms_id != "WebMercatorQuad" or self.mercator is None or coll.geometry == "point" or z not in self.zooms:
            return None
        column, tol, extent = self.zooms[z]
        want = tolerance(coll, tms_id, z)
        if extent != EXTENT or abs(tol - want) > 1e-9 * max(want, 1.0):
            return None
        return column


TILE_GEOMETRY_SQL = "SELECT table_name, source_column, column_name, zoom, tolerance, extent FROM tile_geometry"


def stored_geometry(conn) -> dict[tuple[str, str], StoredGeometry]:
    """What each table keeps ready for tiles: {(table, source geometry column): StoredGeometry}."""
    if conn.execute("SELECT to_regclass('tile_geometry')").fetchone()[0] is None:
        return {}
    found: dict[tuple[str, str], dict] = {}
    for table, source, column, zoom, tol, extent in conn.execute(TILE_GEOMETRY_SQL):
        entry = found.setdefault((table, source), {"mercator": None, "zooms": {}})
        if zoom is None:
            entry["mercator"] = column
        else:
            entry["zooms"][zoom] = (column, tol, extent)
    return {key: StoredGeometry(e["mercator"], e["zooms"]) for key, e in found.items()}


@lru_cache(maxsize=64)
def _geographic(srid: int) -> bool:
    return pyproj.CRS.from_epsg(srid).is_geographic


def pixel_in_storage(coll: Collection, tms_id: str, z: int) -> float:
    """One pixel of a 256-pixel tile at zoom ``z``, in the units of ``coll``'s storage CRS (degrees
    of longitude for a geographic one, the usual case). Web Mercator metres are turned into degrees
    as the projection does along the equator: 1 m = 1 / 111,319.49 degree of longitude."""
    m = tmslib.get(tms_id).matrix(z)
    px = m.cellSize * m.tileWidth / TILE_PIXELS  # in the TMS CRS's units
    tms_geographic = _geographic(tmslib.srid(tms_id))
    storage_geographic = _geographic(coll.storage_crs)
    if tms_geographic == storage_geographic:
        return px
    return px / 111319.49 if storage_geographic else px * 111319.49


def tolerance(coll: Collection, tms_id: str, z: int) -> float:
    """The simplification tolerance of ``coll`` at zoom ``z``, in units of the TMS CRS."""
    px = coll.simplify_at(z)
    if px <= 0 or coll.geometry == "point":
        return 0.0
    return px * tmslib.get(tms_id).matrix(z).cellSize * (tmslib.get(tms_id).matrix(z).tileWidth / TILE_PIXELS)


def _attribute(column: str, data_type: str | None) -> sql.Composable:
    col = sql.SQL("t.{}").format(sql.Identifier(column))
    if data_type == _ARRAY:
        expr = sql.SQL("array_to_json({})::text").format(col)
    elif data_type == _TIMESTAMPTZ:
        expr = sql.SQL("to_char({}, 'YYYY-MM-DD\"T\"HH24:MI:SSTZH:TZM')").format(col)
    else:
        return col
    return sql.SQL("{} AS {}").format(expr, sql.Identifier(column))


def layer_sql(
    coll: Collection,
    tms_id: str,
    z: int,
    types: Mapping[str, str] | None = None,
    stored: StoredGeometry | None = None,
) -> sql.Composed:
    """A scalar subquery: the MVT bytes of ``coll``'s layer in the tile (empty bytes if none).

    The bbox filter runs in the storage CRS, on the table's GiST index, against the tile envelope
    (plus buffer) transformed once. The rows it keeps are drawn from the table's EPSG:3857 copy
    of the geometry for Web Mercator tiles where it has one, else transformed to the TMS CRS.
    Where the table keeps the tile geometry of this zoom (``stored``), features wholly inside the
    tile take it, translated to the tile; the others are clipped as usual.
    """
    types = types or {}
    stored = stored or StoredGeometry()
    target = tmslib.srid(tms_id)
    # (point layers read their points through point_cte, in the storage CRS)
    mercator = stored.mercator if target == 3857 and coll.storage_crs != target and coll.geometry != "point" else None
    if mercator:
        geom = sql.SQL("t.{}").format(sql.Identifier(mercator))
    else:
        geom = sql.SQL("t.{}").format(sql.Identifier(coll.geometry_column))
        if coll.storage_crs != target:
            geom = sql.SQL("ST_Transform({}, {})").format(geom, sql.Literal(target))
    # Always the storage column's index: as fast as an index on the EPSG:3857 copy (measured), and
    # a tile over its feature limit keeps the same features whichever geometry is drawn.
    filt = sql.SQL("t.{} && {}{}{}").format(
        sql.Identifier(coll.geometry_column),
        sql.SQL("b.fenv") if coll.storage_crs == target
        else sql.SQL("ST_Transform(b.fenv, {})").format(sql.Literal(coll.storage_crs)),
        _and_kind(coll),
        _and_large_enough(coll, tms_id, z),
    )
    tol = tolerance(coll, tms_id, z)
    if tol > 0:
        geom = sql.SQL("ST_Simplify({}, {}, true)").format(geom, sql.Literal(tol))
    mvt_geom = sql.SQL("ST_AsMVTGeom({}, b.env, {}, {}, true)").format(geom, sql.Literal(EXTENT), sql.Literal(BUFFER))
    zoom_column = stored.zoom_column(coll, tms_id, z)
    if zoom_column and mercator:  # a zoom column implies the EPSG:3857 copy (StoredGeometry.zoom_column)
        # Wholly inside the tile (bounding box within the unbuffered envelope): ST_AsMVTGeom would
        # only translate and snap it, and the stored column was snapped on the same grid, so a
        # translation by the tile's offset gives the same coordinates (tested byte for byte in
        # tests/tiles/test_mvt.py). Anything else is clipped.
        mvt_geom = sql.SQL("CASE WHEN t.{m} @ b.env THEN ST_Translate(t.{c}, b.dx, b.dy) ELSE {g} END").format(
            m=sql.Identifier(mercator), c=sql.Identifier(zoom_column), g=mvt_geom
        )
    attrs = [_attribute(c, types.get(c)) for c in coll.tile_columns]
    common = dict(
        name=sql.Literal(coll.id),
        extent=sql.Literal(EXTENT),
        buffer=sql.Literal(BUFFER),
        geom=geom,
        mvt_geom=mvt_geom,
        comma=sql.SQL(", ") if attrs else sql.SQL(""),
        attrs=sql.SQL(", ").join(attrs),
        table=sql.Identifier(coll.table),
        gcol=sql.Identifier(coll.geometry_column),
        filt=filt,
        limit=sql.Literal(coll.tile_feature_limit),
    )
    plain = sql.SQL(
        "(SELECT COALESCE(ST_AsMVT(q, {name}, {extent}, 'geom'), ''::bytea) FROM ("
        "SELECT {mvt_geom} AS geom{comma}{attrs} "
        "FROM {table} t CROSS JOIN b WHERE {filt} LIMIT {limit}"
        ") q WHERE q.geom IS NOT NULL)"
    ).format(**common)
    if coll.geometry != "point":
        return plain
    # Every point when they fit; spread over the tile when they do not. The first limit + 1
    # points are read once (point_cte); only the branch CASE picks is run.
    first = sql.SQL(
        "(SELECT COALESCE(ST_AsMVT(q, {name}, {extent}, 'geom'), ''::bytea) FROM ("
        "SELECT ST_AsMVTGeom({geom}, b.env, {extent}, {buffer}, true) AS geom{comma}{attrs} "
        "FROM {first} t CROSS JOIN b) q WHERE q.geom IS NOT NULL)"
    ).format(first=sql.Identifier(_first_name(coll)), **common)
    return sql.SQL("(SELECT CASE WHEN (SELECT count(*) FROM {first}) <= {limit} THEN {plain} ELSE {cells} END)").format(
        first=sql.Identifier(_first_name(coll)), plain=first, cells=_point_layer_sql(coll, common), **common
    )


def _first_name(coll: Collection) -> str:
    return f"first_{coll.id}"


def point_cte(coll: Collection, tms_id: str) -> sql.Composed:
    """The first limit + 1 points of a point layer in the tile (the columns tiles need)."""
    target = tmslib.srid(tms_id)
    filt = sql.SQL("b.fenv") if coll.storage_crs == target else sql.SQL("ST_Transform(b.fenv, {})").format(
        sql.Literal(coll.storage_crs)
    )
    cols = sql.SQL(", ").join(
        sql.SQL("t.{}").format(sql.Identifier(c)) for c in dict.fromkeys((coll.geometry_column, *coll.tile_columns))
    )
    return sql.SQL(
        ", {name} AS MATERIALIZED (SELECT {cols} FROM {table} t CROSS JOIN b WHERE t.{gcol} && {filt}{kind} "
        "LIMIT {over})"
    ).format(
        name=sql.Identifier(_first_name(coll)),
        kind=_and_kind(coll),
        cols=cols,
        table=sql.Identifier(coll.table),
        gcol=sql.Identifier(coll.geometry_column),
        filt=filt,
        over=sql.Literal(coll.tile_feature_limit + 1),
    )


# Point tiles holding more points than the limit are read cell by cell: the tile (with its
# buffer) is cut into CELLS x CELLS cells and each gives at most limit / CELLS² points. A plain
# LIMIT on the index scan returns the first points of the GiST traversal, i.e. a few compact
# clusters, and leaves the rest of a busy tile empty (measured: 0 points in 7 of 16 quarters of a
# z12 tile holding 293,000 cases). Per-cell quotas spread the kept points over the whole tile (a
# sparse cell leaves its share unused).
# Cells are half-open: no point is taken twice.
CELLS = 4


def _point_layer_sql(coll: Collection, common: dict) -> sql.Composed:
    quota = -(-coll.tile_feature_limit // (CELLS * CELLS))
    return sql.SQL(
        "(SELECT COALESCE(ST_AsMVT(q, {name}, {extent}, 'geom'), ''::bytea) FROM ("
        "SELECT ST_AsMVTGeom({geom}, b.env, {extent}, {buffer}, true) AS geom{comma}{attrs} "
        "FROM b CROSS JOIN {cells} c "
        "CROSS JOIN LATERAL (SELECT * FROM {table} t WHERE t.{gcol} && c.cell{kind} "
        "AND {x}(t.{gcol}) >= c.x0 AND {x}(t.{gcol}) < c.x1 "
        "AND {y}(t.{gcol}) >= c.y0 AND {y}(t.{gcol}) < c.y1 LIMIT {quota}) t "
        "LIMIT {limit}"
        ") q WHERE q.geom IS NOT NULL)"
    ).format(cells=sql.Identifier(_cells_name(coll.storage_crs)), quota=sql.Literal(quota), kind=_and_kind(coll),
             # a part's table holds other kinds too, which ST_X refuses (whatever the order of the
             # conditions): its points' coordinates are read as their boxes' corners
             x=sql.SQL("ST_X" if coll.dimension is None else "ST_XMin"),
             y=sql.SQL("ST_Y" if coll.dimension is None else "ST_YMin"), **common)


def _and_large_enough(coll: Collection, tms_id: str, z: int) -> sql.Composable:
    """`` AND`` the bounding box of a line or polygon spans ``tile_min_pixels`` at zoom ``z`` (on
    the stored geometry's box, which PostGIS keeps in the geometry's header), or nothing."""
    if coll.tile_min_pixels <= 0 or coll.geometry == "point":
        return sql.SQL("")
    g = sql.SQL("t.{}::box2d").format(sql.Identifier(coll.geometry_column))  # the header's box, not a scan
    large = sql.SQL("greatest(ST_XMax({g}) - ST_XMin({g}), ST_YMax({g}) - ST_YMin({g})) >= {size}").format(
        g=g, size=sql.Literal(coll.tile_min_pixels * pixel_in_storage(coll, tms_id, z)))
    if coll.geometry == "mixed":  # its points have no size and stay (thinned by the limit alone)
        large = sql.SQL("(ST_Dimension(t.{}) = 0 OR {})").format(sql.Identifier(coll.geometry_column), large)
    return sql.SQL(" AND {}").format(large)


def thinned(coll: Collection, level: int) -> Collection:
    """``coll`` as a tile over the size budget draws it at thinning ``level`` (0: as configured):
    each level halves the features a tile may hold and doubles the size (from 1 pixel) below
    which lines and polygons are left out."""
    if level <= 0:
        return coll
    return replace(coll, tile_feature_limit=max(1, coll.tile_feature_limit >> level),
                   tile_min_pixels=max(coll.tile_min_pixels, float(1 << (level - 1))))


def _and_kind(coll: Collection) -> sql.Composable:
    """`` AND`` the condition of a part of a mixed collection on ``t``, or nothing."""
    kind = kind_condition(coll, "t")
    return sql.SQL(" AND {}").format(kind) if kind is not None else sql.SQL("")


def _cells_name(srid: int) -> str:
    return f"cells_{srid}"


def _cells_cte(tms_id: str, srid: int) -> sql.Composed:
    """The CELLS x CELLS cells of the buffered tile in the storage CRS ``srid``, with their bounds
    as numbers, computed once (a rectangle in a TMS CRS stays one in the storage CRS)."""
    cell = sql.SQL(
        "ST_MakeEnvelope(ST_XMin(fenv) + i * w, ST_YMin(fenv) + j * h, "
        "ST_XMin(fenv) + (i + 1) * w, ST_YMin(fenv) + (j + 1) * h, {tsrid})"
    ).format(tsrid=sql.Literal(tmslib.srid(tms_id)))
    if srid != tmslib.srid(tms_id):
        cell = sql.SQL("ST_Transform({}, {})").format(cell, sql.Literal(srid))
    return sql.SQL(
        ", {name} AS MATERIALIZED (SELECT cell, ST_XMin(cell) AS x0, ST_XMax(cell) AS x1, "
        "ST_YMin(cell) AS y0, ST_YMax(cell) AS y1 FROM (SELECT {cell} AS cell FROM "
        "(SELECT fenv, (ST_XMax(fenv) - ST_XMin(fenv)) / {n} AS w, "
        "(ST_YMax(fenv) - ST_YMin(fenv)) / {n} AS h FROM b) s, "
        "generate_series(0, {n} - 1) i, generate_series(0, {n} - 1) j) g)"
    ).format(name=sql.Identifier(_cells_name(srid)), cell=cell, n=sql.Literal(CELLS))


def _bounds_cte(tms_id: str) -> sql.Composed:
    """The CTE ``b`` with the tile envelope ``env`` and the buffered filter envelope ``fenv``,
    both in the TMS CRS (and, for Web Mercator, ``dx``, ``dy``: the tile's offset in tile units
    of its zoom, for stored tile geometry). MATERIALIZED so they are computed once, not per row."""
    margin = sql.Literal(BUFFER / EXTENT)
    env: sql.Composable
    fenv: sql.Composable
    more: sql.Composable
    if tms_id == "WebMercatorQuad":
        env = sql.SQL("ST_TileEnvelope(%(z)s::int, %(x)s::int, %(y)s::int)")
        fenv = sql.SQL("ST_TileEnvelope(%(z)s::int, %(x)s::int, %(y)s::int, margin => {})").format(margin)
        more = sql.SQL(", -{e} * %(x)s::float8 AS dx, -{e} * %(y)s::float8 AS dy").format(e=sql.Literal(EXTENT))
    else:
        srid = sql.Literal(tmslib.srid(tms_id))
        env = sql.SQL("ST_MakeEnvelope(%(l)s, %(b)s, %(r)s, %(t)s, {})").format(srid)
        fenv = sql.SQL(
            "ST_Expand(ST_MakeEnvelope(%(l)s, %(b)s, %(r)s, %(t)s, {}), (%(r)s - %(l)s) * {})"
        ).format(srid, margin)
        more = sql.SQL("")
    return sql.SQL("WITH b AS MATERIALIZED (SELECT {} AS env, {} AS fenv{})").format(env, fenv, more)


def params(tms_id: str, z: int, x: int, y: int) -> dict:
    """The parameters of a tile statement for tile z/x/y (checked against the matrix set)."""
    bnd = tmslib.bounds(tms_id, z, x, y)
    if tms_id == "WebMercatorQuad":
        return {"z": z, "x": x, "y": y}
    return {"l": bnd.left, "b": bnd.bottom, "r": bnd.right, "t": bnd.top}


def tile_sql(
    layers: Sequence[Collection],
    tms_id: str,
    z: int,
    types: Mapping[str, Mapping[str, str]] | None = None,
    extra: Sequence[sql.Composable] = (),
    stored: Mapping[tuple[str, str], StoredGeometry] | None = None,
) -> sql.Composed:
    """The statement returning one row: ``tile`` (the MVT of ``layers`` that are shown at zoom
    ``z``, concatenated) followed by the ``extra`` expressions. ``stored``: what the tables keep
    ready for tiles (:func:`stored_geometry`); without it every feature is transformed and clipped."""
    types = types or {}
    stored = stored or {}
    shown = [c for c in layers if c.in_zoom(z)]
    body = (
        sql.SQL(" || ").join(
            layer_sql(c, tms_id, z, types.get(c.table), stored.get((c.table, c.geometry_column))) for c in shown
        )
        if shown
        else sql.SQL("''::bytea")
    )
    cols = [sql.SQL("{} AS tile").format(body), *extra]
    points = [c for c in shown if c.geometry == "point"]
    cells = sorted({c.storage_crs for c in points})
    ctes = (
        _bounds_cte(tms_id)
        + sql.Composed([_cells_cte(tms_id, srid) for srid in cells])
        + sql.Composed([point_cte(c, tms_id) for c in points])
    )
    return ctes + sql.SQL(" SELECT ") + sql.SQL(", ").join(cols)


COLUMN_TYPES_SQL = (
    "SELECT table_name, column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = ANY(%s)"
)


def column_types(conn, tables: Sequence[str]) -> dict[str, dict[str, str]]:
    """The SQL data type of each column of ``tables``: {table: {column: data_type}}."""
    out: dict[str, dict[str, str]] = {}
    for table, column, data_type in conn.execute(COLUMN_TYPES_SQL, (list(tables),)):
        out.setdefault(table, {})[column] = data_type
    return out
