"""Places, courtyards and organisations of the evaluation town, with their house numbers and
buildings, carved out of the blocks the roads leave (synthetic).

Blocks are the town less the road corridors (half widths by kind) and the canal; a parcel is a
block cut by a community, so a courtyard carved from it lies in one community and one street
office. Carved pieces never overlap one another.
"""
from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from . import names as N
from .addresses import building_numbers, frame, rect
from .county import County
from .model import Area, Building, Courtyard, Door, Ids, Org, Place, Road
from .town import Layout, blob

HALF_WIDTH = {"main": 14.0, "secondary": 10.0, "branch": 7.0, "lane": 4.0, "block": 4.0}


class Carver:
    """Parcels (block ∩ community) and the pieces already carved out of them."""

    def __init__(self, lay: Layout, roads: list[Road], communities: list[Area]) -> None:
        corridors = shapely.union_all([r.geom.buffer(HALF_WIDTH[r.kind], quad_segs=2) for r in roads]
                                      + [lay.canal.buffer(10, quad_segs=2)])
        blocks = lay.outline.difference(corridors)
        self.parcels: list[tuple[Polygon, Area]] = []
        for com in communities:
            for p in shapely.get_parts(com.geom.intersection(blocks)):
                if p.geom_type == "Polygon" and p.area > 1500:
                    self.parcels.append((p, com))
        self.tree = shapely.STRtree([p for p, _ in self.parcels])
        self.taken: list[Polygon] = []

    def parcel_at(self, pt: np.ndarray | Point, min_area: float = 4000) -> int | None:
        """The parcel containing the point, else the nearest one of at least ``min_area``."""
        q = pt if isinstance(pt, Point) else Point(pt)
        for i in self.tree.query(q, predicate="intersects"):
            if self.parcels[i][0].area >= min_area:
                return int(i)
        near = [int(i) for i in self.tree.query(q.buffer(250)) if self.parcels[i][0].area >= min_area]
        return min(near, key=lambda i: self.parcels[i][0].distance(q)) if near else None

    def carve(self, i: int, w: float, h: float, rng: np.random.Generator, centre: np.ndarray | None = None,
              angle: float | None = None, share: float = 0.45) -> Polygon | None:
        """A w x h rectangle (about ``centre``) cut to parcel ``i`` less what is taken."""
        parcel = self.parcels[i][0]
        inner = parcel.buffer(-4, quad_segs=2)
        if inner.is_empty:
            return None
        if centre is None:
            x0, y0, x1, y1 = inner.bounds
            for _ in range(30):
                c = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
                if inner.contains(Point(c)):
                    break
            else:
                c = np.array(inner.representative_point().coords[0])
        else:
            c = np.asarray(centre, float)
        if angle is None:
            angle = orientation(parcel)
        piece = rect(c, np.array([math.cos(angle), math.sin(angle)]), w, h).intersection(inner)
        busy = [t for t in self.taken if t.intersects(piece)]
        if busy:
            piece = piece.difference(shapely.union_all(busy).buffer(3, quad_segs=2))
        parts = [p for p in shapely.get_parts(piece) if p.geom_type == "Polygon"]
        if not parts:
            return None
        best = max(parts, key=lambda p: p.area)
        if best.area < share * w * h:
            return None
        best = shapely.normalize(best.simplify(0.05))
        self.taken.append(best)
        return best


def orientation(poly: BaseGeometry) -> float:
    """The direction (radians) of the long side of a polygon's minimum rotated rectangle."""
    mrr = np.array(shapely.minimum_rotated_rectangle(poly).exterior.coords)
    edges = np.diff(mrr[:3], axis=0)
    e = max(edges, key=lambda v: np.hypot(*v))
    return math.atan2(e[1], e[0])


def fill_buildings(area: BaseGeometry, numbers: list[str], rng: np.random.Generator, ids: Ids, parent_kind: str,
                   parent_id: str, size: tuple[float, float] = (14, 40)) -> list[Building]:
    """Buildings (rectangles along the area's long side) set inside ``area``, not overlapping."""
    angle = orientation(area)
    t = np.array([math.cos(angle), math.sin(angle)])
    inner = area.buffer(-2, quad_segs=2)
    out: list[Building] = []
    placed: list[Polygon] = []
    x0, y0, x1, y1 = inner.bounds if not inner.is_empty else area.bounds
    for number in numbers:
        for attempt in range(40):
            w = rng.uniform(size[0], size[1]) * (0.6 if attempt > 20 else 1.0)
            h = rng.uniform(10, 16) * (0.7 if attempt > 20 else 1.0)
            c = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
            b = rect(c, t, w, h)
            if inner.contains(b) and not any(b.distance(p) < 4 for p in placed):
                placed.append(b)
                out.append(Building(ids.next("B"), parent_kind, parent_id, number, b))
                break
    return out


