"""The direct lane of a big load into an empty layer, or replacing one: rows that pass every check
in the reading process (validate/prechecks.py) are COPYed straight into the table; the few others
go through the staging table, where the SQL checks word the report and the merge inserts the good
ones. The table has no primary key or secondary indexes meanwhile; they are built once at the end.
Where swap.py can, that table is a new one beside the layer's, swapped in at the end, and readers
keep the old rows meanwhile; elsewhere it is the layer's own, emptied and taken exclusively.

It all runs inside a savepoint of the load's transaction (one transaction, nothing half-done).
Anything this lane cannot settle exactly the way the staging lane would (a duplicate key, a row the
table's constraints refuse, the table no longer empty) raises :class:`Fallback` or a database
error; the caller rolls back to the savepoint and loads the layer again through staging, which
names every row. So the direct lane changes how fast a clean file loads, never what is loaded or
reported.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from typing import Callable

import numpy as np
import psycopg
import pyarrow as pa
import shapely
from psycopg import sql

from urbangis.layers.contract import Layer

from . import crs as crs_mod
from . import fetch, locks, staging
from . import merge as merge_mod
from . import swap as swap_mod
from .formats.base import Batch
from .lanes import Lane, Prepared
from .validate import check_relations, geometry_checks
from .validate.prechecks import Points, PreChecker, supported, to_table_geometry
from .validate.relations import NATURAL_KEYS, Checker

log = logging.getLogger("urbangis.ingest")

DIRECT_ROWS = 10_000  # smaller loads are not worth the reference fetch and the index rebuild
# The first batch is checked and COPYed in pieces of 2,000, 4,000, 8,000 ... rows: PostgreSQL gets
# its first rows after a 2,000-row check instead of a whole batch's, and then checks and COPY
# overlap (58,338 unit grids: read+copy 1.4 s -> 1.1 s; they are mostly one 50,000-row batch).
FIRST_PIECE = 2_000


class Fallback(Exception):
    """The direct lane cannot settle this load exactly; load the layer through staging instead."""


@dataclass
class DirectResult:
    rows: int = 0
    inserted: int = 0  # straight into the table plus merged from staging
    staged: int = 0  # rows that took the staging lane
    deleted: int = 0  # rows of the layer a replacing load built aside dropped


def big(layer: Layer, total: int | None) -> bool:
    """A load big enough for this lane, of a layer whose checks all have Python twins."""
    return total is not None and total >= DIRECT_ROWS and supported(layer)


def eligible(conn: psycopg.Connection, layer: Layer, total: int | None) -> bool:
    """A big load (:func:`big`) into a table that is empty now."""
    return big(layer, total) and merge_mod.is_empty(conn, layer)


def _primary_key(conn: psycopg.Connection, layer: Layer) -> tuple[str, str] | None:
    """(name, definition) of the table's primary key, unless a foreign key depends on it."""
    return conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype = 'p' AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.confrelid = %s::regclass "
        "AND f.contype = 'f')", (layer.table, layer.table)).fetchone()


def eligible_aside(conn: psycopg.Connection, layer: Layer, total: int | None, replacing: bool) -> bool:
    """A big load (:func:`big`) that replaces the layer or goes into its empty table, of a table
    that can be built anew beside it and swapped in (swap.py): readers keep the old rows meanwhile."""
    return big(layer, total) and swap_mod.possible(conn, layer) and (replacing or merge_mod.is_empty(conn, layer))


