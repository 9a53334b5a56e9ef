"""From staging to the real table: rows without errors are upserted by key (UPDATE where the
key exists and something differs, INSERT where it does not), in the load's transaction. Rows
equal to what the database holds are not rewritten, so re-running a load changes nothing;
``replace`` empties the layer first (see :func:`replace`: DELETE, or TRUNCATE before a big load
into a table no foreign key points at). Statement triggers on the tables stay on, so
``layer_state`` versions move and caches (geocoder, tiles, OGC) see the new data.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

from urbangis.layers.contract import Layer

from . import fetch, locks
from .staging import stage_fields
from .validate.relations import DERIVED
from .validate.rows import FROM_CODE

log = logging.getLogger("urbangis.ingest")

# Geometry as the table stores it.
_GEOM_SQL = {
    "multipolygon": "ST_Multi(ST_CollectionExtract(ST_Force2D(s.geom), 3))",
    "multilinestring": "ST_Multi(ST_CollectionExtract(ST_Force2D(s.geom), 2))",
    "point": "CASE WHEN GeometryType(s.geom) = 'MULTIPOINT' THEN ST_GeometryN(ST_Force2D(s.geom), 1) "
             "ELSE ST_Force2D(s.geom) END",
}
# A stored geometry is kept (the row unchanged) when the file's is the same shape within this many
# degrees of EPSG:4490 at every vertex, ~1 mm: a file re-exported through a projected CRS (a GIS's
# Gauss-Kruger zone, back to CGCS2000) differs from what it was loaded from by ~1e-9 degrees, and a
# monthly reload of unchanged grids must not report (and write) them all as updated.
SAME_SHAPE_DEGREES = 1e-8


def _same_shape(a: sql.Composable, b: sql.Composable) -> sql.Composable:
    """Whether geometries ``a`` and ``b`` are the same shape within SAME_SHAPE_DEGREES. A CASE, so
    the steps run in this order whatever the planner does with the rest of the statement: the
    comparison may meet a row the checks rejected (a ring left open), which GEOS cannot take, and
    ST_IsValid answers false for it where ST_HausdorffDistance would fail the statement."""
    return sql.SQL("(CASE WHEN {a} IS NOT DISTINCT FROM {b} THEN true "
                   "WHEN {a} IS NULL OR {b} IS NULL OR GeometryType({a}) <> GeometryType({b}) "
                   "OR ST_NPoints({a}) <> ST_NPoints({b}) THEN false "
                   "WHEN NOT (ST_IsValid({a}) AND ST_IsValid({b})) THEN false "
                   "ELSE ST_HausdorffDistance({a}, {b}) <= {tol} END)").format(
                       a=a, b=b, tol=sql.Literal(SAME_SHAPE_DEGREES))


@dataclass
class MergeCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


def secondary_indexes(conn: psycopg.Connection, layer: Layer) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes that back no constraint (GiST, lookups). A
    partitioned table's index is written ``ON ONLY`` the table, which would make it again without
    its partitions' indexes: the definition given makes them too."""
    return [(name, definition.replace(" ON ONLY ", " ON ", 1)) for name, definition in conn.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
        (layer.table,))]


def drop_indexes(conn: psycopg.Connection, layer: Layer) -> list[str]:
    """Drop the secondary indexes for a bulk load into an empty table; returns their definitions.

    Building a GiST index once over a million rows is several times faster than growing it row by
    row. It is all inside the load's transaction: a failure brings the indexes back with the rest.
    The price is an exclusive lock on the (empty) table until the commit.
    """
    defs = []
    for name, definition in secondary_indexes(conn, layer):
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        defs.append(definition)
    return defs


def create_indexes(conn: psycopg.Connection, definitions: list[str]) -> None:
    """Build the indexes dropped by :func:`drop_indexes` again (or a new table's: swap.new_indexes)."""
    for definition in definitions:
        t0 = time.perf_counter()
        conn.execute(definition)
        log.debug("%s in %.1f s", definition, time.perf_counter() - t0)


def referenced(conn: psycopg.Connection, layer: Layer) -> bool:
    """True when a deferred foreign key of another table points at the layer's table. Rows deleted
    from it (``replace``) then leave a check pending until the commit, and PostgreSQL refuses
    CREATE INDEX and ALTER TABLE on a table with pending checks: such a load keeps the indexes."""
    return fetch.one(conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = %s::regclass AND contype = 'f' "
        "AND condeferred AND conrelid <> confrelid)", (layer.table,)))[0]


