"""House numbers along the roads, the buildings behind them and the storefronts on them.

Along each road doors are numbered from its first vertex: odd on the left, even on the right (a
third of the lanes: 1, 2, 3 … on the left only, parity ``all``). Spacing is irregular (8-40 m);
each side of a road has its own setback from the centre line (by kind: main 15-35 m … lane 6-12
m), with a metre of scatter. About a quarter of each side's numbers (never its first or last)
get no point: they stay in the road's range (left_from … right_to) and their true positions are
the truths of interpolation queries. A few numbers have sub-doors (12-1, 12附3), always with a
point.
"""
from __future__ import annotations

import numpy as np
from shapely.geometry import LineString, Point, Polygon

from . import names as N
from .model import Building, Door, Ids, Road, Store

SETBACK = {"main": (15, 35), "secondary": (10, 28), "branch": (8, 20), "lane": (6, 12), "block": (6, 15)}
DROP = 0.25  # share of a side's numbers without a point


def frame(line: LineString, s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point at ``s`` metres along the line, the unit tangent and the unit left normal there."""
    s = min(max(s, 0.0), line.length)
    a = np.array(line.interpolate(max(s - 2, 0)).coords[0])
    b = np.array(line.interpolate(min(s + 2, line.length)).coords[0])
    t = (b - a) / (np.linalg.norm(b - a) or 1.0)
    return np.array(line.interpolate(s).coords[0]), t, np.array([-t[1], t[0]])


def rect(centre: np.ndarray, t: np.ndarray, w: float, h: float) -> Polygon:
    """A w (along t) by h rectangle centred on ``centre``."""
    n = np.array([-t[1], t[0]])
    c = [centre + t * w / 2 + n * h / 2, centre - t * w / 2 + n * h / 2,
         centre - t * w / 2 - n * h / 2, centre + t * w / 2 - n * h / 2]
    return Polygon(c)


def building_numbers(style: str, k: int) -> list[str]:
    """The first k building numbers in one style: 1号楼…, 1栋…, 1幢…, A座…"""
    if style == "座":
        return [f"{'ABCDEFGH'[i]}座" for i in range(k)]
    return [f"{i + 1}{style}" for i in range(k)]


def road_doors(roads: list[Road], ids: Ids, rng: np.random.Generator) -> list[Door]:
    """All doors of all roads (present or not), with each road's ranges filled in."""
    doors: list[Door] = []
    for road in roads:
        line = road.geom
        sides = ["left"] if road.kind == "lane" and rng.random() < 0.33 else ["left", "right"]
        parity = {"left": "all"} if sides == ["left"] else {"left": "odd", "right": "even"}
        for side in sides:
            setback = rng.uniform(*SETBACK[road.kind])
            sign = 1.0 if side == "left" else -1.0
            pos = []
            s = rng.uniform(4, 20)
            while s < line.length - 4:
                pos.append(s)
                s += rng.uniform(8, 40)
            if not pos:
                continue
            first = 1 if side == "left" else 2
            step = 1 if parity[side] == "all" else 2
            numbers = [first + step * k for k in range(len(pos))]
            interior = np.arange(1, len(pos) - 1)
            drop = set(rng.choice(interior, size=round(DROP * len(pos)), replace=False).tolist()) \
                if len(interior) >= round(DROP * len(pos)) > 0 else set()
            for k, (s, n) in enumerate(zip(pos, numbers)):
                p, t, nl = frame(line, s)
                q = p + nl * sign * (setback + rng.normal(0, 1.0))
                door = Door("road", road.id, str(n), n, Point(q), present=k not in drop, side=side, s=s)
                doors.append(door)
                if door.present and 0 < k < len(pos) - 1 and rng.random() < 0.05:
                    nxt = pos[k + 1]
                    for j in range(1 if rng.random() < 0.7 else 2):
                        ss = min(s + (j + 1) * rng.uniform(2, 4), (s + nxt) / 2)
                        p2, _, nl2 = frame(line, ss)
                        text = f"{n}-{j + 1}" if rng.random() < 0.6 else f"{n}附{j + 1}"
                        doors.append(Door("road", road.id, text, n, Point(p2 + nl2 * sign * setback),
                                          side=side, sub=True, s=ss))
            road.ranges[f"{side}_from"] = numbers[0]
            road.ranges[f"{side}_to"] = numbers[-1]
            road.ranges[f"{side}_parity"] = parity[side]
    for d in doors:
        if d.present:
            d.id = ids.next("H", 6)
    return doors


def door_buildings(roads: list[Road], doors: list[Door], ids: Ids, rng: np.random.Generator) -> list[Building]:
    """Buildings behind some road doors (parent house_number) and along some roads without a door
    of their own (parent road)."""
    by_id = {r.id: r for r in roads}
    out = []
    for d in doors:
        road = by_id[d.parent_id]
        if not d.present or d.sub or road.kind == "lane" or rng.random() > 0.08:
            continue
        p, t, nl = frame(road.geom, d.s)
        sign = 1.0 if d.side == "left" else -1.0
        setback = float(np.dot(np.array(d.geom.coords[0]) - p, nl * sign))
        style = str(rng.choice(["号楼", "号楼", "栋", "座", "幢"]))
        w, h = rng.uniform(14, 26), rng.uniform(10, 16)
        for k, number in enumerate(building_numbers(style, int(rng.integers(1, 5)))):
            c = p + nl * sign * (setback + 6 + h / 2 + k * (h + 6))
            out.append(Building(ids.next("B"), "house_number", d.id, number, rect(c, t, w, h)))
    for road in roads:
        if road.kind not in ("main", "secondary") and rng.random() > 0.3:
            continue
        style = str(rng.choice(["号楼", "栋"]))
        for number in building_numbers(style, int(rng.integers(2, 5))):
            s = rng.uniform(0.1, 0.9) * road.geom.length
            p, t, nl = frame(road.geom, s)
            sign = rng.choice([-1.0, 1.0])
            h = rng.uniform(10, 16)
            c = p + nl * sign * (rng.uniform(45, 75) + h / 2)
            out.append(Building(ids.next("B"), "road", road.id, number, rect(c, t, rng.uniform(16, 40), h)))
    return out


def storefronts(roads: list[Road], doors: list[Door], ids: Ids, rng: np.random.Generator) -> list[Store]:
    """Shops at some doors, a little nearer the road than the door; names unique on each road."""
    by_id = {r.id: r for r in roads}
    used: dict[str, set[str]] = {}
    out = []
    for d in doors:
        road = by_id[d.parent_id]
        share = 0.03 if road.kind == "lane" and road.family != "old_lane" else 0.09
        if not d.present or rng.random() > share:
            continue
        for _ in range(10):
            trade, category = N.pick(rng, N.SHOP_TRADES)
            name = N.pick(rng, N.SHOP_OWNERS) + trade
            if name not in used.setdefault(road.id, set()):
                break
        else:
            continue
        used[road.id].add(name)
        p, _, nl = frame(road.geom, d.s)
        q = np.array(d.geom.coords[0])
        inward = (p - q) / (np.linalg.norm(p - q) or 1.0)
        out.append(Store(ids.next("S"), name, road.id, d.number, category, Point(q + inward * 2.5)))
    return out