def load(conn: psycopg.Connection, job: Prepared, lane: Lane, batches, prefetch: Callable,
         progress: Callable[[int, str], None]) -> tuple[DirectResult, str, str]:
    """Load ``batches`` (already opened batches of ``job.reader``) into the empty table, or, ``lane.aside``,
    into a new table swapped in for it at the end (the old rows dropped when ``lane.replacing``); returns
    the counts and the staging and issues tables (holding the staging lane's rows and every issue).
    ``lane.finish`` False: the last layer of a check, rolled back with nothing reading the table after
    it: every row is judged (the key too), but the indexes are not built nor the table swapped in
    (1M components checked in ~2.5 s less, and no wait for sessions reading the layer)."""
    t0 = time.perf_counter()
    out = DirectResult()
    layer, twin, (pk, fks, indexes) = _take_table(conn, job.layer, lane, out)
    t = sql.Identifier(layer.table)
    stage, issues_table = staging.create(conn, layer)
    # the reference keys and area polygons are fetched while the first batch is read and converted
    ready: Future = Future()

    def build():
        try:
            ready.set_result(PreChecker(conn, layer))
        except BaseException as exc:  # raised in the reader, so in the load
            ready.set_exception(exc)

    builder = threading.Thread(target=build, name="urbangis-prechecks", daemon=True)
    builder.start()
    fields = staging.stage_fields(layer)
    names = [f.name for f in fields]
    target = [sql.Identifier(n) for n in names] + [sql.Identifier("attrs"), sql.Identifier("geom")]
    copy_table = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(t, sql.SQL(", ").join(target))
    kinds = [f.kind for f in fields]

    def prepared():
        for i, batch in enumerate(batches):
            for piece in (batch.pieces(FIRST_PIECE) if i == 0 else (batch,)):
                yield _split(piece, job.converter.convert, job.source, ready.result, names, kinds, layer)

    t_copy = 0.0
    with staging.short_gil_slices(), contextlib.closing(prefetch(prepared())) as items:
        for n, fast, slow, issues in items:
            tc = time.perf_counter()
            n_fast, data = fast
            if n_fast:
                with conn.cursor().copy(copy_table) as copy:
                    copy.write(data)
            if slow[0]:
                staging.copy_rows(conn, stage, slow[:-1], slow[-1], kinds)
            if issues:
                staging.copy_issues(conn, issues_table, issues)
            t_copy += time.perf_counter() - tc
            out.rows += n
            out.inserted += n_fast
            out.staged += len(slow[0])
            progress(out.rows, "reading")
    builder.join()
    if ready.result().natural_duplicates():
        raise Fallback(f"the same {' + '.join(NATURAL_KEYS[layer.name])} twice in the file")
    t_read = time.perf_counter()
    progress(out.rows, "validating")
    _add_keys(conn, t, pk, fks)
    if out.staged:
        _check_staged(conn, layer, stage, issues_table, job.mapping, out.staged)
    t_check = time.perf_counter()
    progress(out.rows, "merging")
    if out.staged:
        out.inserted += merge_mod.merge(conn, layer, stage, issues_table, empty=True).inserted
    if lane.finish:
        _finish(conn, indexes, twin, lambda phase: progress(out.rows, phase))
    log.debug("%s direct: %d rows, %d through staging; read+copy %.1f s (of which COPY %.1f s), staged checks "
              "%.1f s, merge and indexes %.1f s", layer.name, out.rows, out.staged, t_read - t0, t_copy,
              t_check - t_read, time.perf_counter() - t_check)
    return out, stage, issues_table


def _take_table(conn: psycopg.Connection, layer: Layer, lane: Lane, out: DirectResult):
    """The table to COPY into: (layer on it, swap twin or None, (pk, foreign keys, indexes) to add after)."""
    if not lane.aside:
        return layer, None, _empty_in_place(conn, layer)
    # writers (and another load of the layer) wait until the commit; readers read the old rows
    conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(sql.Identifier(layer.table)))
    if not lane.replacing and not merge_mod.is_empty(conn, layer):
        raise Fallback(f"{layer.table} is no longer empty")
    if lane.replacing:
        out.deleted = fetch.one(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(layer.table))))[0]
    twin = swap_mod.create(conn, layer)
    layer = dc_replace(layer, table=twin.new)  # from here on every statement is on the new table
    return layer, twin, (swap_mod.new_key(twin), twin.foreign_keys, swap_mod.new_indexes(conn, twin))


def _add_keys(conn: psycopg.Connection, t: sql.Identifier, pk: tuple[str, str] | None, fks: list) -> None:
    """Add the table's primary key and foreign keys back once the direct rows are in."""
    if pk is not None:  # a duplicate key among the direct rows fails here: the staging lane will name it
        conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(t, sql.Identifier(pk[0]), sql.SQL(pk[1])))
    if fks:  # the rows' parents were checked in the reader, so these pass
        with _no_pending_checks(conn):
            for name, definition in fks:
                conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(t, sql.Identifier(name),
                                                                                      sql.SQL(definition)))


