"""Loading a gazetteer folder (or GeoPackage) in the contract into the database, in one transaction.

Each layer is COPYed into a temporary staging table, then upserted by its key into the real table;
PostGIS does the CRS transformation. Any error rolls the whole load back.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from layers.contract import LAYERS, Layer

from .readers import SPATIAL_SUFFIXES, TABLE_SUFFIXES, RawLayer, ReadError, read_any

log = logging.getLogger("urbangis.ingest")

TARGET_SRID = 4490
_PG_TYPE = {"text": "text", "int": "integer", "list": "text[]", "time": "timestamptz"}
_GEOM_SQL = {
    "multipolygon": "ST_Multi(ST_CollectionExtract({g}, 3))",
    "multilinestring": "ST_Multi(ST_CollectionExtract({g}, 2))",
}


class LoadError(ValueError):
    """The input cannot be loaded; nothing was written."""


@dataclass
class LayerResult:
    layer: str
    path: str
    rows: int
    seconds: float


@dataclass
class LoadResult:
    layers: list[LayerResult] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.layers)


def find_layer_files(source: Path) -> dict[str, tuple[Path, str | None]]:
    """Map contract layer name -> (file, layer inside the file) for a folder or a GeoPackage."""
    found: dict[str, tuple[Path, str | None]] = {}
    if source.is_file():
        import pyogrio

        names = {row[0] for row in pyogrio.list_layers(source)}
        for layer in LAYERS:
            if layer.name in names:
                found[layer.name] = (source, layer.name)
        return found
    if not source.is_dir():
        raise LoadError(f"{source}: no such file or folder")
    for layer in LAYERS:
        for suffix in SPATIAL_SUFFIXES + TABLE_SUFFIXES:
            path = source / f"{layer.name}{suffix}"
            if path.exists():
                found[layer.name] = (path, None)
                break
    return found


def _value(kind: str, raw):
    if raw is None:
        return [] if kind == "list" else None
    if kind == "list":
        if isinstance(raw, (list, tuple)):
            return [str(v) for v in raw]
        return [part.strip() for part in str(raw).split("|") if part.strip()]
    if kind == "int":
        return int(raw)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # codes read as numbers from a careless dbf keep no ".0"
    text = str(raw).strip()
    return text or None


def _rows(layer: Layer, raw: RawLayer):
    names = [f.name for f in layer.fields]
    missing = [n for n in layer.required if n not in raw.columns]
    if missing:
        raise LoadError(f"{raw.path}: layer {layer.name} lacks required field(s) {', '.join(missing)}")
    extras = [c for c in raw.columns if c not in names]
    for i in range(len(raw)):
        row = [_value(f.kind, raw.columns[f.name][i]) if f.name in raw.columns else None for f in layer.fields]
        attrs = {c: raw.columns[c][i] for c in extras if raw.columns[c][i] is not None}
        row.append(Jsonb(attrs))
        if layer.geometry:
            row.append(raw.wkb[i] if raw.wkb is not None else None)
        yield row


def _stage(conn: psycopg.Connection, layer: Layer, raw: RawLayer, progress: Callable[[int], None]) -> int:
    stage = sql.Identifier(f"stage_{layer.name}")
    cols = [sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(_PG_TYPE[f.kind])) for f in layer.fields]
    cols.append(sql.SQL("attrs jsonb"))
    if layer.geometry:
        cols.append(sql.SQL("wkb bytea"))
    conn.execute(sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(stage, sql.SQL(", ").join(cols)))
    n = 0
    with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(stage)) as copy:
        for row in _rows(layer, raw):
            copy.write_row(row)
            n += 1
            if n % 5000 == 0:
                progress(5000)
    progress(n % 5000)
    return n


def _geom_expr(layer: Layer, srid: int) -> sql.Composable:
    g = f"ST_Force2D(ST_Transform(ST_SetSRID(ST_GeomFromWKB(wkb), {int(srid)}), {TARGET_SRID}))"
    template = _GEOM_SQL.get(layer.geometry or "", "{g}")
    return sql.SQL(template.format(g=g))


def _upsert(conn: psycopg.Connection, layer: Layer, srid: int) -> None:
    stage = sql.Identifier(f"stage_{layer.name}")
    if layer.name == "supervisors":
        conn.execute(
            sql.SQL(
                "INSERT INTO supervisors (id, name, attrs) SELECT id, name, attrs FROM {s} "
                "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, attrs = EXCLUDED.attrs"
            ).format(s=stage)
        )
        conn.execute(sql.SQL("DELETE FROM supervisor_grids WHERE supervisor_id IN (SELECT id FROM {s})").format(s=stage))
        conn.execute(
            sql.SQL(
                "INSERT INTO supervisor_grids (supervisor_id, grid_code) "
                "SELECT DISTINCT id, unnest(grid_codes) FROM {s}"
            ).format(s=stage)
        )
        return
    names = [f.name for f in layer.fields]
    target_cols = [sql.Identifier(n) for n in names] + [sql.Identifier("attrs")]
    select_cols = [sql.Identifier(n) for n in names] + [sql.SQL("coalesce(attrs, '{}')")]
    if layer.geometry:
        target_cols.append(sql.Identifier("geom"))
        select_cols.append(_geom_expr(layer, srid))
    updates = [
        sql.SQL("{c} = EXCLUDED.{c}").format(c=c) for c in target_cols if c != sql.Identifier(layer.key)
    ]
    conn.execute(
        sql.SQL("INSERT INTO {t} ({cols}) SELECT {sel} FROM {s} ON CONFLICT ({k}) DO UPDATE SET {upd}").format(
            t=sql.Identifier(layer.table),
            cols=sql.SQL(", ").join(target_cols),
            sel=sql.SQL(", ").join(select_cols),
            s=stage,
            k=sql.Identifier(layer.key),
            upd=sql.SQL(", ").join(updates),
        )
    )


def load_gazetteer(
    conn: psycopg.Connection,
    source: Path,
    source_srid: int | None = None,
    replace: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> LoadResult:
    """Load every contract layer found in ``source``; all or nothing."""
    files = find_layer_files(Path(source))
    if not files:
        raise LoadError(f"{source}: no layer of the gazetteer contract found (expected e.g. roads.geojson)")
    result = LoadResult()
    try:
        with conn.transaction():
            for layer in LAYERS:
                if layer.name not in files:
                    continue
                path, inner = files[layer.name]
                t0 = time.perf_counter()
                raw = read_any(path, inner)
                srid = source_srid or raw.srid or TARGET_SRID
                total = len(raw)
                tick = (lambda k, _n=layer.name, _t=total: progress(_n, k, _t)) if progress else (lambda k: None)
                if replace:
                    conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(layer.table)))
                rows = _stage(conn, layer, raw, tick)
                _upsert(conn, layer, srid)
                result.layers.append(LayerResult(layer.name, str(path), rows, time.perf_counter() - t0))
                log.info("%s: %d rows from %s", layer.name, rows, path)
    except ReadError as exc:
        raise LoadError(str(exc)) from exc
    except psycopg.errors.DataError as exc:
        raise LoadError(f"rejected by the database, nothing loaded: {exc}") from exc
    except psycopg.errors.IntegrityError as exc:
        raise LoadError(f"rejected by the database, nothing loaded: {exc}") from exc
    return result


def database_is_empty(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT NOT EXISTS (SELECT 1 FROM admin_areas)").fetchone()[0]
