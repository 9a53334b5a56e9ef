"""The street plan of the evaluation town, in local metres around the county seat (x east, y north).

Synthetic: the county seat's position and the county outline are real (see county.py), the town
is invented. About 4 x 4 km, clipped to the county outline, laid out unlike a rectilinear grid:

- an old town in the centre, criss-crossed by curving lanes (random walks that branch off one
  another and end on the lane they run into), with one winding street (热斯坦路) through it;
- a ring road around the old town, open in the south (an arc of about 320 degrees);
- radial roads from the ring to the edge of town, bending a little as they go;
- two long roads crossing the whole town (one west-east, one south-north) and so several street
  offices; a canal across the south with a road along its bank;
- a newer quarter in the east whose grid is rotated 18-32 degrees;
- a jittered grid of streets and 胡同 south-west of the ring, a looser one south of the canal;
- village lanes winding through the north-west.

:func:`lay_out` returns the roads as :class:`RoadDraft` (geometry, family, kind); names.py and
gazetteer.py name them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.ops
from shapely.affinity import rotate, translate
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

HALF = 2000.0  # half the side of the town, metres
R_OLD = 620.0  # old town radius
R_RING = 860.0  # ring road radius
RING_GAP = (245.0, 285.0)  # degrees where the ring is open


@dataclass
class RoadDraft:
    """A road before it is named: its line, the part of the plan it belongs to, its kind."""

    geom: LineString
    family: str
    kind: str
    slot: int = 0  # position within the family (which name of the family's list)
    base: int | None = None  # the draft this lane branches off (old-town lanes)


@dataclass
class Layout:
    """The town's outline, its quarters and its roads (all in local metres)."""

    outline: Polygon
    old_town: Polygon
    ring_disc: Polygon
    canal: LineString
    grid_quarter: Polygon
    village: Polygon
    grid_angle: float
    roads: list[RoadDraft] = field(default_factory=list)

    def lines(self, families: tuple[str, ...] | None = None) -> list[LineString]:
        return [r.geom for r in self.roads if families is None or r.family in families]


