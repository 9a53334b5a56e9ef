"""Where a report lies and whose it is: the admin chain, unit grid and responsibility grid of a
point (from the geocoder's index, in memory), the supervisors bound to each responsibility grid,
and the cross-grid alert (跨网格智能提醒): a supervisor reporting outside every grid of theirs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from urbangis.geocoder.index import Index
from urbangis.geocoder.rank import areas_at, chain


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


def cross_grid(ix: Index, people: Supervisors, reporter: str | None, place: Place,
               tolerance_m: float) -> tuple[dict | None, str | None]:
    """The cross-grid alert of a report by ``reporter`` at ``place`` (None when the reporter is no
    supervisor, or the point lies in one of their grids), and a note when it lies outside but
    within ``tolerance_m`` of one of them (at its boundary: GPS error, not an alert)."""
    own = people.grids_of.get(reporter or "", ())
    if not own or place.resp_grid in own:
        return None, None
    point = shapely.Point(place.x, place.y)
    outlines = ix.resp.geoms if ix.resp.geoms is not None else np.empty(0, dtype=object)
    distances = sorted((float(outlines[ix.resp.by_code[code]].distance(point)), code)
                       for code in own if code in ix.resp.by_code)
    nearest = distances[0] if distances else None
    if nearest is not None and nearest[0] <= tolerance_m:
        return None, (f"{nearest[0]:.1f} m outside the reporter's grid {nearest[1]}, within the GPS tolerance "
                      f"of {tolerance_m:g} m: at its boundary, not across it")
    here = None
    if place.resp_grid is not None:
        here = {"code": place.resp_grid, "name": ix.resp.names[place.resp_index],
                "supervisors": people.people(people.of_grid.get(place.resp_grid, ()))}
    where = f"responsibility grid {place.resp_grid}" if here else "no responsibility grid"
    alert = {
        "reporter": reporter,
        "own_grids": list(own),
        "grid": here,
        "nearest_own_grid": {"code": nearest[1], "distance_m": round(nearest[0], 1)} if nearest else None,
        "message": f"reported in {where}, outside the reporter's grids ({', '.join(own)})"
                   + (f", {nearest[0]:.0f} m from {nearest[1]}" if nearest else ""),
    }
    return alert, None