def _points_in(area: BaseGeometry, k: int, rng: np.random.Generator, spacing: float = 8.0) -> list[Point]:
    inner = area.buffer(-3, quad_segs=2)
    inner = inner if not inner.is_empty else area
    x0, y0, x1, y1 = inner.bounds
    out: list[Point] = []
    for _ in range(k * 40):
        if len(out) == k:
            break
        p = Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
        if inner.contains(p) and all(p.distance(q) >= spacing for q in out):
            out.append(p)
    return out


def _points_around(p: Point, k: int, rng: np.random.Generator) -> list[Point]:
    out = []
    for j in range(k):
        a, r = rng.uniform(0, 2 * np.pi), rng.uniform(20, 90)
        out.append(Point(p.x + r * math.cos(a), p.y + r * math.sin(a)))
    return out


def _road(roads: list[Road], name: str) -> Road | None:
    return next((r for r in roads if r.name == name), None)


def _beside(road: Road | None, at: float, off: float, rng: np.random.Generator,
            fallback: tuple[float, float]) -> np.ndarray:
    """A point ``off`` metres to one side of a road at share ``at`` of its length."""
    if road is None:
        return np.array(fallback, float)
    p, _, nl = frame(road.geom, at * road.geom.length)
    return p + nl * off * rng.choice([-1.0, 1.0])


# -- places -----------------------------------------------------------------------------------
def places(lay: Layout, roads: list[Road], carver: Carver, ids: Ids, rng: np.random.Generator
           ) -> tuple[list[Place], list[Door], list[Building]]:
    """Areas, villages, markets, squares, parks, stations and bridges; their doors and buildings."""
    out: list[Place] = []

    def add(entry, geom):
        name, kind, alias, historic = entry
        if geom is None or geom.is_empty:
            return None
        if geom.geom_type == "MultiPolygon":
            geom = max(geom.geoms, key=lambda g: g.area)
        out.append(Place(ids.next("P", 4), name, kind, geom, [a for a in alias.split("|") if a],
                         [h for h in historic.split("|") if h]))
        return out[-1]

    def carved(centre, w, h, angle=None):
        i = carver.parcel_at(centre, min_area=0.3 * w * h)
        if i is None:
            return None
        for share in (0.45, 0.3):
            g = carver.carve(i, w, h, rng, centre=centre, angle=angle, share=share)
            if g is not None:
                return g
            g = carver.carve(i, w, h, rng, share=share)
            if g is not None:
                return g
        return None

    add(N.PLACE_OLD_TOWN, lay.old_town)
    vc = lay.village.representative_point()
    add(N.PLACE_VILLAGE, blob(430, rng, 0.08, centre=(vc.x, vc.y)).intersection(lay.village))
    add(N.PLACE_NEW_QUARTER, lay.grid_quarter)
    add(N.PLACE_SOUTH, blob(430, rng, 0.08, centre=(-1050, -700)).intersection(lay.outline).difference(lay.ring_disc))

    spots = {
        "库木巴扎": (_beside(_road(roads, N.RADIALS[0][0]), 0.5, 60, rng, (0, 1500)), 130, 95),
        "老城大巴扎": (_beside(_road(roads, N.RESTAN[0]), 0.55, 40, rng, (100, 100)), 90, 70),
        "牲畜巴扎": (_beside(_road(roads, N.SE_EW[0][0]), 0.7, 70, rng, (1200, -1800)), 150, 110),
        "东城农贸市场": (_beside(_road(roads, N.numbered(N.GRID_U_STEM, 3)), 0.6, 55, rng, (1600, 0)), 110, 80),
        "小商品市场": (_beside(_road(roads, N.LONG_WE[0]), 0.3, 60, rng, (-1000, 1200)), 120, 80),
    }
    for entry in N.MARKETS:
        if entry[0] in spots:
            c, w, h = spots[entry[0]]
            add(entry, carved(c, w, h))
        else:  # 英巴扎: a point beside its street
            add(entry, Point(_beside(_road(roads, N.SW_EW[0][0]), 0.5, 25, rng, (-1000, -500))))
    add(N.SQUARES[0], carved(_beside(_road(roads, N.LONG_WE[0]), 0.5, 70, rng, (0, 1250)), 150, 110))
    add(N.SQUARES[1], carved(_beside(_road(roads, N.GRID_V_STEM + "路"), 0.5, 60, rng, (1500, 200)), 120, 90))
    add(N.PARKS[0], carved(np.array([700.0, 1500.0]), 280, 210))
    add(N.PARKS[1], carved(np.array([-300.0, -1750.0]), 250, 190))
    add(N.PARKS[2], carved(np.array([500.0, 900.0]) * 1.1, 160, 120))
    add(N.PARKS[3], lay.canal.buffer(45).intersection(box(-700, -3000, 500, 3000)).intersection(lay.outline))
    station = _beside(_road(roads, N.SE_EW[0][0]), 0.35, 30, rng, (-500, -1700))
    add(N.POINT_PLACES[0], Point(station))
    add(N.POINT_PLACES[1], Point(_beside(_road(roads, N.SE_NS[-1][0]), 0.4, 120, rng, (1500, -2000))))
    add(N.POINT_PLACES[2], Point(_beside(_road(roads, N.NORTH_NS[0][0]), 0.7, 90, rng, (400, 1900))))
    lanes = [r for r in roads if r.family == "old_lane"]
    smith = lanes[int(rng.integers(len(lanes)))] if lanes else None
    add(N.POINT_PLACES[3], Point(_beside(smith, 0.5, 12, rng, (150, -150))))
    bridges(lay, roads, out, ids)

    doors, buildings = place_addresses(out, ids, rng)
    return out, doors, buildings


