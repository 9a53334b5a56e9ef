"""Where a report lies and whose it is: the admin chain, unit grid and responsibility grid of a
point (from the geocoder's index, in memory), the supervisors bound to each responsibility grid,
and the cross-grid alert (跨网格智能提醒): a supervisor reporting outside every grid of theirs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Geod

from urbangis.geocoder.index import Index
from urbangis.geocoder.rank import areas_at, chain

GEOD = Geod(ellps="GRS80")  # CGCS2000's ellipsoid differs from GRS80 by 0.1 mm at the pole


@dataclass(frozen=True)
class Supervisors:
    """Supervisors, their names and responsibility grids, both ways."""

    names: dict[str, str]
    grids_of: dict[str, tuple[str, ...]]
    of_grid: dict[str, tuple[str, ...]]

    @classmethod
    def read(cls, conn) -> Supervisors:
        """Every supervisor and binding of the database."""
        names = dict(conn.execute("SELECT id, name FROM supervisors").fetchall())
        grids_of: dict[str, list[str]] = {}
        of_grid: dict[str, list[str]] = {}
        for sid, grid in conn.execute("SELECT supervisor_id, grid_code FROM supervisor_grids "
                                      "ORDER BY supervisor_id, grid_code"):
            grids_of.setdefault(sid, []).append(grid)
            of_grid.setdefault(grid, []).append(sid)
        return cls(names, {k: tuple(v) for k, v in grids_of.items()}, {k: tuple(v) for k, v in of_grid.items()})

    def people(self, ids) -> list[dict]:
        return [{"id": s, "name": self.names.get(s)} for s in ids]


@dataclass(frozen=True)
class Place:
    """Where a point lies: its position in the index's plane, admin chain (province .. community),
    unit grid and responsibility grid (index positions, -1 for none)."""

    lon: float
    lat: float
    x: float
    y: float
    chain: list[dict]
    unit_grid: str | None
    resp_index: int
    resp_grid: str | None

    def code(self, level: str) -> str | None:
        return next((a["code"] for a in self.chain if a["level"] == level), None)


def locate(ix: Index, lon: float, lat: float) -> Place:
    """Where ``lon``, ``lat`` (CGCS2000) lies in the gazetteer."""
    x, y = ix.plane.fwd(lon, lat)
    admin, grid, resp = areas_at(ix, np.array([x], float), np.array([y], float))[0]
    return Place(lon, lat, float(x), float(y), chain(ix, ix.admin[admin].code) if admin >= 0 else [],
                 ix.grids.codes[grid] if grid >= 0 else None, resp,
                 ix.resp.codes[resp] if resp >= 0 else None)


def cross_grid(ix: Index, people: Supervisors, reporter: str | None, x: float, y: float,
               tolerance_m: float, here: int | None = None) -> tuple[dict | None, str | None]:
    """The cross-grid alert of a report by ``reporter`` at ``x``, ``y`` (the index's plane): None
    when the reporter is no supervisor or the point lies in one of their grids, and a note when it
    lies outside but within ``tolerance_m`` of one of them (at its boundary: GPS error, not an
    alert). The reporter's own grids are asked first (one to three prepared polygons): most reports
    lie in them, and then where else the point lies is not the question. ``here``: the
    responsibility grid the point lies in (its position in ``ix.resp``, -1 for none) when the caller
    placed the report already; looked up only for an alert otherwise."""
    own = people.grids_of.get(reporter or "", ())
    if not own:
        return None, None
    outlines = ix.resp.geoms if ix.resp.geoms is not None else np.empty(0, dtype=object)
    mine = [(code, outlines[ix.resp.by_code[code]]) for code in own if code in ix.resp.by_code]
    for _, outline in mine:
        if shapely.contains_xy(outline, x, y):
            return None, None
    nearest = _nearest(ix, mine, x, y)
    if nearest is not None and nearest[0] <= tolerance_m:
        return None, (f"{nearest[0]:.1f} m outside the reporter's grid {nearest[1]}, within the GPS tolerance "
                      f"of {tolerance_m:g} m: at its boundary, not across it")
    found = here if here is not None else areas_at(ix, np.array([x], float), np.array([y], float))[0][2]
    grid = None
    if found >= 0:
        code = ix.resp.codes[found]
        grid = {"code": code, "name": ix.resp.names[found], "supervisors": people.people(people.of_grid.get(code, ()))}
    where = f"responsibility grid {grid['code']}" if grid else "no responsibility grid"
    alert = {
        "reporter": reporter,
        "own_grids": list(own),
        "grid": grid,
        "nearest_own_grid": {"code": nearest[1], "distance_m": round(nearest[0], 1)} if nearest else None,
        "message": f"reported in {where}, outside the reporter's grids ({', '.join(own)})"
                   + (f", {nearest[0]:.0f} m from {nearest[1]}" if nearest else ""),
    }
    return alert, None


def _nearest(ix: Index, mine: list, x: float, y: float) -> tuple[float, str] | None:
    """(metres on the ellipsoid, code) of the nearest of the grids ``mine`` to the point: found in
    the index's plane, measured between the same two points on the ellipsoid (the plane is one per
    city and stretches up to ~1 % at its edges; a grid's edge is what the distance is about)."""
    if not mine:
        return None
    point = shapely.Point(x, y)
    _, code, outline = min((float(outline.distance(point)), code, outline) for code, outline in mine)
    (ax, ay), (bx, by) = shapely.get_coordinates(shapely.shortest_line(outline, point))
    (alon, blon), (alat, blat) = ix.plane.inv(np.array([ax, bx]), np.array([ay, by]))
    return float(GEOD.inv(alon, alat, blon, blat)[2]), code