# -- geometry helpers -------------------------------------------------------------------------
def blob(radius: float, rng: np.random.Generator, wobble: float = 0.07, n: int = 72,
         centre: tuple[float, float] = (0.0, 0.0)) -> Polygon:
    """An irregular round shape: radius modulated by a few low harmonics."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.full(n, float(radius))
    for k in (2, 3, 5):
        r += radius * wobble / k * 2 * np.sin(k * t + rng.uniform(0, 2 * np.pi))
    return Polygon(np.column_stack([centre[0] + r * np.cos(t), centre[1] + r * np.sin(t)]))


def wavy(points: list[tuple[float, float]], rng: np.random.Generator, amp: float, wave: float,
         step: float = 10.0) -> LineString:
    """A polyline through ``points``, densified and bent sideways by two smooth sine waves."""
    line = LineString(points)
    n = max(int(line.length / step), 2)
    s = np.linspace(0, line.length, n + 1)
    pts = shapely.get_coordinates(shapely.line_interpolate_point(line, s))
    d = np.gradient(pts, axis=0)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    normal = np.column_stack([-d[:, 1], d[:, 0]])
    p1, p2 = rng.uniform(0, 2 * np.pi, 2)
    off = amp * (0.7 * np.sin(2 * np.pi * s / wave + p1) + 0.3 * np.sin(2 * np.pi * s / (wave * 0.43) + p2))
    off *= np.minimum(1.0, np.minimum(s, s[-1] - s) / 60.0 + 0.2)  # ends stay near their points
    return LineString(pts + normal * off[:, None])


def longest_piece(geom: BaseGeometry) -> LineString | None:
    """The longest LineString of a (clipped) linear geometry, or None."""
    if geom.is_empty:
        return None
    if geom.geom_type == "MultiLineString":
        geom = shapely.line_merge(geom)
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "LineString"]
    return max(parts, key=lambda p: p.length) if parts else None


def clip(line: LineString, area: BaseGeometry, min_len: float = 120.0) -> LineString | None:
    piece = longest_piece(line.intersection(area))
    return piece if piece is not None and piece.length >= min_len else None


def jittered_line(a: tuple[float, float], b: tuple[float, float], rng: np.random.Generator,
                  every: float = 130.0, jitter: float = 30.0) -> LineString:
    """A straight-ish street whose vertices every ``every`` metres are pushed sideways."""
    a_, b_ = np.array(a, float), np.array(b, float)
    n = max(int(np.linalg.norm(b_ - a_) / every), 1)
    t = np.linspace(0, 1, n + 1)
    pts = a_ + np.outer(t, b_ - a_)
    d = (b_ - a_) / np.linalg.norm(b_ - a_)
    side = np.array([-d[1], d[0]])
    off = rng.normal(0, jitter / 2, n + 1).clip(-jitter, jitter)
    return LineString(pts + np.outer(off, side))


def walk(start: np.ndarray, heading: float, rng: np.random.Generator, area: BaseGeometry,
         others: BaseGeometry, max_len: float, step: float = 12.0, turn: float = 7.0,
         snap: float = 11.0, free: int = 4) -> LineString | None:
    """A lane growing from ``start``: each step turns a little (a drifting curvature), it stops
    when it leaves ``area`` or comes within ``snap`` metres of ``others`` (and ends on them)."""
    pts = [start.copy()]
    p = start.copy()
    curve = rng.normal(0, turn / 2)
    shapely.prepare(others)
    while (len(pts) - 1) * step < max_len:
        curve = 0.8 * curve + rng.normal(0, turn / 2)
        heading += math.radians(curve)
        p = p + step * np.array([math.cos(heading), math.sin(heading)])
        q = Point(p)
        if not area.contains(q):
            inside = LineString([pts[-1], p]).intersection(area)
            if not inside.is_empty:
                pts.append(np.array(shapely.get_coordinates(inside)[-1]))
            break
        if len(pts) > free and others.distance(q) < snap:
            _, near = shapely.ops.nearest_points(q, others)
            pts.append(np.array([near.x, near.y]))
            break
        pts.append(p)
    if len(pts) < 3:
        return None
    line = LineString(pts)
    return line if line.is_simple else None


# -- the plan ---------------------------------------------------------------------------------
def town_outline(county_local: BaseGeometry, rng: np.random.Generator) -> Polygon:
    """A squarish, irregular outline of about 4 x 4 km around the seat, inside the county."""
    t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    square = HALF / np.maximum(np.abs(np.cos(t)), np.abs(np.sin(t)))
    r = np.minimum(square, HALF * 1.22) * rng.uniform(0.93, 1.04, t.size)
    town = Polygon(np.column_stack([r * np.cos(t), r * np.sin(t)])).intersection(county_local)
    parts = [p for p in shapely.get_parts(town) if p.geom_type == "Polygon"]
    if not parts:
        raise SystemExit("the county seat is outside its own outline")
    return max(parts, key=lambda p: p.area)


def _ring_arc(rng: np.random.Generator) -> LineString:
    g0, g1 = RING_GAP
    a = np.radians(np.linspace(g1, g0 + 360.0, 160))
    r = R_RING + 40 * np.sin(2 * a + rng.uniform(0, 6.28)) + 15 * np.sin(5 * a + rng.uniform(0, 6.28))
    return LineString(np.column_stack([r * np.cos(a), r * np.sin(a)]))


def _start_on(line: LineString, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A random point of a line and the direction of the line there (radians)."""
    s = rng.uniform(0.08, 0.92) * line.length
    p = np.array(line.interpolate(s).coords[0])
    q = np.array(line.interpolate(min(s + 3, line.length)).coords[0])
    return p, math.atan2(q[1] - p[1], q[0] - p[0])