def bridges(lay: Layout, roads: list[Road], out: list[Place], ids: Ids) -> None:
    """A bridge where a road crosses the canal: 友谊大街 -> 友谊桥, aliased 一号桥 … west to east."""
    crossings = []
    for r in roads:
        if r.family == "canal_road":
            continue
        x = r.geom.intersection(lay.canal)
        for p in shapely.get_parts(x):
            if p.geom_type == "Point":
                crossings.append((lay.canal.project(p), r, p))
    crossings.sort(key=lambda c: c[0])
    seen = {p.name for p in out}
    k = 0
    for _, r, p in crossings:
        stem = next((r.name[: -len(s)] for s in N.ROAD_SUFFIXES if r.name.endswith(s)), r.name)
        name = stem + "桥"
        if len(stem) < 2 or name in seen:
            continue
        seen.add(name)
        k += 1
        historic = [N.BRIDGE_HISTORIC] if k == 2 else []
        out.append(Place(ids.next("P", 4), name, "bridge", p, [f"{N.cn_number(k)}号桥"], historic))


def place_addresses(places: list[Place], ids: Ids, rng: np.random.Generator) -> tuple[list[Door], list[Building]]:
    """House numbers under villages, markets, squares, parks and stations; buildings under them and
    directly under markets, areas and squares."""
    doors_of = {"village": (10, 28), "market": (6, 16), "square": (2, 5), "park": (1, 4), "station": (1, 3),
                "area": (3, 7)}
    bldgs_of = {"market": (4, 8), "area": (6, 12), "square": (2, 4), "park": (1, 3), "station": (1, 2),
                "village": (2, 5)}
    doors: list[Door] = []
    buildings: list[Building] = []
    for pl in places:
        if pl.kind == "area" and pl.geom.geom_type == "Polygon" and pl.geom.area > 1e6:
            lo_hi = None  # a quarter of town has its roads' numbers, not its own
        else:
            lo_hi = doors_of.get(pl.kind)
        if lo_hi:
            k = int(rng.integers(lo_hi[0], lo_hi[1] + 1))
            pts = _points_in(pl.geom, k, rng) if pl.geom.geom_type != "Point" else _points_around(pl.geom, k, rng)
            for n, p in enumerate(pts, 1):
                d = Door("place", pl.id, str(n), n, p, id=ids.next("H", 6))
                doors.append(d)
                if rng.random() < 0.35:
                    style = str(rng.choice(["号楼", "栋", "座"]))
                    area = p.buffer(45)
                    buildings += fill_buildings(area, building_numbers(style, int(rng.integers(1, 4))), rng, ids,
                                                "house_number", d.id, size=(12, 24))
        lo, hi = bldgs_of.get(pl.kind, (0, 0))
        k = int(rng.integers(lo, hi + 1))
        if k:
            style = str(rng.choice(["座", "号楼"])) if pl.kind in ("market", "square", "station") else \
                str(rng.choice(["号楼", "栋"]))
            area = pl.geom if pl.geom.geom_type != "Point" else pl.geom.buffer(80)
            buildings += fill_buildings(area, building_numbers(style, k), rng, ids, "place", pl.id)
    return doors, buildings