def _check_staged(conn: psycopg.Connection, layer: Layer, stage: str, issues_table: str, mapping: dict[str, str],
                  staged: int) -> None:
    """The SQL checks of the rows that took the staging lane (``staged`` of them)."""
    if staged >= 10_000:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(stage)))
    # a staged key that is also among the direct rows: the staging lane would call one of them a
    # duplicate, and only it knows which came first; so let it (the key's index answers this)
    if fetch.one(conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {s} s JOIN {t} x ON x.{k} = s.{k})").format(
            s=sql.Identifier(stage), t=sql.Identifier(layer.table), k=sql.Identifier(layer.key))))[0]:
        raise Fallback("a key of a staged row is also among the direct rows")
    checker = Checker(conn, layer, stage, issues_table, mapping)
    geometry_checks(checker)
    check_relations(checker)


def _finish(conn: psycopg.Connection, indexes: list[str], twin, progress: Callable[[str], None]) -> None:
    """Build the table's indexes and, built aside, swap it in for the layer's."""
    progress("indexing")
    merge_mod.create_indexes(conn, indexes)
    if twin is not None:
        swap_mod.analyze(conn, twin)
        progress("swapping")  # waits for the queries still reading the old table
        swap_mod.swap(conn, twin)


def _empty_in_place(conn: psycopg.Connection, layer: Layer) -> tuple[tuple[str, str] | None, list, list[str]]:
    """Take the (empty) table exclusively until the commit and drop its primary key, foreign keys
    to other tables and secondary indexes, to be built once after the COPY; returns them."""
    t = sql.Identifier(layer.table)
    # exclusive until the commit (the indexes are dropped anyway); then make sure it is still empty
    locks.lock_exclusive(conn, layer.table, "could not take it to load it")
    if not merge_mod.is_empty(conn, layer):
        raise Fallback(f"{layer.table} is no longer empty")
    pk = _primary_key(conn, layer)
    if pk is not None:
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(t, sql.Identifier(pk[0])))
    # the table's foreign keys to other tables are dropped and added back after the COPY: PostgreSQL
    # then checks them with one join instead of queueing a deferred check per row (58,338 unit grids:
    # 0.2 s -> 0.03 s; the queue also holds memory per row until it is run)
    fks = conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                       "AND contype = 'f' AND confrelid <> conrelid", (layer.table,)).fetchall()
    if fks:
        with _no_pending_checks(conn):
            for name, _ in fks:
                conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(t, sql.Identifier(name)))
    return pk, fks, merge_mod.drop_indexes(conn, layer)


@contextlib.contextmanager
def _no_pending_checks(conn: psycopg.Connection):
    """Run the transaction's pending deferred checks now, as the commit would, and put every
    deferrable constraint back as declared afterwards. Adding or dropping a foreign key also alters
    the table it references, which PostgreSQL refuses while that table has deferred checks pending
    (rows loaded earlier in this transaction: a gazetteer folder's admin areas before its grids)."""
    conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    yield
    conn.execute("SET CONSTRAINTS ALL DEFERRED")
    immediate = conn.execute("SELECT n.nspname, c.conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = "
                             "c.connamespace WHERE c.condeferrable AND NOT c.condeferred").fetchall()
    if immediate:
        conn.execute(sql.SQL("SET CONSTRAINTS {} IMMEDIATE").format(
            sql.SQL(", ").join(sql.Identifier(schema, name) for schema, name in immediate)))


