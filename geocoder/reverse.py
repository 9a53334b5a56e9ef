"""Reverse geocoding: a coordinate -> nearest house number or building, the road with its
interpolated number, the admin chain, the unit and responsibility grids, and distances.

Nearest-neighbour queries run on k-d trees (house numbers, buildings) and a shapely STRtree
(roads) built over the metric plane, so "nearest" is nearest in metres, not in degrees.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from .index import Index
from .interpolate import number_at
from .rank import areas_at, chain

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


FIRST_RING = 40.0  # metres: most roads are this close


def _nearest_each(ix: Index, pt, x: float, y: float, radius: float) -> list[tuple[int, float] | None]:
    """Nearest house number, building and road within ``radius``: the points from their k-d
    trees, the road from a tree query in a small ring first and the full radius only when the
    ring holds none."""
    out: list[tuple[int, float] | None] = [None, None, None]
    for kind, tree in ((0, ix.near_houses), (1, ix.near_buildings)):
        if tree is not None:
            d, i = tree.query((x, y), k=1, distance_upper_bound=radius)
            if np.isfinite(d):
                out[kind] = (int(i), float(d))
    tree, geoms = ix.road_tree, ix.road_geoms  # built together (index._combined_trees)
    if tree is None or geoms is None:
        return out
    ring = min(radius, FIRST_RING)
    while True:
        # a bounding-box query (no GEOS predicate per candidate), then exact distances by GEOS
        part = tree.query(shapely.box(x - ring, y - ring, x + ring, y + ring))
        if len(part):
            d = shapely.distance(geoms[part], pt)
            k = int(d.argmin())
            if d[k] <= ring:
                out[2] = (int(part[k]), float(d[k]))
                return out
        if ring >= radius:
            return out
        ring = radius


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
    house, building, road_hit = _nearest_each(ix, pt, x, y, radius)
    if house:
        i, d = house
        ans.house = Nearby("house_numbers", ix.houses.ids[i], _house_label(ix, i), float(ix.houses.xs[i]),
                           float(ix.houses.ys[i]), d, {"number": ix.houses.numbers[i]})
    if building:
        i, d = building
        ans.building = Nearby("buildings", ix.buildings.ids[i], _building_label(ix, i), float(ix.buildings.xs[i]),
                              float(ix.buildings.ys[i]), d, {"number": ix.buildings.numbers[i]})
    if road_hit:
        r, d = road_hit
        road = ix.roads[r]
        extra: dict = {"name": road.name}
        num = number_at(road, x, y, pt)
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

    a, g, rg = areas_at(ix, np.array([x]), np.array([y]))[0]
    if a >= 0:
        ans.chain = chain(ix, ix.admin[a].code)
        if ans.level == "none":
            ans.level = "area"
    if g >= 0:
        ans.unit_grid = ix.grids.codes[g]
        if not ans.chain or ans.chain[-1]["level"] != "community":
            ans.chain = chain(ix, ix.grids.extra[g]) or ans.chain
            if ans.level == "none" and ans.chain:
                ans.level = "area"
    if rg >= 0:
        ans.resp_grid, ans.resp_grid_name = ix.resp.codes[rg], ix.resp.names[rg]
    return ans