def _old_lanes(lay: Layout, rng: np.random.Generator, restan: int, target: int = 30) -> None:
    """Curving lanes in and around the old town, each branching off an earlier lane, the winding
    street or the ring; each starts where the old town has the fewest lanes so far."""
    area = lay.ring_disc.buffer(-3)
    made = tries = 0
    while made < target and tries < target * 15:
        tries += 1
        pool = [i for i, r in enumerate(lay.roads) if r.family in ("old_lane", "restan", "ring")]
        lanes = [r.geom for r in lay.roads if r.family in ("old_lane", "restan")]
        others = shapely.union_all([r.geom for r in lay.roads if r.family in ("old_lane", "restan", "ring")])
        best = None
        for _ in range(10):  # the candidate start farthest from the lanes already there
            b = restan if made < 3 else pool[int(rng.integers(len(pool)))]
            p, along = _start_on(lay.roads[b].geom, rng)
            if not area.buffer(4).contains(Point(p)):
                continue
            room = min((g.distance(Point(p)) for k, g in enumerate(lanes) if g is not lay.roads[b].geom),
                       default=1e9)
            if best is None or room > best[0]:
                best = (room, b, p, along)
        if best is None:
            continue
        _, b, p, along = best
        side = rng.choice([-1, 1])
        if lay.roads[b].family == "ring":  # inwards
            side = 1 if np.dot([math.cos(along + math.pi / 2), math.sin(along + math.pi / 2)], -p) > 0 else -1
        heading = along + side * math.radians(90 + rng.normal(0, 18))
        lane = walk(p, heading, rng, area, others, max_len=rng.uniform(220, 520))
        if lane is None or lane.length < 110:
            continue
        # not along another lane: what lies within 9 m of the others must be little more than the ends
        if others.intersection(lane.buffer(9, quad_segs=2)).length > 40:
            continue
        lay.roads.append(RoadDraft(lane, "old_lane", "lane", made, base=b))
        made += 1


def _village_lanes(lay: Layout, rng: np.random.Generator, target: int = 7) -> None:
    """Village lanes winding through the north-west quarter."""
    area = lay.village
    made = tries = 0
    while made < target and tries < 200:
        tries += 1
        others = shapely.union_all(lay.lines())
        edge = shapely.intersection(others, area.buffer(2))
        if edge.is_empty or made < 2:
            # the first lanes start inside the village
            x0, y0, x1, y1 = area.bounds
            p = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
            if not area.contains(Point(p)) or others.distance(Point(p)) < 60:
                continue
            heading = rng.uniform(0, 2 * np.pi)
        else:
            line = longest_piece(edge) or LineString([(0, 0), (1, 1)])
            s = rng.uniform(0.1, 0.9) * line.length
            p = np.array(line.interpolate(s).coords[0])
            q = np.array(line.interpolate(min(s + 3, line.length)).coords[0])
            heading = math.atan2(q[1] - p[1], q[0] - p[0]) + rng.choice([-1, 1]) * math.radians(90 + rng.normal(0, 20))
        lane = walk(p, heading, rng, area, others, max_len=rng.uniform(350, 700), step=15.0, turn=5.0, snap=14.0)
        if lane is None or lane.length < 180 or others.intersection(lane.buffer(12, quad_segs=2)).length > 50:
            continue
        lay.roads.append(RoadDraft(lane, "village", "lane", made))
        made += 1


def _add(lay: Layout, line: LineString | None, family: str, kind: str, slot: int) -> None:
    """Add a road unless it runs along one already there (more than its crossings explain)."""
    if line is None:
        return
    if lay.roads:
        others = shapely.union_all(lay.lines())
        crossings = len(shapely.get_parts(line.intersection(others)))
        if others.intersection(line.buffer(8, quad_segs=2)).length > 45 + 20 * crossings:
            return
    lay.roads.append(RoadDraft(line, family, kind, slot))


