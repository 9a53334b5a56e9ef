"""From staging to the real table: rows without errors are upserted by key, in the load's
transaction. Rows equal to what the database holds are not rewritten, so re-running a load
changes nothing; ``replace`` empties the layer first (DELETE, not TRUNCATE: other layers' deferred
foreign keys are then checked at commit). Statement triggers on the tables stay on, so
``layer_state`` versions move and caches (geocoder, tiles, OGC) see the new data.
"""
from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from layers.contract import Layer

from .staging import stage_fields

# Geometry as the table stores it.
_GEOM_SQL = {
    "multipolygon": "ST_Multi(ST_CollectionExtract(ST_Force2D(s.geom), 3))",
    "multilinestring": "ST_Multi(ST_CollectionExtract(ST_Force2D(s.geom), 2))",
    "point": "CASE WHEN GeometryType(s.geom) = 'MULTIPOINT' THEN ST_GeometryN(ST_Force2D(s.geom), 1) "
             "ELSE ST_Force2D(s.geom) END",
}
# Values derived from the geometry when a row leaves them empty.
_DERIVED = {
    ("components", "grid_code"): "(SELECT g.code FROM unit_grids g WHERE ST_Covers(g.geom, ST_PointOnSurface(s.geom)) "
                                 "ORDER BY g.code LIMIT 1)",
    ("cases", "grid_code"): "(SELECT g.code FROM unit_grids g WHERE ST_Covers(g.geom, s.geom) ORDER BY g.code LIMIT 1)",
    ("cases", "district_code"): "(SELECT a.code FROM admin_areas a WHERE a.level = 'district' "
                                "AND ST_Covers(a.geom, s.geom) ORDER BY a.code LIMIT 1)",
}


@dataclass
class MergeCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


def replace(conn: psycopg.Connection, layer: Layer) -> int:
    """Empty the layer's table (inside the load's transaction)."""
    if layer.name == "supervisors":
        conn.execute("DELETE FROM supervisor_grids")
    return conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(layer.table))).rowcount


def merge(conn: psycopg.Connection, layer: Layer, stage: str, issues: str) -> MergeCounts:
    """Upsert the staged rows that have no error; returns what happened to them."""
    s, i = sql.Identifier(stage), sql.Identifier(issues)
    good = sql.SQL("NOT EXISTS (SELECT 1 FROM {i} e WHERE e.row_no = s.row_no AND e.severity = 'error')").format(i=i)
    total = conn.execute(sql.SQL("SELECT count(*) FROM {s} s WHERE {good}").format(s=s, good=good)).fetchone()[0]
    names = [f.name for f in stage_fields(layer) if not (layer.name == "supervisors" and f.name == "grid_codes")]
    target = [sql.Identifier(n) for n in names] + [sql.Identifier("attrs")]
    select = []
    for n in names:
        derived = _DERIVED.get((layer.name, n))
        select.append(sql.SQL("coalesce(s.{}, {})").format(sql.Identifier(n), sql.SQL(derived)) if derived
                      else sql.SQL("s.{}").format(sql.Identifier(n)))
    select.append(sql.SQL("coalesce(s.attrs, '{}')"))
    if layer.geometry:
        target.append(sql.Identifier("geom"))
        select.append(sql.SQL(_GEOM_SQL.get(layer.geometry, "ST_Force2D(s.geom)")))
    key = sql.Identifier(layer.key)
    others = [c for c in target if c != key]
    changed = sql.SQL("({}) IS DISTINCT FROM ({})").format(
        sql.SQL(", ").join(sql.SQL("t.{}").format(c) for c in others),
        sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(c) for c in others))
    row = conn.execute(sql.SQL(
        "WITH m AS (INSERT INTO {t} AS t ({cols}) SELECT {sel} FROM {s} s WHERE {good} "
        "ON CONFLICT ({k}) DO UPDATE SET {upd} WHERE {changed} RETURNING (xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM m").format(
            t=sql.Identifier(layer.table), cols=sql.SQL(", ").join(target), sel=sql.SQL(", ").join(select),
            s=s, good=good, k=key, changed=changed,
            upd=sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=c) for c in others))).fetchone()
    counts = MergeCounts(inserted=row[0], updated=row[1], unchanged=total - row[0] - row[1])
    if layer.name == "supervisors":
        _supervisor_grids(conn, s, good)
    return counts


def _supervisor_grids(conn: psycopg.Connection, s: sql.Identifier, good: sql.Composable) -> None:
    """A supervisor's grids are exactly those of the file: stale bindings go, new ones come."""
    conn.execute(sql.SQL(
        "DELETE FROM supervisor_grids g USING {s} s WHERE g.supervisor_id = s.id AND {good} "
        "AND NOT g.grid_code = ANY(s.grid_codes)").format(s=s, good=good))
    conn.execute(sql.SQL(
        "INSERT INTO supervisor_grids (supervisor_id, grid_code) SELECT DISTINCT s.id, unnest(s.grid_codes) "
        "FROM {s} s WHERE {good} ON CONFLICT DO NOTHING").format(s=s, good=good))