def _split(batch: Batch, convert, source: crs_mod.SourceCRS, prechecker: Callable[[], PreChecker], names: list[str],
           kinds: list[str], layer: Layer):
    """Convert and check one batch: (rows, (direct rows, their CSV for COPY), staging columns,
    issues)."""
    columns, issues = convert(batch)
    n = len(batch)
    geoms, points = batch_geometry(batch, source)
    wkb = batch.wkb if points is not None else None  # the file's WKB, where points were read from it
    typed = dict(zip(names, columns[1:-1]))
    pre = prechecker()
    ok = pre.passes(typed, geoms, points)
    bad = [it.row for it in issues if it.severity == "error" and it.row is not None]
    if bad:
        at = {int(r): i for i, r in enumerate(batch.rows)}
        ok[[at[r] for r in bad if r in at]] = False
    for field, values in pre.derive(typed, geoms, points, ok).items():
        columns[names.index(field) + 1] = values
    fast_rows, slow_rows = np.flatnonzero(ok), np.flatnonzero(~ok)
    fast_list, slow_list = fast_rows.tolist(), slow_rows.tolist()
    fast = columns[1:] if not len(slow_rows) else [[c[i] for i in fast_list] for c in columns[1:]]
    slow = [[c[i] for i in slow_list] for c in columns]
    slow.append([None if wkb[i] is None else wkb[i].hex() for i in slow_list] if wkb is not None
                else shapely.to_wkb(geoms[slow_rows], hex=True).tolist())
    cols = [staging.csv_column(values, kind) for values, kind in zip(fast, [*kinds, "json"])]
    cols[-1] = cols[-1].fill_null("{}")  # the table's attrs is NOT NULL; COPY applies no default
    cols.append(_table_hex(fast_rows, wkb, geoms, layer))
    return n, (len(fast_rows), staging.csv(cols)), slow, issues


def batch_geometry(batch: Batch, source: crs_mod.SourceCRS) -> tuple[np.ndarray, Points | None]:
    """A batch's geometries in EPSG:4490: (shapely geometries, Points). Plain 2D points whose WKB
    needs no transformation are read straight from it into ``Points`` (their geometry entry is
    None: no GEOS object per row); ``Points`` is None when the WKB is not used as it came."""
    n = len(batch)
    if batch.geoms is None and batch.wkb is not None and source.is_target:  # WKB as it came is usable
        points = Points(batch.wkb)
        geoms = np.full(n, None, dtype=object)
        rest = np.flatnonzero(~points.mask)
        if len(rest):
            geoms[rest] = shapely.from_wkb(np.asarray([batch.wkb[i] for i in rest], dtype=object), on_invalid="ignore")
        return geoms, points
    if batch.geoms is not None:
        geoms = batch.geoms
    elif batch.wkb is not None:
        geoms = shapely.from_wkb(np.asarray(batch.wkb, dtype=object), on_invalid="ignore")
    else:
        geoms = np.full(n, None, dtype=object)
    return (geoms if source.is_target else crs_mod.to_target(geoms, source)), None


def _table_hex(rows: np.ndarray, wkb: list | None, geoms: np.ndarray, layer: Layer) -> pa.Array:
    """Hex WKB of the geometries of ``rows`` as the table stores them; the file's own WKB where it
    already is that (no GEOS round trip)."""
    if wkb is None:
        return pa.array(shapely.to_wkb(to_table_geometry(geoms[rows], layer), hex=True), type=pa.string())
    out = [wkb[i] for i in rows.tolist()]
    if layer.geometry in ("multipolygon", "multilinestring"):
        single = 3 if layer.geometry == "multipolygon" else 1
        g = geoms[rows]
        conv = np.flatnonzero(shapely.get_type_id(g) == single)
        if len(conv):
            for k, w in zip(conv.tolist(), shapely.to_wkb(to_table_geometry(g[conv], layer)).tolist()):
                out[k] = w
    return _hex(out)


_HEX = np.array([f"{i:02x}".encode() for i in range(256)]).view(np.uint16)


def _hex(blobs: list) -> pa.Array:
    """bytes -> their hex text, as one Arrow string array, vectorised (no per-value .hex())."""
    lengths = np.fromiter(map(len, blobs), np.int64, len(blobs))
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    offsets = np.zeros(len(blobs) + 1, np.int64)
    np.cumsum(lengths * 2, out=offsets[1:])
    return pa.LargeStringArray.from_buffers(len(blobs), pa.py_buffer(offsets), pa.py_buffer(_HEX[data].tobytes()))
