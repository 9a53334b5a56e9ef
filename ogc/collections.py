"""Collections: what the layer registry publishes, completed from the database itself (field
types, geometry type, spatial and temporal extent, feature count). Nothing here is per collection:
every registry entry is described the same way.

Field types are read once per process (they change only with a migration); extent and count are
cached per data version (``layer_state``, bumped by each table's statement trigger), so they are
recomputed only after the data changed. Tables that are not tracked there are re-read every
``UNTRACKED_TTL`` seconds. A large table that keeps changing (cases arrive all day) is recounted
at most every ``RECOUNT_INTERVAL`` seconds; between recounts its count is unknown (``itemCount``
and ``numberMatched`` are left out) rather than stale.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Iterator, TypeVar

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from urbangis.layers import scope
from urbangis.layers.registry import Collection, kind_condition, registry
from urbangis.layers.settings import OgcSettings

from . import crs as crsmod
from .errors import CollectionNotFound

log = logging.getLogger("urbangis.ogc")

UNTRACKED_TTL = 30.0
RECOUNT_INTERVAL = 60.0
# Above this many rows (planner estimate) the extent comes from the planner's statistics
# (ST_EstimatedExtent) instead of a full scan.
EXACT_EXTENT_MAX_ROWS = 200_000

GEOJSON_TYPES = {
    "point": "Point",
    "multipoint": "MultiPoint",
    "linestring": "LineString",
    "multilinestring": "MultiLineString",
    "polygon": "Polygon",
    "multipolygon": "MultiPolygon",
    "geometrycollection": "GeometryCollection",
}


def _sql(name: str) -> str:
    return resources.files("urbangis.ogc").joinpath("sql", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Field:
    """One exposed column and the JSON Schema of its values."""

    name: str
    sql_type: str
    typname: str
    category: str
    elem_typname: str | None = None
    elem_category: str | None = None

    @property
    def is_array(self) -> bool:
        """True for array columns."""
        return self.category == "A"

    @property
    def is_temporal(self) -> bool:
        """True for date and timestamp columns."""
        return self.category == "D" or self.typname in ("timestamptz", "timestamp", "date")

    @property
    def is_numeric(self) -> bool:
        """True for numeric columns."""
        return self.category == "N"

    @property
    def is_text(self) -> bool:
        """True for text columns."""
        return self.category == "S"

    def json_schema(self) -> dict:
        """JSON Schema of the values (queryables, OpenAPI)."""
        if self.is_array:
            item = _scalar_schema(self.elem_typname or "", self.elem_category or "")
            return {"type": "array", "items": item}
        return _scalar_schema(self.typname, self.category)


def _scalar_schema(typname: str, category: str) -> dict:
    if typname in ("int2", "int4", "int8"):
        return {"type": "integer"}
    if category == "N":
        return {"type": "number"}
    if category == "B":
        return {"type": "boolean"}
    if typname == "date":
        return {"type": "string", "format": "date"}
    if typname in ("timestamptz", "timestamp"):
        return {"type": "string", "format": "date-time"}
    if typname in ("json", "jsonb"):
        return {"type": "object"}
    return {"type": "string"}


@dataclass(frozen=True)
class Layout:
    """What does not change without a migration: the exposed fields and the geometry column."""

    spec: Collection
    fields: dict[str, Field]
    id_field: Field
    time_field: Field | None
    geometry_type: str  # GeoJSON geometry type, or "Geometry" when mixed
    storage_srid: int


@dataclass
class State:
    """What changes with the data, cached per version."""

    version: int | None
    estimate: int
    count: int | None
    bbox: tuple[float, float, float, float] | None  # CRS84
    interval: tuple[datetime | None, datetime | None] | None
    read_at: float = field(default_factory=time.monotonic)
    counted_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class CollectionMeta:
    """A published collection: registry entry + database layout + current data state."""

    layout: Layout
    state: State

    @property
    def id(self) -> str:
        """The collection id."""
        return self.layout.spec.id

    @property
    def spec(self) -> Collection:
        """The registry entry."""
        return self.layout.spec

    def queryables(self) -> dict[str, Field]:
        """The filterable fields, by name."""
        return self.layout.fields


_Row = TypeVar("_Row")


def _the_row(cur: psycopg.Cursor[_Row]) -> _Row:
    """The row of a query that returns exactly one (an aggregate, a SELECT without FROM)."""
    row = cur.fetchone()
    if row is None:  # cannot be for such a query; if it were, say so here rather than fail on None[0] later
        raise RuntimeError("a one-row query returned no row")
    return row


def _where(spec: Collection) -> sql.Composable:
    """`` WHERE`` the condition of a part of a mixed collection, or nothing."""
    kind = kind_condition(spec)
    return sql.SQL(" WHERE {}").format(kind) if kind is not None else sql.SQL("")


def table_identifier(table: str) -> sql.Identifier:
    """``schema.table`` or ``table`` as a quoted identifier."""
    return sql.Identifier(*table.split(".", 1))


class Catalog:
    """The published collections of one app, with their cached descriptions."""

    def __init__(self, collections: dict[str, Collection] | None = None, settings: OgcSettings | None = None,
                 pool: ConnectionPool | None = None) -> None:
        self._specs = collections if collections is not None else registry()
        # the descriptions are shared by every caller: read (when the data changed) on a connection
        # of ``pool`` without the running request's area, not on the caller's (layers/scope.py)
        self._pool = pool
        self.settings = settings or OgcSettings.model_construct()  # the defaults, not the environment
        self._layouts: dict[str, Layout] = {}
        self._states: dict[str, State] = {}
        self._lock = threading.Lock()
        self._problems: dict[str, str] = {}

    @property
    def specs(self) -> dict[str, Collection]:
        """The registry entries, by id."""
        return self._specs

    def ids(self) -> list[str]:
        """The collection ids, in registry order."""
        return list(self._specs)

    def layout(self, conn: psycopg.Connection, cid: str) -> Layout:
        """The layout of collection ``cid``; 404 when it is not published or its table is missing."""
        spec = self._specs.get(cid)
        if spec is None:
            raise CollectionNotFound(
                f"no collection {cid!r}; published collections: {', '.join(self._specs)}", collection=cid
            )
        found = self._layouts.get(cid)
        if found is None:
            with self._shared(conn) as c:
                found = self._read_layout(c, spec)
            self._layouts[cid] = found
        return found

    @contextmanager
    def _shared(self, conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
        """``conn``, or (when it is a caller's, scoped to an area) an unscoped one of the pool."""
        if scope.current() is None or self._pool is None:
            yield conn
            return
        with scope.unscoped(), self._pool.connection() as shared:
            yield shared

    def describe(self, conn: psycopg.Connection, cid: str) -> CollectionMeta:
        """Layout and current data state of ``cid`` (state re-read when the data changed)."""
        layout = self.layout(conn, cid)
        spec = layout.spec
        row = _the_row(conn.execute(
            _sql("table_state.sql"), {"name": spec.table.split(".")[-1], "table": spec.table}
        ))
        version, estimate = row[0], max(int(row[1] or 0), 0)
        cached = self._states.get(cid)
        now = time.monotonic()
        fresh = cached is not None and (
            (version is not None and cached.version == version)
            or (version is None and now - cached.read_at < UNTRACKED_TTL)
        ) and not (cached.count is None and now - cached.counted_at >= RECOUNT_INTERVAL)
        if cached is None or not fresh:  # fresh implies a cached state; said again for the type checker
            # A full count of a large table costs a scan: not more often than RECOUNT_INTERVAL.
            recount = (cached is None or estimate <= self.settings.exact_count_max
                       or now - cached.counted_at >= RECOUNT_INTERVAL)
            with self._shared(conn) as c:
                cached = self._read_state(c, layout, version, estimate, recount, cached)
            with self._lock:
                self._states[cid] = cached
        return CollectionMeta(layout, cached)

    def available(self, conn: psycopg.Connection) -> list[CollectionMeta]:
        """Every collection whose table exists, in registry order; missing tables are logged once.
        A part of a mixed collection is listed once it holds features (a city without courtyard
        points lists no empty "courtyards_points" for GIS users to open; it is served all the same)."""
        out = []
        for cid in self._specs:
            try:
                meta = self.describe(conn, cid)
                if meta.spec.part_of is None or meta.state.count != 0:
                    out.append(meta)
            except CollectionNotFound as exc:
                if self._problems.get(cid) != exc.description:
                    self._problems[cid] = exc.description
                    log.warning("collection %s is not published: %s", cid, exc.description)
        return out

    # -- reading from the database ------------------------------------------------------------

    def _read_layout(self, conn: psycopg.Connection, spec: Collection) -> Layout:
        rows = conn.execute(_sql("columns.sql"), {"table": spec.table}).fetchall()
        if not rows:
            raise CollectionNotFound(
                f"collection {spec.id!r} is configured but its table {spec.table!r} does not exist",
                collection=spec.id,
            )
        columns = {r[0]: r for r in rows}
        missing = [f for f in (spec.id_field, spec.geometry_column, *spec.fields) if f not in columns]
        if spec.time_field and spec.time_field not in columns:
            missing.append(spec.time_field)
        if missing:
            raise CollectionNotFound(
                f"collection {spec.id!r} is configured with column(s) {', '.join(missing)} that table "
                f"{spec.table!r} does not have",
                collection=spec.id,
            )

        def make(name: str) -> Field:
            r = columns[name]
            return Field(name=r[0], sql_type=r[1], typname=r[2], category=r[3], elem_typname=r[4], elem_category=r[5])

        fields = {name: make(name) for name in spec.fields}
        geom = columns[spec.geometry_column]
        gtype = GEOJSON_TYPES.get((geom[6] or "").lower(), "Geometry")
        srid = int(geom[7] or 0) or spec.storage_crs
        return Layout(
            spec=spec,
            fields=fields,
            id_field=fields.get(spec.id_field) or make(spec.id_field),
            time_field=(fields.get(spec.time_field) or make(spec.time_field)) if spec.time_field else None,
            geometry_type=gtype,
            storage_srid=srid,
        )

    def _read_state(self, conn: psycopg.Connection, layout: Layout, version: int | None, estimate: int,
                    recount: bool = True, previous: State | None = None) -> State:
        spec = layout.spec
        table = table_identifier(spec.table)
        where = _where(spec)
        count, counted_at = None, (previous.counted_at if previous else time.monotonic())
        if recount:
            count = int(_the_row(conn.execute(sql.SQL("SELECT count(*) FROM {}{}").format(table, where)))[0])
            counted_at = time.monotonic()
        bbox = self._extent(conn, layout, estimate)
        interval = None
        if layout.time_field is not None:
            t = sql.Identifier(layout.time_field.name)
            # a date column (an epoch's day) as the start of that day in the session's time zone (the
            # configured one): the extent is RFC 3339 date-times either way
            query = sql.SQL("SELECT min({t})::timestamptz, max({t})::timestamptz FROM {table}{where}")
            ends = _the_row(conn.execute(query.format(t=t, table=table, where=where)))
            interval = tuple(ends) if ends[0] is not None else None
        return State(version=version, estimate=estimate, count=count, bbox=bbox, interval=interval,
                     counted_at=counted_at)

    def _extent(self, conn: psycopg.Connection, layout: Layout, estimate: int):
        spec = layout.spec
        geom = sql.Identifier(spec.geometry_column)
        box = None
        # the statistics' extent (a partitioned table's: its partitions'); a part's is its own
        if estimate > EXACT_EXTENT_MAX_ROWS and spec.dimension is None:
            try:
                with conn.transaction():
                    box = _the_row(conn.execute("SELECT urbangis_estimated_extent(%s::regclass, %s)::geometry",
                                                (spec.table, spec.geometry_column)))[0]
            except psycopg.Error:
                box = None
        if box is None:
            box = _the_row(conn.execute(
                sql.SQL("SELECT ST_Extent({g})::geometry FROM {t}{w}").format(
                    g=geom, t=table_identifier(spec.table), w=_where(spec))
            ))[0]
        if box is None:
            return None
        # To CRS84 for the collection document; 4490 and 4326 coincide (PROJ: null transformation).
        expr = "ST_SetSRID(%(b)s::geometry, %(s)s)"
        if layout.storage_srid not in (4326, crsmod.STORAGE_SRID):
            expr = f"ST_Transform({expr}, 4326)"
        row = _the_row(conn.execute(
            f"SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM (SELECT {expr} AS g) s",
            {"b": box, "s": layout.storage_srid},
        ))
        return tuple(round(float(v), 7) for v in row)