def lay_out(county_local: BaseGeometry, rng: np.random.Generator) -> Layout:
    """The whole street plan: outline, quarters and road drafts."""
    outline = town_outline(county_local, rng)
    old_town = blob(R_OLD, rng, 0.06).intersection(outline)
    ring_disc = blob(R_RING - 1, rng, 0.0).intersection(outline)
    ring = _ring_arc(rng)
    ring_disc = Polygon(list(ring.coords) + [(0, 0)]).union(ring_disc.buffer(-45)).buffer(0)
    ring_disc = shapely.convex_hull(ring_disc).intersection(outline)
    theta = math.radians(rng.uniform(18, 32))
    centre = (1520.0, 230.0)
    grid_rect = translate(rotate(box(-1000, -640, 1000, 900), theta, origin=(0, 0), use_radians=True), *centre)
    grid_quarter = grid_rect.intersection(outline).difference(ring_disc.buffer(60))
    canal = wavy([(-2700, -650), (-1300, -1120), (0, -1330), (1300, -1050), (2700, -1420)], rng, 30, 700)
    canal = clip(canal, outline.buffer(-5), 0) or canal
    village = Polygon([(-2600, 250), (-250, 250), (-250, 2600), (-2600, 2600)]).intersection(outline) \
        .difference(ring_disc.buffer(80))
    if village.geom_type != "Polygon":
        village = max(shapely.get_parts(village), key=lambda p: p.area)
    lay = Layout(outline, old_town, ring_disc, canal, grid_quarter, village, theta)

    # the winding street through the old town, the ring around it
    a0, a1 = math.radians(rng.uniform(175, 190)), math.radians(rng.uniform(-8, 8))
    restan = wavy([(R_RING * math.cos(a0), R_RING * math.sin(a0)), (0, rng.uniform(-60, 60)),
                   (R_RING * math.cos(a1), R_RING * math.sin(a1))], rng, 45, 320)
    _add(lay, clip(restan, ring_disc.buffer(2)), "restan", "secondary", 0)
    _add(lay, clip(ring, outline), "ring", "main", 0)

    # long roads across the town
    y = rng.uniform(1150, 1350)
    _add(lay, clip(wavy([(-2700, y), (0, y + rng.uniform(-80, 80)), (2700, y)], rng, 60, 1500), outline),
         "long_we", "main", 0)
    x = rng.uniform(-1450, -1300)
    _add(lay, clip(wavy([(x, -2700), (x + rng.uniform(-60, 60), 0), (x, 2700)], rng, 50, 1300), outline),
         "long_ns", "main", 0)

    # radials from the ring to the edge, avoiding the rotated grid's sector
    for k, deg in enumerate((100, 148, 196, 232, 300, 334)):
        a = math.radians(deg + rng.uniform(-6, 6))
        drift = math.radians(rng.uniform(-10, 10))
        pts = [((R_RING - 5) * math.cos(a), (R_RING - 5) * math.sin(a))]
        for r in (1500, 2200, 3200):
            b = a + drift * (r - R_RING) / 2300
            pts.append((r * math.cos(b), r * math.sin(b)))
        _add(lay, clip(wavy(pts, rng, 25, 900), outline), "radial", "main" if k % 2 == 0 else "secondary", k)

    # the canal road along the north bank
    bank = shapely.offset_curve(canal, 30.0)
    _add(lay, clip(bank, outline.intersection(box(-1900, -3000, 1650, 3000))), "canal_road", "secondary", 0)

    # the rotated grid of the new quarter: 天山N路 along u, 文化路 and its side lanes along v
    ux, uy = math.cos(theta), math.sin(theta)
    vx, vy = -uy, ux
    cx, cy = centre
    for i, v in enumerate((500, 250, 0, -250, -500)):
        end0 = (cx - 1000 * ux + v * vx, cy - 1000 * uy + v * vy)
        end1 = (cx + 1000 * ux + v * vx, cy + 1000 * uy + v * vy)
        _add(lay, clip(jittered_line(end0, end1, rng, 200, 6), grid_quarter.buffer(1)), "grid_u", "secondary", i + 1)
    for j, u in enumerate((-600, -300, 0, 300, 600)):
        end0 = (cx + u * ux - 640 * vx, cy + u * uy - 640 * vy)
        end1 = (cx + u * ux + 900 * vx, cy + u * uy + 900 * vy)
        kind = "secondary" if u == 0 else "branch"
        _add(lay, clip(jittered_line(end0, end1, rng, 200, 5), grid_quarter.buffer(1)), "grid_v", kind, j - 2)

    # the jittered grid south-west of the ring (north of the canal) and its 胡同
    sw = outline.intersection(box(-2100, -1300, -150, -150)).difference(ring_disc.buffer(70))
    sw = sw.difference(canal.buffer(60))
    sw = max(shapely.get_parts(sw), key=lambda p: p.area) if sw.geom_type != "Polygon" else sw
    avenue = [r.geom.centroid.x for r in lay.roads if r.family == "long_ns"] or [1e9]
    ns_x = [x for x in np.arange(-1900, -300, 330) + rng.uniform(-40, 40) if abs(x - avenue[0]) > 160]
    for i, x in enumerate(ns_x):
        _add(lay, clip(jittered_line((x, -1500), (x + rng.uniform(-60, 60), 0), rng), sw, 250), "sw_ns", "branch", i)
    ew_y = np.arange(-350, -1150, -240) + rng.uniform(-30, 30)
    for i, y in enumerate(ew_y):
        _add(lay, clip(jittered_line((-2200, y), (0, y + rng.uniform(-50, 50)), rng), sw, 250),
             "sw_ew", "secondary" if i == 1 else "branch", i)
    for i in range(3):
        y0 = (ew_y[i] + ew_y[i + 1]) / 2 if i + 1 < len(ew_y) else ew_y[i] - 110
        x0 = ns_x[i % len(ns_x)] if ns_x else -1500
        line = jittered_line((x0, y0), (x0 + rng.uniform(280, 400), y0 + rng.uniform(-25, 25)), rng, 60, 10)
        _add(lay, clip(line, sw, 150), "hutong", "lane", i)

    # the looser grid south of the canal
    south = outline.difference(canal.buffer(70)).intersection(box(-2400, -2600, 2400, -900))
    south = [p for p in shapely.get_parts(south) if p.centroid.y < -1200]
    south = max(south, key=lambda p: p.area) if south else outline.intersection(box(-2400, -2600, 2400, -1500))
    # north-south streets bridge the canal and end on the canal road
    c0, c1 = canal.coords[0], canal.coords[-1]
    beyond = Polygon(list(bank.coords) + [(c1[0] + 500, 4000), (c0[0] - 500, 4000)]).buffer(0)
    across = south.union(canal.buffer(75)).difference(beyond).intersection(outline)
    for i, x in enumerate(np.arange(-1500, 1900, 850) + rng.uniform(-60, 60)):
        _add(lay, clip(jittered_line((x, -2600), (x + rng.uniform(-100, 100), -900), rng, 150, 40), across, 200),
             "se_ns", "branch", i)
    for i, y in enumerate((-1700 + rng.uniform(-40, 40), -1900 + rng.uniform(-30, 30))):
        _add(lay, clip(jittered_line((-2400, y), (2400, y + rng.uniform(-80, 80)), rng, 160, 35), south, 200),
             "se_ew", "branch", i)

    # the north: a few streets between the old town, the long road and the edge
    north = outline.intersection(box(-150, 700, 2600, 2600)).difference(ring_disc.buffer(70))
    north = north.difference(grid_quarter.buffer(40))
    north = max(shapely.get_parts(north), key=lambda p: p.area) if north.geom_type != "Polygon" else north
    for i, x in enumerate((rng.uniform(250, 450), rng.uniform(900, 1150))):
        _add(lay, clip(jittered_line((x, 600), (x + rng.uniform(-150, 150), 2600), rng, 170, 35), north, 250),
             "north_ns", "branch", i)
    y = rng.uniform(1650, 1800)
    _add(lay, clip(jittered_line((-200, y), (2600, y + rng.uniform(-100, 100)), rng, 170, 30), north, 250),
         "north_ew", "secondary", 0)

    # lanes last: they end on whatever road they run into
    _old_lanes(lay, rng, restan=next(i for i, r in enumerate(lay.roads) if r.family == "restan"))
    _village_lanes(lay, rng)
    _side_lanes(lay, rng, south)
    return lay