def is_empty(conn: psycopg.Connection, layer: Layer) -> bool:
    query = sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(layer.table))
    return fetch.one(conn.execute(query))[0]


def replace(conn: psycopg.Connection, layer: Layer, bulk: bool = False) -> int:
    """Empty the layer's table (inside the load's transaction); returns how many rows it held.

    ``bulk``: a big load follows, which takes the table exclusively anyway (the direct lane). The
    table is then TRUNCATEd (still undone by a rollback) unless a foreign key points at it: the
    new rows go into a fresh file instead of after a million dead ones, which the COPY, the key and
    every index build would wade through (a --replace of 1M components: 10.7-11.1 s -> 7.0-7.9 s)
    and which would stay as bloat until a VACUUM. Otherwise DELETE, so that other layers' deferred
    foreign keys are checked at the commit and readers keep the old rows until then.
    """
    t = sql.Identifier(layer.table)
    if bulk and not fetch.one(conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = %s::regclass "
            "AND contype = 'f' AND conrelid <> confrelid)", (layer.table,)))[0]:
        locks.lock_exclusive(conn, layer.table, "could not take it to replace its rows")
        held = fetch.one(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(t)))[0]
        conn.execute(sql.SQL("TRUNCATE {}").format(t))
        return held
    if layer.name == "supervisors":
        conn.execute("DELETE FROM supervisor_grids")
    return conn.execute(sql.SQL("DELETE FROM {}").format(t)).rowcount


def kept_fields(layer: Layer, mapping: dict[str, str], extras: list[str]) -> frozenset[str]:
    """The fields an update leaves as they are: those the file has no column for and the loader does
    not fill in itself (a survey file of code, name and status keeps each component's owner_dept),
    and ``attrs`` when the file has no column beyond the contract's. A column the file has, empty
    in a row, empties that row's field."""
    filled = {f for name, f in DERIVED if name == layer.name} | {f for name, f in FROM_CODE if name == layer.name}
    kept = {f.name for f in stage_fields(layer) if f.name not in mapping and f.name not in filled}
    if layer.name == "supervisors":
        kept.discard("grid_codes")  # written to supervisor_grids, not to the table
    if not extras:
        kept.add("attrs")
    return frozenset(kept)


def merge(conn: psycopg.Connection, layer: Layer, stage: str, issues: str, empty: bool = False,
          geometry: bool = True, kept: frozenset[str] = frozenset()) -> MergeCounts:
    """Upsert the staged rows that have no error; returns what happened to them. ``empty``: the
    table is known to be empty (in this transaction), so every row is a plain INSERT. ``geometry``
    False: the file had none (a code list of admin areas): rows keep the geometry they have, new
    ones get none. ``kept``: fields an update leaves as they are (``kept_fields``); new rows get
    none."""
    t0 = time.perf_counter()
    s, i = sql.Identifier(stage), sql.Identifier(issues)
    good = sql.SQL("NOT EXISTS (SELECT 1 FROM {i} e WHERE e.row_no = s.row_no AND e.severity = 'error')").format(i=i)
    total = fetch.one(conn.execute(sql.SQL("SELECT count(*) FROM {s} s WHERE {good}").format(s=s, good=good)))[0]
    names = [f.name for f in stage_fields(layer) if not (layer.name == "supervisors" and f.name == "grid_codes")]
    columns = names + ["attrs"]
    _derive(conn, layer, s, good)
    select: list[sql.Composable] = [sql.SQL("s.{}").format(sql.Identifier(n)) for n in names]
    select.append(sql.SQL("coalesce(s.attrs, '{}')"))
    if layer.geometry and geometry:
        columns.append("geom")
        select.append(sql.SQL(_GEOM_SQL.get(layer.geometry, "ST_Force2D(s.geom)")))
    target = [sql.Identifier(c) for c in columns]
    key = sql.Identifier(layer.key)
    t = sql.Identifier(layer.table)
    # existing keys are updated where something differs; new keys are plain INSERTs (no speculative
    # insertion per row, which ON CONFLICT would cost on million-row loads)
    written = [(c, sel) for c, sel in zip(columns, select) if c != layer.key and c not in kept]
    updated = 0
    if not empty and written:
        plain = [(c, sel) for c, sel in written if c != "geom"]
        differs = sql.SQL("ROW({}) IS DISTINCT FROM ROW({})").format(
            sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c, _ in plain),
            sql.SQL(", ").join(sel for _, sel in plain))
        if len(plain) < len(written):  # the geometry: the same shape within SAME_SHAPE_DEGREES is no change
            geom = next(sel for c, sel in written if c == "geom")
            differs = sql.SQL("({} OR NOT {})").format(differs, _same_shape(sql.SQL("t.geom"), geom))
        updated = conn.execute(sql.SQL(
            "UPDATE {t} AS t SET ({cols}) = ROW({sel}) FROM {s} s WHERE t.{k} = s.{k} AND {good} "
            "AND {differs}").format(
                t=t, cols=sql.SQL(", ").join(sql.Identifier(c) for c, _ in written),
                sel=sql.SQL(", ").join(sel for _, sel in written), s=s, k=key, good=good,
                differs=differs)).rowcount
    new_only = sql.SQL("") if empty else sql.SQL(" AND NOT EXISTS (SELECT 1 FROM {t} x WHERE x.{k} = s.{k})").format(
        t=t, k=key)
    inserted = conn.execute(sql.SQL("INSERT INTO {t} ({cols}) SELECT {sel} FROM {s} s WHERE {good}{new}").format(
        t=t, cols=sql.SQL(", ").join(target), sel=sql.SQL(", ").join(select), s=s, good=good, new=new_only)).rowcount
    log.debug("%s merge: %d updated, %d inserted in %.1f s", layer.name, updated, inserted, time.perf_counter() - t0)
    counts = MergeCounts(inserted=inserted, updated=updated, unchanged=total - inserted - updated)
    if layer.name == "supervisors":
        _supervisor_grids(conn, s, good)
    return counts


