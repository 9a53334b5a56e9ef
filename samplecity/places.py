"""Place names (current, alias, historic), organisations (单位) and storefronts (沿街铺面)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from .addresses import Building, House, RoadAddresses, _points_in, building_labels
from .density import density
from .geo import lonlat_to_xy
from .names import (
    _PLACE_KINDS,
    _PLACE_WORDS,
    COMPANY_TRADES,
    COMPANY_WORDS,
    HOSPITALS,
    REAL_PLACES,
    SHOP_BRANDS,
    SHOP_KINDS,
    cn_ordinal,
)
from .rand import rng
from .roads import Road

_RADIUS = {"area": 450, "market": 110, "square": 90, "park": 220, "lake": 450, "mountain": 550}


@dataclass
class Place:
    id: str
    name: str
    kind: str
    district_code: str
    geom: BaseGeometry  # point or polygon, metres
    aliases: list[str] = field(default_factory=list)
    historic_names: list[str] = field(default_factory=list)
    houses: list[House] = field(default_factory=list)
    buildings: list[Building] = field(default_factory=list)


@dataclass
class Organisation:
    id: str
    name: str
    kind: str
    road_id: str
    house_number: str
    geom: BaseGeometry  # point or polygon, metres
    aliases: list[str] = field(default_factory=list)
    buildings: list[Building] = field(default_factory=list)


def _blob(x: float, y: float, radius: float, r: np.random.Generator):
    ang = np.linspace(0, 2 * np.pi, 13)[:-1]
    rad = radius * r.uniform(0.75, 1.2, len(ang))
    return shapely.Polygon(np.column_stack([x + rad * np.cos(ang), y + rad * np.sin(ang)]))


class _PlaceList:
    """The places made so far, each name used once, each place inside a district."""

    def __init__(self, sk, r: np.random.Generator, taken_names: set[str]) -> None:
        self.r = r
        self.inner = {d.code: d.geom.buffer(-5) for d in sk.districts}
        self.places: list[Place] = []
        self.used = set(taken_names)

    def add(self, name, kind, x, y, aliases="", historic="", polygon=True) -> Place | None:
        """A place at (x, y), an outline for the kinds that have one; None outside every district or
        when the name is taken."""
        district = next((d for d, g in self.inner.items() if g.contains(Point(x, y))), None)
        if district is None or name in self.used:
            return None
        geom = Point(x, y)
        if polygon and kind in _RADIUS:
            geom = _blob(x, y, _RADIUS[kind], self.r).intersection(self.inner[district])
            geom = geom if geom.geom_type == "Polygon" else Point(x, y)
        self.used.add(name)
        p = Place(f"P{len(self.places) + 1:05d}", name, kind, district, geom,
                  [a for a in aliases.split("|") if a], [h for h in historic.split("|") if h])
        self.places.append(p)
        return p


def _villages(sk, places: _PlaceList) -> None:
    """A village for each rural community named after one (XX村委会, XX村民委员会)."""
    for c in sk.communities():
        if c.urban:
            continue
        base = c.name.replace("村民委员会", "").replace("村委会", "")
        if not base.endswith("村") and c.name.endswith("村委会"):
            base += "村"
        if base.endswith("村"):
            p = c.geom.representative_point()
            places.add(base, "village", p.x, p.y, polygon=False)


def _generated_places(sk, places: _PlaceList, r: np.random.Generator) -> None:
    """Markets, squares, parks and bridges in urban communities, more where the city is denser."""
    urban = [c for c in sk.communities() if c.urban]
    w = np.array([density(*shapely.get_coordinates(c.geom.centroid)[0]) for c in urban]) ** 2
    w /= w.sum()
    for _ in range(260):
        c = urban[r.choice(len(urban), p=w)]
        suffix, kind = _PLACE_KINDS[r.integers(len(_PLACE_KINDS))]
        name = str(r.choice(_PLACE_WORDS)) + suffix
        p = c.geom.representative_point()
        x0, y0, x1, y1 = c.geom.bounds
        q = Point(r.uniform(x0, x1), r.uniform(y0, y1))
        if c.geom.contains(q):
            p = q
        places.add(name, kind, p.x, p.y, polygon=kind != "bridge")


def _place_addresses(p: Place, seed: int) -> None:
    """A market's, area's, square's or park's own numbered stalls and blocks, some with buildings."""
    pr = rng(seed, "place-addresses", p.id)
    if p.kind not in ("market", "area", "square", "park") or p.geom.geom_type != "Polygon":
        return
    pts = _points_in(p.geom.buffer(-10), int(pr.integers(3, 13)), pr)
    for i, (x, y) in enumerate(pts, start=1):
        h = House(f"H{p.id}{i:03d}", "place", p.id, str(i), x, y, i)
        p.houses.append(h)
        if pr.random() < 0.35:
            for k, label in enumerate(building_labels(pr, int(pr.integers(1, 4)))):
                p.buildings.append(Building(f"B{h.id[1:]}{k:02d}", "house_number", h.id, label,
                                            x + 12 * (k + 1), y - 8 * k))
    if pr.random() < 0.6:
        labels = [f"{chr(ord('A') + i)}座" for i in range(int(pr.integers(2, 5)))]
        for k, (x, y) in enumerate(_points_in(p.geom.buffer(-20), len(labels), pr)):
            p.buildings.append(Building(f"B{p.id}P{k:02d}", "place", p.id, labels[k], x, y))


def build_places(sk, seed: int, taken_names: set[str]) -> list[Place]:
    """Real places at their approximate positions, villages from the real rural communities,
    and generated markets, squares, parks and bridges in the urban communities."""
    r = rng(seed, "places")
    places = _PlaceList(sk, r, taken_names)
    for name, _district, kind, aliases, historic, (lon, lat) in REAL_PLACES:
        x, y = lonlat_to_xy(lon, lat)
        places.add(name, kind, float(x), float(y), aliases, historic)
    _villages(sk, places)
    _generated_places(sk, places, r)
    # markets, areas and squares number their own stalls and blocks; some carry buildings
    for p in places.places:
        _place_addresses(p, seed)
    return places.places


def _org_names(sk, r: np.random.Generator) -> list[tuple[str, str, str]]:
    """(name, kind, aliases) for schools, hospitals, government offices and companies."""
    out = []
    for n in range(1, 100):
        out.append((f"乌鲁木齐市第{cn_ordinal(n)}中学", "school", f"乌市{cn_ordinal(n)}中|{n}中"))
    for n in range(1, 100):
        out.append((f"乌鲁木齐市第{cn_ordinal(n)}小学", "school", f"乌市{cn_ordinal(n)}小"))
    out += [(name, "hospital", aliases) for name, aliases in HOSPITALS]
    for d in sk.districts:
        out.append((f"乌鲁木齐市{d.name}人民政府", "government", f"{d.name}政府"))
        for s in d.children:
            if s.name.endswith("街道"):
                out.append((f"{s.name}办事处", "government", f"{s.name[:-2]}街办"))
    used = set()
    while len([o for o in out if o[1] == "company"]) < 160:
        word, trade = str(r.choice(COMPANY_WORDS)), str(r.choice(COMPANY_TRADES))
        name = f"新疆{word}{trade}有限公司"
        if name in used:
            continue
        used.add(name)
        out.append((name, "company", f"{word}{trade}"))
    return out


def build_organisations(sk, roads: list[Road], addrs, seed: int) -> list[Organisation]:
    """Organisations at real house numbers of main and secondary roads in the urban area.

    ``addrs(i)`` returns the RoadAddresses of roads[i]."""
    r = rng(seed, "organisations")
    cands = [i for i, rd in enumerate(roads) if rd.kind in ("main", "secondary")]
    mids = shapely.get_coordinates(shapely.line_interpolate_point([roads[i].geom for i in cands], 0.5, normalized=True))
    w = density(mids[:, 0], mids[:, 1]) ** 2
    w /= w.sum()
    orgs: list[Organisation] = []
    taken: set[str] = set()
    for name, kind, aliases in _org_names(sk, r):
        for _try in range(20):
            i = cands[r.choice(len(cands), p=w)]
            bases = [h for h in addrs(i).houses if h.number.isdigit() and h.id not in taken]
            if bases:
                break
        else:
            continue
        h = bases[r.integers(len(bases))]
        taken.add(h.id)
        road = roads[i]
        oid = f"O{len(orgs) + 1:05d}"
        # campuses are polygons behind the gate; offices are points
        if kind in ("school", "hospital"):
            size = r.uniform(80, 160)
            geom = shapely.box(h.x - size / 2, h.y - size / 2, h.x + size / 2, h.y + size / 2)
        else:
            geom = Point(h.x, h.y)
        org = Organisation(oid, name, kind, road.id, h.number, geom, [a for a in aliases.split("|") if a])
        labels = building_labels(r, int(r.integers(2, 6)))
        for k, label in enumerate(labels):
            org.buildings.append(Building(f"B{oid}{k:02d}", "organisation", oid, label,
                                          h.x + r.uniform(-40, 40), h.y + r.uniform(-40, 40)))
        orgs.append(org)
    return orgs


@dataclass
class Storefront:
    id: str
    name: str
    road_id: str
    house_number: str
    category: str
    x: float
    y: float


def road_storefronts(road: Road, ra: RoadAddresses, seed: int, scale: float) -> list[Storefront]:
    """Shops on the ground floor of some houses along busy roads; names unique on the road."""
    if road.kind == "lane":
        return []
    r = rng(seed, "storefronts", road.id)
    mx, my = road.geom.interpolate(0.5, normalized=True).coords[0]
    rate = min(0.9, 0.25 * float(density(mx, my)) * math.sqrt(scale))
    out: list[Storefront] = []
    names: set[str] = set()
    for h in ra.houses:
        if not h.number.isdigit() or r.random() > rate:
            continue
        for _try in range(5):
            kind, category = SHOP_KINDS[r.integers(len(SHOP_KINDS))]
            name = str(r.choice(SHOP_BRANDS)) + kind
            if name not in names:
                break
        else:
            continue
        names.add(name)
        out.append(Storefront(f"F{h.id[1:]}", name, road.id, h.number, category, h.x, h.y))
    return out
