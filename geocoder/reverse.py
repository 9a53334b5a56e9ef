"""Reverse geocoding: a coordinate -> nearest house number or building, the road with its
interpolated number, the admin chain, the unit and responsibility grids, and distances.

Nearest-neighbour queries run on shapely STRtrees built over the metric plane, so "nearest" is
nearest in metres, not in degrees.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from .index import Index
from .interpolate import number_at
from .rank import admin_of, chain, grid_of

DEFAULT_RADIUS = 100.0  # metres
MAX_RADIUS = 5000.0


@dataclass
class Nearby:
    """A feature near the point."""

    layer: str
    id: str
    label: str
    x: float
    y: float
    distance: float
    extra: dict = field(default_factory=dict)


@dataclass
class ReverseAnswer:
    x: float
    y: float
    house: Nearby | None = None
    building: Nearby | None = None
    road: Nearby | None = None
    chain: list[dict] = field(default_factory=list)
    unit_grid: str | None = None
    resp_grid: str | None = None
    resp_grid_name: str | None = None
    label: str = ""  # road / place + number + building: the part below the community
    level: str = "none"  # exact | interpolated | road | area | none

    @property
    def standard_address(self) -> str:
        names = [a["name"] for a in self.chain if a["level"] in ("district", "street", "community")]
        return "".join(names) + self.label


def _nearest(tree, pt, radius: float) -> tuple[int, float] | None:
    if tree is None:
        return None
    idx, dist = tree.query_nearest(pt, max_distance=radius, return_distance=True)
    if len(idx) == 0:
        return None
    return int(idx[0]), float(dist[0])


def _parent_name(ix: Index, kind: str, pidx: int) -> str:
    if kind == "r":
        return ix.roads[pidx].name
    if kind == "p":
        return ix.places[pidx].name
    if kind == "c":
        return ix.courtyards[pidx].name
    if kind == "o":
        return ix.orgs[pidx].name
    return ""


def _house_label(ix: Index, i: int) -> str:
    h = ix.houses
    number = h.numbers[i]
    return _parent_name(ix, h.parent_kind[i], h.parent_idx[i]) + (number if number.endswith("号") else number + "号")


def _building_label(ix: Index, i: int) -> str:
    b = ix.buildings
    kind, pidx = b.parent_kind[i], b.parent_idx[i]
    parent = _house_label(ix, pidx) if kind == "h" else _parent_name(ix, kind, pidx)
    return parent + b.numbers[i]


def reverse(ix: Index, x: float, y: float, radius: float = DEFAULT_RADIUS) -> ReverseAnswer:
    """Everything the gazetteer says about metric point (x, y) within ``radius`` metres."""
    pt = shapely.Point(x, y)
    ans = ReverseAnswer(x, y)
    hit = _nearest(ix.houses.tree, pt, radius)
    if hit:
        i, d = hit
        ans.house = Nearby("house_numbers", ix.houses.ids[i], _house_label(ix, i), float(ix.houses.xs[i]),
                           float(ix.houses.ys[i]), d, {"number": ix.houses.numbers[i]})
    hit = _nearest(ix.buildings.tree, pt, radius)
    if hit:
        i, d = hit
        ans.building = Nearby("buildings", ix.buildings.ids[i], _building_label(ix, i), float(ix.buildings.xs[i]),
                              float(ix.buildings.ys[i]), d, {"number": ix.buildings.numbers[i]})
    hit = _nearest(ix.road_tree, pt, radius)
    if hit:
        r, d = hit
        road = ix.roads[r]
        extra: dict = {"name": road.name}
        num = number_at(road, x, y)
        label = road.name
        if num is not None:
            extra.update({"interpolated_number": num[0], "side": num[1]})
            label = f"{road.name}{num[0]}号"
        foot = shapely.line_interpolate_point(road.geom, shapely.line_locate_point(road.geom, pt))
        ans.road = Nearby("roads", road.id, label, foot.x, foot.y, d, extra)

    # the label: a building (with its house) when it is the nearest thing, else the house number,
    # else the road with the number its ranges give, else only the admin chain
    if ans.building and (ans.house is None or ans.building.distance <= ans.house.distance):
        ans.label, ans.level = ans.building.label, "exact"
    elif ans.house:
        ans.label, ans.level = ans.house.label, "exact"
    elif ans.road:
        ans.label = ans.road.label
        ans.level = "interpolated" if "interpolated_number" in ans.road.extra else "road"

    xs, ys = np.array([x]), np.array([y])
    a = admin_of(ix, xs, ys)[0]
    if a >= 0:
        ans.chain = chain(ix, ix.admin[a].code)
        if ans.level == "none":
            ans.level = "area"
    g = grid_of(ix.grids, xs, ys)[0]
    if g >= 0:
        ans.unit_grid = ix.grids.codes[g]
        if len(ans.chain) and ans.chain[-1]["level"] != "community":
            ans.chain = chain(ix, ix.grids.extra[g]) or ans.chain
    g = grid_of(ix.resp, xs, ys)[0]
    if g >= 0:
        ans.resp_grid, ans.resp_grid_name = ix.resp.codes[g], ix.resp.names[g]
    return ans