def _derive(conn: psycopg.Connection, layer: Layer, s: sql.Identifier, good: sql.Composable) -> None:
    """Fill in the staged good rows' empty derived codes (DERIVED) from their location, before the
    merge reads them. One join per field between the areas and the rows' points, indexed on both
    sides, so PostgreSQL may go area by area (each district's polygon prepared once for all the
    points in it: 40,000 cases 2.3 s -> 0.1 s) instead of one subquery per row; and the merge's
    UPDATE no longer computes a derived value twice per row (to set it and to compare it)."""
    for (name, field), derived in DERIVED.items():
        if name != layer.name:
            continue
        f = sql.Identifier(field)
        points = sql.Identifier(f"{layer.name}_{field}_points")
        n = conn.execute(sql.SQL("CREATE TEMP TABLE {p} ON COMMIT DROP AS SELECT s.row_no, ST_PointOnSurface(s.geom) "
                                 "AS p FROM {s} s WHERE s.{f} IS NULL AND s.geom IS NOT NULL AND {good}").format(
            p=points, s=s, f=f, good=good)).rowcount
        if n:
            conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (p)").format(points))
            conn.execute(sql.SQL("ANALYZE {}").format(points))
            conn.execute(sql.SQL(
                "UPDATE {s} s SET {f} = d.code FROM (SELECT DISTINCT ON (p.row_no) p.row_no, a.code "
                "FROM {t} a JOIN {p} p ON ST_Covers(a.geom, p.p) WHERE {w} ORDER BY p.row_no, a.code) d "
                "WHERE s.row_no = d.row_no").format(s=s, f=f, t=sql.Identifier(derived.table), p=points,
                                                    w=sql.SQL(derived.where or "true")))
        conn.execute(sql.SQL("DROP TABLE {}").format(points))


def _supervisor_grids(conn: psycopg.Connection, s: sql.Identifier, good: sql.Composable) -> None:
    """A supervisor's grids are exactly those of the file: stale bindings go, new ones come."""
    conn.execute(sql.SQL(
        "DELETE FROM supervisor_grids g USING {s} s WHERE g.supervisor_id = s.id AND {good} "
        "AND NOT g.grid_code = ANY(s.grid_codes)").format(s=s, good=good))
    conn.execute(sql.SQL(
        "INSERT INTO supervisor_grids (supervisor_id, grid_code) SELECT DISTINCT s.id, unnest(s.grid_codes) "
        "FROM {s} s WHERE {good} ON CONFLICT DO NOTHING").format(s=s, good=good))
