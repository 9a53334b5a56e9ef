"""The road network: main and secondary roads on a city-wide lattice, branch roads between them,
lanes (巷) inside communities, rural roads through towns and villages; address ranges per side.

Interpolation rule (the truth for numbers that have no house-number point): a side with parity
step p (2 for odd/even, 1 for all) and range [from, to] has S = (to - from)/p + 1 slots; number n
takes slot s = (n - from)/p, at distance L*(s + 1/2)/S along the road (from its first vertex),
offset SIDE_OFFSET_M to that side (left = left of the direction of digitisation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.ops
from shapely.geometry import LineString, Point

from .density import density
from .names import REAL_ROADS, RoadNamer, cn_ordinal
from .rand import rng
from .skeleton import Skeleton

SIDE_OFFSET_M = 15.0
MAIN_SPACING = 1600.0
BRANCH_SPACING = 400.0
WOBBLE_A, WOBBLE_L = 45.0, 3200.0
HOUSE_SPACING = {"main": 120.0, "secondary": 100.0, "branch": 80.0, "lane": 40.0}
SEGMENT_M = {"main": (2200, 4200), "secondary": (1500, 3000), "branch": (600, 1500), "lane": (100, 300)}


@dataclass
class Road:
    id: str
    name: str
    kind: str
    district_code: str
    geom: LineString  # metres
    aliases: list[str] = field(default_factory=list)
    historic_names: list[str] = field(default_factory=list)
    left_from: int | None = None
    left_to: int | None = None
    right_from: int | None = None
    right_to: int | None = None
    left_parity: str | None = None
    right_parity: str | None = None

    def side_range(self, side: str) -> tuple[int | None, int | None, str | None]:
        if side == "left":
            return self.left_from, self.left_to, self.left_parity
        return self.right_from, self.right_to, self.right_parity

    def side_of(self, n: int) -> str | None:
        """The side whose range and parity hold number n, or None."""
        for side in ("left", "right"):
            lo, hi, par = self.side_range(side)
            if lo is None or hi is None or not (lo <= n <= hi):  # (both ends or neither)
                continue
            if par == "all" or (par == "odd") == (n % 2 == 1):
                return side
        return None


def side_point(line: LineString, dist: float, side: str, offset: float) -> tuple[float, float]:
    """The point ``offset`` metres to the left/right of ``line`` at ``dist`` along it."""
    dist = min(max(dist, 0.0), line.length)
    a = line.interpolate(max(dist - 1.0, 0.0))
    b = line.interpolate(min(dist + 1.0, line.length))
    dx, dy = b.x - a.x, b.y - a.y
    norm = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / norm, dx / norm  # left normal
    sign = 1.0 if side == "left" else -1.0
    p = line.interpolate(dist)
    return p.x + sign * offset * nx, p.y + sign * offset * ny


def slot_distance(road: Road, n: int, side: str) -> float:
    lo, hi, par = road.side_range(side)
    if lo is None or hi is None:
        raise ValueError(f"road {road.id} has no address range on its {side} side")
    step = 1 if par == "all" else 2
    slots = (hi - lo) // step + 1
    s = (n - lo) / step
    return road.geom.length * (s + 0.5) / slots


def interpolate(road: Road, n: int) -> tuple[float, float] | None:
    """Where number ``n`` lies by the interpolation rule (metres), or None if out of range."""
    side = road.side_of(n)
    if side is None:
        return None
    return side_point(road.geom, slot_distance(road, n, side), side, SIDE_OFFSET_M)


def _wobbly(fixed: float, lo: float, hi: float, vertical: bool, phase: float) -> LineString:
    t = np.arange(lo, hi + 100.0, 100.0)
    w = fixed + WOBBLE_A * np.sin(2 * np.pi * t / WOBBLE_L + phase)
    return LineString(np.column_stack([w, t]) if vertical else np.column_stack([t, w]))


def _lines(part, min_len: float) -> list[LineString]:
    g = shapely.line_merge(shapely.union_all([p for p in shapely.get_parts(part) if p.geom_type == "LineString"])) \
        if not part.is_empty else part
    return [p for p in shapely.get_parts(g) if p.geom_type == "LineString" and p.length >= min_len]


def _segments(line: LineString, kind: str, r: np.random.Generator) -> list[LineString]:
    lo, hi = SEGMENT_M[kind]
    out, start = [], 0.0
    while line.length - start > hi:
        cut = start + r.uniform(lo, hi)
        out.append(shapely.ops.substring(line, start, cut))
        start = cut
    out.append(shapely.ops.substring(line, start, line.length))
    return [s for s in out if s.length > 60]


class _Builder:
    def __init__(self, sk: Skeleton, seed: int, scale: float):
        self.sk, self.seed, self.scale = sk, seed, scale
        self.namer = RoadNamer(rng(seed, "road-names"))
        self.roads: list[Road] = []
        self.count: dict[str, int] = {}

    def add(self, geom: LineString, kind: str, district: str, name: str = "") -> Road:
        n = self.count[district] = self.count.get(district, 0) + 1
        road = Road(f"R{district}{n:05d}", name, kind, district, geom)
        self.roads.append(road)
        return road

    def name_all(self) -> None:
        """Real names go to the roads of their kind nearest the dense centre; the rest are made up."""
        for d in sorted({rd.district_code for rd in self.roads}):
            todo = [rd for rd in self.roads if rd.district_code == d and not rd.name]
            lines = [rd.geom for rd in todo]
            mid = shapely.get_coordinates(shapely.line_interpolate_point(lines, 0.5, normalized=True))
            rho = density(mid[:, 0], mid[:, 1])
            order = sorted(range(len(todo)), key=lambda i: -rho[i])
            for name, kind, aliases, historic in REAL_ROADS.get(d, []):
                pick = next((i for i in order if todo[i].kind == kind and not todo[i].name), None)
                if pick is None:
                    pick = next((i for i in order if not todo[i].name), None)
                if pick is None:
                    break
                rd = todo[pick]
                rd.name = name
                rd.aliases = [a for a in aliases.split("|") if a]
                rd.historic_names = [h for h in historic.split("|") if h]
                self.namer.claim(d, name)
            for rd in todo:
                if not rd.name:
                    rd.name = self.namer.generated(d, rd.kind)


def build_roads(sk: Skeleton, seed: int, scale: float = 1.0) -> list[Road]:
    """All roads of the city (metres), with names, kinds and address ranges."""
    b = _Builder(sk, seed, scale)
    urban_comms = [c for c in sk.communities() if c.urban]
    zone = shapely.union_all([c.geom for c in urban_comms])
    shapely.prepare(zone)
    inner = {d.code: d.geom.buffer(-2.0) for d in sk.districts}
    x0, y0, x1, y1 = zone.bounds
    branch_sp = BRANCH_SPACING / math.sqrt(scale)
    # lattice lines: position -> kind
    fam: list[tuple[float, bool, str]] = []
    for vertical, (lo, hi) in ((True, (x0, x1)), (False, (y0, y1))):
        k0 = math.floor(lo / MAIN_SPACING) * MAIN_SPACING
        pos = k0
        while pos <= hi + MAIN_SPACING:
            fam.append((pos, vertical, "main"))
            fam.append((pos + MAIN_SPACING / 2, vertical, "secondary"))
            q = pos + branch_sp
            while q < pos + MAIN_SPACING - branch_sp / 2:
                if abs(q - (pos + MAIN_SPACING / 2)) > branch_sp / 2:
                    fam.append((q, vertical, "branch"))
                q += branch_sp
            pos += MAIN_SPACING
    r = rng(seed, "roads", "lattice")
    zone_main = zone.buffer(300)
    for pos, vertical, kind in fam:
        lo, hi = (y0 - 500, y1 + 500) if vertical else (x0 - 500, x1 + 500)
        line = _wobbly(pos, lo, hi, vertical, 0.7 if vertical else 2.1)
        clip = zone_main if kind != "branch" else zone
        line = line.intersection(clip)
        if line.is_empty:
            continue
        for d in sk.districts:
            part = line.intersection(inner[d.code])
            for piece in _lines(part, 150 if kind == "branch" else 300):
                for seg in _segments(piece, kind, r):
                    b.add(seg, kind, d.code)
    _rural_roads(b, sk, inner, seed)
    b.name_all()
    _lanes(b, urban_comms, inner, seed, scale)
    for road in b.roads:
        _ranges(road, seed, scale)
    return b.roads


def _rural_roads(b: _Builder, sk: Skeleton, inner: dict, seed: int) -> None:
    core = Point(shapely.get_coordinates(sk.districts[0].geom.centroid)[0])
    for s in sk.streets():
        r = rng(seed, "roads", "rural", s.code)
        if s.urban and all(c.urban for c in s.children):
            continue
        # a road through the town seat, towards the city
        seat = s.geom.representative_point()
        ang = math.atan2(core.y - seat.y, core.x - seat.x) + r.normal(0, 0.3)
        half = min(6000.0, math.sqrt(s.geom.area) * 0.6)
        line = LineString([(seat.x - half * math.cos(ang), seat.y - half * math.sin(ang)),
                           (seat.x + half * math.cos(ang), seat.y + half * math.sin(ang))])
        for piece in _lines(line.intersection(inner[s.district_code]).intersection(s.geom), 300):
            for seg in _segments(piece, "main", r):
                b.add(seg, "main", s.district_code)
        for c in s.children:
            if c.urban:
                continue
            p = c.geom.representative_point()
            ang = r.uniform(0, math.pi)
            half = min(1200.0, math.sqrt(c.geom.area) * 0.4)
            line = LineString([(p.x - half * math.cos(ang), p.y - half * math.sin(ang)),
                               (p.x + half * math.cos(ang), p.y + half * math.sin(ang))])
            for piece in _lines(line.intersection(c.geom).intersection(inner[s.district_code]), 150):
                b.add(piece, "branch", s.district_code)


def _lanes(b: _Builder, comms, inner: dict, seed: int, scale: float) -> None:
    tree = shapely.STRtree([rd.geom for rd in b.roads])
    lane_no: dict[str, int] = {}
    for c in comms:
        r = rng(seed, "roads", "lanes", c.code)
        n = r.poisson(1.2 * scale)
        shapely.prepare(c.geom)
        for _ in range(n):
            p = shapely.get_coordinates(c.geom.representative_point())[0] if r.random() < 0.2 else None
            x0, y0, x1, y1 = c.geom.bounds
            for _try in range(20):
                x, y = r.uniform(x0, x1), r.uniform(y0, y1)
                if shapely.contains_xy(c.geom, x, y):
                    p = (x, y)
                    break
            if p is None:
                continue
            length = r.uniform(*SEGMENT_M["lane"])
            vertical = r.random() < 0.5
            line = LineString([p, (p[0], p[1] + length)] if vertical else [p, (p[0] + length, p[1])])
            pieces = _lines(line.intersection(c.geom).intersection(inner[c.district_code]), 60)
            if not pieces:
                continue
            lane = pieces[0]
            near = b.roads[int(tree.nearest(lane))]
            if near.kind == "lane" or near.district_code != c.district_code:
                continue
            k = lane_no[near.id] = lane_no.get(near.id, 0) + 1
            if k > 99:
                continue
            b.add(lane, "lane", c.district_code, name=f"{near.name}{cn_ordinal(k)}巷")
            b.namer.claim(c.district_code, f"{near.name}{cn_ordinal(k)}巷")


def _ranges(road: Road, seed: int, scale: float) -> None:
    """Address ranges: odd on one side and even on the other; some lanes number one side only."""
    r = rng(seed, "ranges", road.id)
    spacing = HOUSE_SPACING[road.kind] / math.sqrt(scale)
    n = max(1, int(road.geom.length / spacing))
    if road.kind == "lane" and r.random() < 0.5:
        road.left_from, road.left_to, road.left_parity = 1, n, "all"
        return
    odd_left = r.random() < 0.85
    start = 1
    nl = max(1, n + int(r.integers(-1, 2)))
    nr = max(1, n + int(r.integers(-1, 2)))
    odd = (start, start + 2 * (nl - 1))
    even = (start + 1, start + 1 + 2 * (nr - 1))
    if odd_left:
        road.left_from, road.left_to, road.left_parity = *odd, "odd"
        road.right_from, road.right_to, road.right_parity = *even, "even"
    else:
        road.left_from, road.left_to, road.left_parity = *even, "even"
        road.right_from, road.right_to, road.right_parity = *odd, "odd"