def _side_lanes(lay: Layout, rng: np.random.Generator, south: Polygon, target: int = 4) -> None:
    """Short lanes off the southern roads: where the repeated lane names (新村巷, 果园巷) live."""
    made = tries = 0
    while made < target and tries < 150:
        tries += 1
        bases = [r for r in lay.roads if r.family == "se_ns"]
        if not bases:
            return
        base = bases[int(rng.integers(len(bases)))].geom
        s = rng.uniform(0.15, 0.85) * base.length
        p = np.array(base.interpolate(s).coords[0])
        q = np.array(base.interpolate(min(s + 3, base.length)).coords[0])
        heading = math.atan2(q[1] - p[1], q[0] - p[0]) + rng.choice([-1, 1]) * math.pi / 2
        others = shapely.union_all(lay.lines())
        lane = walk(p, heading, rng, south.buffer(-5), others, max_len=rng.uniform(220, 420), step=14, turn=3)
        if lane is None or lane.length < 160 or others.intersection(lane.buffer(12, quad_segs=2)).length > 45:
            continue
        lay.roads.append(RoadDraft(lane, "se_lane", "lane", made))
        made += 1


def overlaps(lay: Layout) -> list[tuple[int, int, float]]:
    """Pairs of roads running along each other (a check of the plan): length within 8 m, beyond
    what their crossings explain."""
    out = []
    tree = shapely.STRtree([r.geom for r in lay.roads])
    for i, r in enumerate(lay.roads):
        for j in tree.query(r.geom.buffer(8)):
            if j <= i:
                continue
            near = r.geom.intersection(lay.roads[j].geom.buffer(8)).length
            if near > 45:
                out.append((i, int(j), near))
    return out


