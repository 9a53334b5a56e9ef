"""House numbers along roads (门牌号), the buildings under them (楼牌号), and courtyards and
residential compounds (院落, 小区) with their own house numbers and buildings.

Everything on a road derives from the road and the seed alone, so the big layers can be written
road by road in bounded memory and re-derived later (e.g. for the evaluation set).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import Point, Polygon

from .names import COMPOUND_PREFIX, COMPOUND_SUFFIX, COURTYARD_OWNERS
from .rand import rng
from .roads import SIDE_OFFSET_M, Road, side_point, slot_distance

GAP_RATE = 0.12  # numbers inside a side's range that have no point (the interpolation cases)
SUB_RATE = 0.06  # houses with a sub-number beside them (12-1, 12附3)
BUILDING_RATE = 0.08  # road houses with buildings behind them


@dataclass
class House:
    id: str
    parent_kind: str
    parent_id: str
    number: str
    x: float
    y: float
    num: int = 0
    side: str = ""


@dataclass
class Building:
    id: str
    parent_kind: str
    parent_id: str
    number: str
    x: float
    y: float


@dataclass
class RoadAddresses:
    houses: list[House]
    gaps: list[int]  # numbers in range without a point
    buildings: list[Building] = field(default_factory=list)


def building_labels(r: np.random.Generator, k: int) -> list[str]:
    style = r.integers(0, 3)
    if style == 0:
        return [f"{i}号楼" for i in range(1, k + 1)]
    if style == 1:
        return [f"{i}栋" for i in range(1, k + 1)]
    return [f"{chr(ord('A') + i)}座" for i in range(min(k, 8))]


def road_addresses(road: Road, seed: int) -> RoadAddresses:
    """House numbers (with sub-numbers) on both sides of a road, and buildings behind some."""
    r = rng(seed, "houses", road.id)
    houses: list[House] = []
    gaps: list[int] = []
    buildings: list[Building] = []
    line = road.geom
    for side in ("left", "right"):
        lo, hi, par = road.side_range(side)
        if lo is None or hi is None:  # a side has both ends of its range or neither
            continue
        step = 1 if par == "all" else 2
        slots = (hi - lo) // step + 1
        slot_len = line.length / slots
        for s in range(slots):
            n = lo + s * step
            if 0 < s < slots - 1 and r.random() < GAP_RATE:
                gaps.append(n)
                continue
            d = slot_distance(road, n, side) + r.uniform(-0.3, 0.3) * slot_len
            x, y = side_point(line, d, side, SIDE_OFFSET_M + r.uniform(-4, 4))
            hid = f"H{road.id[1:]}{len(houses):05d}"
            houses.append(House(hid, "road", road.id, str(n), x, y, n, side))
            if r.random() < SUB_RATE:
                form = r.integers(0, 2)
                for k in range(1, int(r.integers(1, 3)) + 1):
                    label = f"{n}-{k}" if form == 0 else f"{n}附{k}"
                    sx, sy = side_point(line, d + r.uniform(-8, 8), side, SIDE_OFFSET_M + 15 + 10 * k)
                    houses.append(House(f"H{road.id[1:]}{len(houses):05d}", "road", road.id, label, sx, sy, n, side))
            if road.kind != "lane" and r.random() < BUILDING_RATE:
                labels = building_labels(r, int(r.integers(1, 5)))
                for k, label in enumerate(labels):
                    bx, by = side_point(line, d + (k - len(labels) / 2) * 18, side,
                                        SIDE_OFFSET_M + 45 + r.uniform(0, 20))
                    buildings.append(Building(f"B{hid[1:]}{k:02d}", "house_number", hid, label, bx, by))
    # a few branch roads number blocks straight off the road (XX路3号楼)
    if road.kind == "branch" and r.random() < 0.12:
        k = int(r.integers(2, 7))
        for i in range(1, k + 1):
            bx, by = side_point(line, line.length * i / (k + 1), "left" if i % 2 else "right", 60)
            buildings.append(Building(f"B{road.id[1:]}R{i:02d}", "road", road.id, f"{i}号楼", bx, by))
    return RoadAddresses(houses, gaps, buildings)


@dataclass
class Courtyard:
    id: str
    name: str
    kind: str
    street_code: str
    community_code: str
    geom: Polygon  # metres
    aliases: list[str]
    road_id: str
    house_number: str
    houses: list[House] = field(default_factory=list)
    buildings: list[Building] = field(default_factory=list)


def _points_in(poly, k: int, r: np.random.Generator) -> list[tuple[float, float]]:
    """k points spread over a polygon (a jittered lattice kept inside)."""
    x0, y0, x1, y1 = poly.bounds
    side = max(1, math.ceil(math.sqrt(k * 1.6)))
    xs = np.linspace(x0, x1, side + 2)[1:-1]
    ys = np.linspace(y1, y0, side + 2)[1:-1]
    pts = [(x + r.uniform(-5, 5), y + r.uniform(-5, 5)) for y in ys for x in xs]
    pts = [p for p in pts if shapely.contains_xy(poly, *p)]
    while len(pts) < k:
        p = poly.representative_point()
        pts.append((p.x + r.uniform(-3, 3), p.y + r.uniform(-3, 3)))
    return pts[:k]


def build_courtyards(comms, roads: list[Road], seed: int, scale: float) -> list[Courtyard]:
    """Compounds and courtyards in the urban communities, each behind a house on a nearby road."""
    tree = shapely.STRtree([rd.geom for rd in roads])
    used: set[str] = set()
    out: list[Courtyard] = []

    @lru_cache(maxsize=256)
    def addrs(i: int) -> RoadAddresses:
        return road_addresses(roads[i], seed)

    r_names = rng(seed, "courtyard-names")
    for c in comms:
        r = rng(seed, "courtyards", c.code)
        for _ in range(r.poisson(1.3 * math.sqrt(scale))):
            p = c.geom.representative_point() if r.random() < 0.3 else None
            if p is None:
                x0, y0, x1, y1 = c.geom.bounds
                p = Point(r.uniform(x0, x1), r.uniform(y0, y1))
                if not c.geom.contains(p):
                    continue
            ri = int(tree.nearest(p))
            road = roads[ri]
            bases = [h for h in addrs(ri).houses if h.number.isdigit()]
            if not bases:
                continue
            h = min(bases, key=lambda hh: (hh.x - p.x) ** 2 + (hh.y - p.y) ** 2)
            size = r.uniform(90, 200)
            sq = shapely.box(-size / 2, 0, size / 2, size)
            # behind the house, away from the road
            proj = road.geom.project(Point(h.x, h.y))
            a = road.geom.interpolate(max(proj - 1, 0))
            b = road.geom.interpolate(min(proj + 1, road.geom.length))
            ang = math.atan2(b.y - a.y, b.x - a.x) + (math.pi / 2 if h.side == "left" else -math.pi / 2)
            sq = shapely.affinity.rotate(sq, math.degrees(ang) - 90, origin=(0, 0))
            sq = shapely.affinity.translate(sq, h.x, h.y)
            poly = sq.intersection(c.geom)
            if poly.is_empty or poly.area < 2000 or poly.geom_type != "Polygon":
                continue
            kind = "compound" if r.random() < 0.7 else "courtyard"
            name: str | None
            for _try in range(50):
                if kind == "compound":
                    name = str(r_names.choice(COMPOUND_PREFIX)) + str(r_names.choice(COMPOUND_SUFFIX))
                else:
                    name = str(r_names.choice(COURTYARD_OWNERS)) + "家属院"
                if name not in used:
                    break
                name = None
            if name is None:
                continue
            used.add(name)
            cid = f"Y{c.code}{len([o for o in out if o.community_code == c.code]) + 1:02d}"
            aliases = [f"{road.name}{h.number}号院"]
            if kind == "compound" and r.random() < 0.4:
                aliases.append(name[:-2] + "小区" if not name.endswith("小区") else name[:-2] + "花园")
            cy = Courtyard(cid, name, kind, c.code[:9], c.code, poly, aliases, road.id, h.number)
            for i, (x, y) in enumerate(_points_in(poly.buffer(-10) if poly.buffer(-10).area > 0 else poly,
                                                  int(r.integers(2, 7)), r), start=1):
                cy.houses.append(House(f"H{cid}{i:03d}", "courtyard", cid, str(i), x, y, i))
            nb = int(r.integers(3, 13 if kind == "compound" else 6))
            labels = ([f"{i}号楼" for i in range(1, nb + 1)] if r.random() < 0.7
                      else [f"{i}栋" for i in range(1, nb + 1)])
            for i, (x, y) in enumerate(_points_in(poly, nb, r)):
                cy.buildings.append(Building(f"B{cid}{i:03d}", "courtyard", cid, labels[i], x, y))
            out.append(cy)
    return out
