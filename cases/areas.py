"""The areas case statistics are counted by: districts, street offices, communities, unit grids and
responsibility grids, with their names, outlines (simplified GeoJSON for choropleths), inner
points (for flow lines), areas in km², component counts, and the unit grids' contiguity (for hot
spots). Read from PostGIS once per version of the tables they come from, then kept."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import orjson
import psycopg
import shapely

LEVELS = ("district", "street", "community", "unit_grid", "responsibility_grid")
ADMIN_LEVELS = {"district", "street", "community"}
SOURCES = ("admin_areas", "unit_grids", "responsibility_grids", "components")
SIMPLIFY = 0.00002  # degrees (~2 m): outlines for a choropleth, not for survey


@dataclass
class Level:
    """The areas of one level, in code order."""

    codes: list[str]
    names: dict[str, str]
    km2: dict[str, float]
    components: dict[str, int]
    geometry: dict[str, dict]  # GeoJSON, simplified
    point: dict[str, tuple[float, float]]  # inner point (lon, lat)
    parent: dict[str, str | None] = field(default_factory=dict)  # a responsibility grid's district


def _sql(level: str) -> str:
    if level in ADMIN_LEVELS:
        table, where, parent = "admin_areas", f"WHERE level = '{level}' AND geom IS NOT NULL", "parent_code"
        name = "name"
    elif level == "unit_grid":
        table, where, parent, name = "unit_grids", "", "community_code", "code"
    else:
        table, where, parent, name = "responsibility_grids", "", "district_code", "name"
    return (f"SELECT code, {name}, {parent}, ST_Area(geom::geography) / 1e6, "
            f"ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, {SIMPLIFY}), 7), "
            f"ST_X(urbangis_inner_point(geom)), ST_Y(urbangis_inner_point(geom)) FROM {table} {where} ORDER BY code")


def _component_sql(level: str) -> str:
    if level == "district":
        return "SELECT district_code, count(*) FROM components GROUP BY 1"
    if level in ("street", "community", "unit_grid"):
        width = {"street": 9, "community": 12, "unit_grid": 15}[level]
        return f"SELECT left(grid_code, {width}), count(*) FROM components WHERE grid_code IS NOT NULL GROUP BY 1"
    return ("SELECT g.code, count(*) FROM components c JOIN responsibility_grids g ON ST_Covers(g.geom, c.geom) "
            "GROUP BY 1")


class Areas:
    """The areas of every level of one database, read when first asked for and again when a table
    they come from changed."""

    def __init__(self) -> None:
        self._levels: dict[str, tuple[tuple, Level]] = {}
        self._contiguity: tuple[tuple, tuple[np.ndarray, np.ndarray]] | None = None
        self._lock = threading.Lock()

    @staticmethod
    def versions(conn: psycopg.Connection) -> tuple:
        return tuple(conn.execute("SELECT layer, version FROM layer_state WHERE layer = ANY(%s) ORDER BY layer",
                                  (list(SOURCES),)).fetchall())

    def level(self, conn: psycopg.Connection, level: str) -> Level:
        """The areas of ``level``."""
        seen = self.versions(conn)
        cached = self._levels.get(level)
        if cached is not None and cached[0] == seen:
            return cached[1]
        with self._lock:
            rows = conn.execute(_sql(level)).fetchall()
            components: dict[str | None, int] = dict(conn.execute(_component_sql(level)).fetchall())
            found = Level([r[0] for r in rows], {r[0]: r[1] for r in rows}, {r[0]: float(r[3] or 0) for r in rows},
                          {k: int(v) for k, v in components.items() if k is not None},
                          {r[0]: orjson.loads(r[4]) for r in rows if r[4]}, {r[0]: (r[5], r[6]) for r in rows},
                          {r[0]: r[2] for r in rows})
            self._levels[level] = (seen, found)
            return found

    def contiguity(self, conn: psycopg.Connection) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The unit grids (codes, in order) and their queen contiguity as CSR (indptr, indices):
        grids sharing a point of their outlines, each grid its own neighbour too (Gi*)."""
        grids = self.level(conn, "unit_grid")
        seen = self.versions(conn)
        if self._contiguity is not None and self._contiguity[0] == seen:
            return grids.codes, *self._contiguity[1]
        wkb = [r[0] for r in conn.execute("SELECT ST_AsBinary(geom) FROM unit_grids ORDER BY code")]
        geoms = shapely.from_wkb(np.array(wkb, dtype=object))
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")  # queen: a shared corner is enough, self included
        order = np.lexsort((right, left))
        left, right = left[order], right[order]
        indptr = np.searchsorted(left, np.arange(len(geoms) + 1))
        self._contiguity = (seen, (indptr, right.astype(np.int64)))
        return grids.codes, indptr, right.astype(np.int64)
