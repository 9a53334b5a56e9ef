"""Staging: a temporary table per layer, filled by COPY in batches, and its issues table.

Temporary tables live in the load's transaction and vanish with it (ON COMMIT DROP), so a crash,
Ctrl-C or a lost connection leaves nothing behind; the real tables are only touched by the merge.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import threading
from typing import Iterable

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
from psycopg import sql

from urbangis.layers.contract import Layer

from . import crs as crs_mod
from .formats.base import Batch, RowIssue

_PG_TYPE = {"text": "text", "int": "integer", "list": "text[]", "time": "timestamptz"}


def stage_names(layer: Layer) -> tuple[str, str]:
    """Names of the staging and issues tables of a layer."""
    return f"_stage_{layer.name}", f"_issues_{layer.name}"


def stage_fields(layer: Layer) -> list:
    """The contract fields the loader writes (the database computes the others)."""
    return [f for f in layer.fields if f.name not in layer.computed]


def create(conn: psycopg.Connection, layer: Layer) -> tuple[str, str]:
    """Create the layer's (empty) staging and issues tables for this transaction."""
    stage, issues = stage_names(layer)
    cols: list[sql.Composable] = [sql.SQL("row_no integer NOT NULL")]
    cols += [sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(_PG_TYPE[f.kind])) for f in stage_fields(layer)]
    cols.append(sql.SQL("attrs jsonb"))
    if layer.geometry:
        cols.append(sql.SQL("geom geometry(Geometry, 4490)"))
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {s}, {i}").format(s=sql.Identifier(stage), i=sql.Identifier(issues)))
    conn.execute(sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
        sql.Identifier(stage), sql.SQL(", ").join(cols)))
    conn.execute(sql.SQL(
        "CREATE TEMP TABLE {} (row_no integer, field text, value text, reason text NOT NULL, "
        "severity text NOT NULL DEFAULT 'error') ON COMMIT DROP").format(sql.Identifier(issues)))
    # Every check skips rows already in error (relations.Checker.ok) while it inserts into this very
    # table; without an index the anti-join may scan the table once per staged row, and the table
    # grows as it is scanned: a file whose every row fails took minutes per check.
    conn.execute(sql.SQL("CREATE INDEX ON {} (row_no) WHERE severity = 'error'").format(sql.Identifier(issues)))
    return stage, issues


def geometry_hex(batch: Batch, source: crs_mod.SourceCRS) -> list:
    """Hex WKB in EPSG:4490 for each row (None where there is no geometry).

    WKB from GDAL that needs no transformation is passed through untouched (the fast path);
    anything else goes through shapely, vectorised.
    """
    if batch.geoms is not None:
        geoms = batch.geoms
    elif batch.wkb is None:
        return [None] * len(batch)
    elif source.is_target:
        return [None if w is None else w.hex() for w in batch.wkb]
    else:
        geoms = shapely.from_wkb(np.asarray(batch.wkb, dtype=object), on_invalid="ignore")
    if not source.is_target:
        geoms = crs_mod.to_target(geoms, source)
    return shapely.to_wkb(geoms, hex=True).tolist()


def copy_rows(conn: psycopg.Connection, stage: str, columns: list[list], geom: list | None, kinds: list[str]) -> int:
    """COPY column lists (row_no first, then the fields of ``kinds``, attrs, [geom]) into the
    staging table."""
    cols = [pa.array(columns[0], type=pa.int64())]
    cols += [csv_column(values, kind) for values, kind in zip(columns[1:], [*kinds, "json"])]
    if geom is not None:
        cols.append(pa.array(geom, type=pa.string()))
    with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(sql.Identifier(stage))) as copy:
        copy.write(csv(cols))
    return len(columns[0])


_slices_lock = threading.Lock()
_slices_users = 0
_slices_default = sys.getswitchinterval()


@contextlib.contextmanager
def short_gil_slices(seconds: float = 0.0002):
    """A shorter GIL switch interval while a load COPYs (process-wide; restored by the last load to
    finish). The loading thread feeds each batch to COPY in psycopg's 128 KB pieces and needs the
    GIL back after each, while the reader thread converts the next batch in Python; at CPython's
    default 5 ms it waited up to 5 ms per piece. Measured on 1M cases: the COPY took 9.8 s of this
    thread against 5.7 s for PostgreSQL to take the same CSV alone; 7.7 s with 0.2 ms."""
    global _slices_users, _slices_default
    with _slices_lock:
        if _slices_users == 0:
            _slices_default = sys.getswitchinterval()
            sys.setswitchinterval(min(seconds, _slices_default))
        _slices_users += 1
    try:
        yield
    finally:
        with _slices_lock:
            _slices_users -= 1
            if _slices_users == 0:
                sys.setswitchinterval(_slices_default)


def csv(columns: list[pa.Array]) -> bytes:
    """Columns as CSV for COPY, written by Arrow from whole columns: psycopg's row-by-row COPY
    formatting took 6 s of CPU for a million cases, on the core PostgreSQL needs for the COPY."""
    out = io.BytesIO()
    pacsv.write_csv(pa.table(columns, names=[str(i) for i in range(len(columns))]), out,
                    pacsv.WriteOptions(include_header=False))
    return out.getvalue()


def csv_column(values: list, kind: str) -> pa.Array:
    """One converted column (validate.rows) as an Arrow array whose CSV text PostgreSQL reads back
    as the value itself. Arrow writes strings quoted and nulls as nothing, so an empty string and
    NULL stay apart."""
    if kind == "int":
        return pa.array(values, type=pa.int64())
    if kind == "time":
        return _times(values)
    if kind == "json":  # attrs: Jsonb or None
        return pa.array([None if v is None else json.dumps(v.obj, ensure_ascii=False) for v in values],
                        type=pa.string())
    if kind == "list":  # text[] as an array literal: every element quoted, \ and " escaped
        return pa.array([None if v is None else
                         "{" + ",".join('"' + e.replace("\\", "\\\\").replace('"', '\\"') + '"' for e in v) + "}"
                         for v in values], type=pa.string())
    return pa.array(values, type=pa.string())


def _times(values: list) -> pa.Array:
    """Datetimes for a timestamptz column. Naive ones stay naive, so the load's session time zone
    places them (LoadOptions.timezone); aware ones are written in UTC with a Z (as text: Arrow's
    CSV writer formats a time zone-aware column some 20 times slower). A column mixing both is
    written as ISO text."""
    zones = {v.tzinfo is None for v in values if v is not None}
    if zones != {False}:
        if len(zones) < 2:
            return pa.array(values, type=pa.timestamp("us"))
        return pa.array([None if v is None else v.isoformat() for v in values], type=pa.string())
    utc = pa.array(values, type=pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))  # the UTC wall time
    return pc.binary_join_element_wise(utc.cast(pa.string()), pa.scalar("Z"), "")


def copy_issues(conn: psycopg.Connection, issues_table: str, issues: Iterable[RowIssue]) -> int:
    """COPY issues found in Python into the layer's issues table."""
    n = 0
    with conn.cursor().copy(sql.SQL("COPY {} (row_no, field, value, reason, severity) FROM STDIN").format(
            sql.Identifier(issues_table))) as copy:
        for it in issues:
            value = None if it.value is None else str(it.value)[:500]
            copy.write_row((it.row, it.field, value, it.reason, it.severity))
            n += 1
    return n