# -- courtyards -------------------------------------------------------------------------------
def courtyard_names(rng: np.random.Generator) -> list[tuple[str, str, list[str]]]:
    """(name, kind, aliases): every owner's 家属院, then compounds, shuffled; the two repeated names
    come first so they are sure to be used."""
    out = []
    for owner in N.COURTYARD_OWNERS:
        alias = [owner + "大院"] if rng.random() < 0.3 else []
        out.append((owner + "家属院", "courtyard", alias))
    for stem in N.COMPOUND_STEMS:
        for suffix in N.pick(rng, N.COMPOUND_SUFFIXES, 1 if rng.random() < 0.6 else 2):
            name = stem + suffix
            alias = [name + "小区"] if suffix != "小区" and rng.random() < 0.25 else []
            out.append((name, "compound", alias))
    for name in N.DUPLICATED_COURTYARDS:
        if name not in {c[0] for c in out}:
            out.append((name, "courtyard" if name.endswith("家属院") else "compound", []))
    order = rng.permutation(len(out))
    out = [out[i] for i in order]
    first = [c for c in out if c[0] in N.DUPLICATED_COURTYARDS]
    return first + [c for c in out if c[0] not in N.DUPLICATED_COURTYARDS]


def courtyards(carver: Carver, streets: list[Area], communities: list[Area], ids: Ids, rng: np.random.Generator
               ) -> tuple[list[Courtyard], list[Door], list[Building]]:
    """3-5 courtyards and compounds per community, with house numbers and buildings inside."""
    pool = courtyard_names(rng)
    dup_twice = [c for c in pool if c[0] in N.DUPLICATED_COURTYARDS]
    rest = iter([c for c in pool if c[0] not in N.DUPLICATED_COURTYARDS])
    out: list[Courtyard] = []
    dup_streets: dict[str, str] = {}
    for com in communities:
        mine = [i for i, (p, c) in enumerate(carver.parcels) if c.code == com.code and p.area > 4000]
        rng.shuffle(mine)
        want = int(rng.integers(4, 7))
        for i in mine:
            if sum(1 for c in out if c.community_code == com.code) >= want:
                break
            entry = None
            for d in dup_twice:  # each repeated name once in two different street offices
                used = [s for s in dup_streets.get(d[0], "").split(",") if s]
                if len(used) < 2 and com.parent not in used:
                    entry = d
                    break
            entry = entry or next(rest, None)
            if entry is None:
                break
            name, kind, aliases = entry
            size = (rng.uniform(60, 130), rng.uniform(50, 100)) if kind == "courtyard" else \
                (rng.uniform(110, 220), rng.uniform(90, 170))
            geom = carver.carve(i, *size, rng)
            if geom is None or geom.area < 2500:
                if entry not in dup_twice:
                    rest = iter([entry] + list(rest))
                continue
            if entry in dup_twice:
                dup_streets[name] = dup_streets.get(name, "") + "," + com.parent
            out.append(Courtyard(ids.next("C", 4), name, kind, geom, com.parent, com.code, list(aliases)))
    doors: list[Door] = []
    buildings: list[Building] = []
    for c in out:
        if rng.random() < 0.8:
            for n, p in enumerate(_points_in(c.geom, int(rng.integers(2, 9)), rng), 1):
                doors.append(Door("courtyard", c.id, str(n), n, p, id=ids.next("H", 6)))
        k = int(rng.integers(3, 11)) if c.kind == "compound" else int(rng.integers(1, 5))
        style = str(rng.choice(["号楼", "号楼", "栋", "幢"]))
        buildings += fill_buildings(c.geom, building_numbers(style, k), rng, ids, "courtyard", c.id)
    return out, doors, buildings


