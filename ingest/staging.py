"""Staging: a temporary table per layer, filled by COPY in batches, and its issues table.

Temporary tables live in the load's transaction and vanish with it (ON COMMIT DROP), so a crash,
Ctrl-C or a lost connection leaves nothing behind; the real tables are only touched by the merge.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import psycopg
import shapely
from psycopg import sql

from layers.contract import Layer

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
    cols = [sql.SQL("row_no integer NOT NULL")]
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
    if batch.geoms is None and batch.wkb is None:
        return [None] * len(batch)
    if batch.geoms is None and source.is_target:
        return [None if w is None else w.hex() for w in batch.wkb]
    geoms = batch.geoms if batch.geoms is not None else shapely.from_wkb(np.asarray(batch.wkb, dtype=object), on_invalid="ignore")
    if not source.is_target:
        geoms = crs_mod.to_target(geoms, source)
    return shapely.to_wkb(geoms, hex=True).tolist()


def copy_rows(conn: psycopg.Connection, stage: str, columns: list[list], geom: list | None) -> int:
    """COPY column lists (row_no first, then the fields, attrs, [geom]) into the staging table."""
    if geom is not None:
        columns = columns + [geom]
    with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(stage))) as copy:
        for row in zip(*columns):
            copy.write_row(row)
    return len(columns[0])


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