# -- organisations ----------------------------------------------------------------------------
def _gov_alias(county: County) -> str:
    return {"市": "市政府", "县": "县政府", "区": "区政府"}.get(county.name[-1], "政府")


def org_entries(county: County, streets: list[Area], roads: list[Road], rng: np.random.Generator) -> list[dict]:
    """What organisations the town has: name, kind, aliases, whether a campus (polygon), and
    where (a road it must stand on, or a street office it must stand in)."""
    fmt = {"c": county.name, "s": county.short, "gov": _gov_alias(county)}
    out = []

    def add(name, kind, alias="", campus=False, road=None, street=None):
        out.append({"name": name.format(**fmt), "kind": kind, "aliases": [alias.format(**fmt)] if alias else [],
                    "campus": campus, "road": road, "street": street})

    for name, alias in N.SCHOOLS:
        add(name, "school", alias, campus=True)
    for name, alias in N.HOSPITALS:
        add(name, "hospital", alias, campus=name != "{c}疾病预防控制中心")
    for name, alias in N.GOVERNMENT:
        add(name, "government", alias, campus=name in ("{c}人民政府", "{c}公安局", "{c}人民法院", "{c}体育馆"))
    for st in streets:
        add(st.name + "办事处", "government", street=st.code)
        add(st.name[:-2] + "派出所", "police", street=st.code)
    for brand in N.BANKS:
        add(brand if "{s}" in brand else brand + "{s}支行", "bank")
    big = [r for r in roads if r.kind in ("main", "secondary") and sum(1 for q in roads if q.name == r.name) == 1]
    for r in N.pick(rng, big, min(3, len(big))):
        add(N.BRANCH_BANK + r.name + "支行", "bank", road=r.id)
    for name, alias in N.COMPANIES:
        add(name, "company", alias, campus=name in ("龟兹宾馆", "{s}汽车站"))
    return out


def organisations(county: County, carver: Carver, streets: list[Area], roads: list[Road], doors: list[Door],
                  ids: Ids, rng: np.random.Generator) -> tuple[list[Org], list[Building]]:
    """Each organisation at a door of a main or secondary road (its road_id and house_number);
    campuses carved behind their door, the others a point just inside it."""
    by_id = {r.id: r for r in roads}
    free = [d for d in doors if d.present and not d.sub and d.parent_kind == "road"]
    big = [d for d in free if by_id[d.parent_id].kind in ("main", "secondary")]
    used: set[str] = set()
    out: list[Org] = []
    buildings: list[Building] = []
    for e in org_entries(county, streets, roads, rng):
        cands = big if e["road"] is None else [d for d in free if d.parent_id == e["road"]]
        if e["street"]:
            area = next(s.geom for s in streets if s.code == e["street"])
            cands = [d for d in free if area.contains(d.geom)]
        cands = [d for d in cands if d.id not in used]
        if not cands:
            continue
        geom = None
        for _ in range(8 if e["campus"] else 1):
            d = cands[int(rng.integers(len(cands)))]
            road = by_id[d.parent_id]
            p, t, nl = frame(road.geom, d.s)
            q = np.array(d.geom.coords[0])
            out_dir = (q - p) / (np.linalg.norm(q - p) or 1.0)
            if not e["campus"]:
                geom = Point(q + out_dir * 5)
                break
            w, h = rng.uniform(120, 220), rng.uniform(90, 160)
            i = carver.parcel_at(q + out_dir * (h / 2 + 8), min_area=0.3 * w * h)
            g = None if i is None else carver.carve(i, w, h, rng, centre=q + out_dir * (h / 2 + 8),
                                                       angle=math.atan2(t[1], t[0]), share=0.35)
            if g is not None:
                geom = g
                break
        if geom is None:  # no room for a campus: a point at the door
            geom = Point(q + out_dir * 5)
        used.add(d.id)
        org = Org(ids.next("O", 4), e["name"], e["kind"], geom, d.parent_id, d.number, e["aliases"])
        out.append(org)
        if geom.geom_type == "Polygon" and rng.random() < 0.8:
            style = str(rng.choice(["号楼", "号楼", "座", "栋"]))
            buildings += fill_buildings(geom, building_numbers(style, int(rng.integers(2, 6))), rng, ids,
                                        "organisation", org.id)
    return out, buildings


