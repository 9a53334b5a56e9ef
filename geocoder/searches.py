"""Stage 5, searches: one function per kind of search; the model table names which one runs.

Each search gets the index, the reading of the query (:class:`geocoder.assign.Assignment`) and
the model, and returns :class:`geocoder.rank.Candidate` s with their base scores. A search only
looks things up in memory: dicts keyed by parent and number, code tables, shapely geometry.
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

import shapely

from .assign import Assignment
from .index import Feature, Index, Road, each
from .interpolate import known_sides, locate
from .query import LEVEL_BASE, SEARCH_NAMES, Candidate, Model

_LEAD = re.compile(r"^[0-9]+")
NOT_FOUND_PARENT = 0.7  # a building or number that is not there: the parent answers, lower
ROLE_CODE = {"road": "r", "place": "p", "courtyard": "c", "org": "o"}
SearchFn = Callable[[Index, Assignment, Model], list[Candidate]]


def _table(ix: Index, role: str) -> Sequence[Road | Feature]:
    tables: dict[str, Sequence[Road | Feature]] = {
        "road": ix.roads, "place": ix.places, "courtyard": ix.courtyards, "org": ix.orgs,
        "storefront": ix.storefronts}
    return tables[role]


def _hint(ix: Index, role: str, feature) -> str | None:
    if role == "courtyard":
        return feature.community or feature.street
    if role in ("road", "place"):
        return feature.district
    if role == "storefront" and feature.road is not None:
        return ix.roads[feature.road].district
    return None


def _house_label(number: str) -> str:
    return number if number.endswith("号") else number + "号"


def _find_house(ix: Index, kind: str, pidx: int, key: str | None) -> tuple[tuple[int, ...], float]:
    """Positions of house number ``key`` under one parent, and the penalty of how it was found
    (none without a number: a model from a city's file may relax the house number)."""
    table = ix.houses.by_parent.get((kind, pidx))
    if not table or key is None:
        return (), 1.0
    found = each(table.get(key))
    if found:
        return found, 1.0
    m = _LEAD.match(key)
    if m and m.group(0) != key:  # 12-1 not there, 12 is: the main number answers
        found = each(table.get(m.group(0)))
        if found:
            return found, 0.8
    return (), 1.0


def _parent_role(model: Model) -> str:
    for role in ("road", "place", "courtyard", "org"):
        if role in model.parts:
            return role
    raise ValueError(f"model {model.number} has no parent part")


# -- searches ---------------------------------------------------------------------------------
def _exact_houses(ix: Index, a: Assignment, model: Model) -> list[tuple[int, float, str, Road | Feature]]:
    """House numbers ``a.house`` under the model's parent part: (house idx, penalty, role, parent)."""
    role = _parent_role(model)
    code, table = ROLE_CODE[role], _table(ix, role)
    out = []
    for pidx, pen in a.named.get(role, ()):
        found, p2 = _find_house(ix, code, pidx, a.house)
        for i in found:
            out.append((i, pen * p2, role, table[pidx]))
    return out


def search_house(ix: Index, a: Assignment, model: Model) -> list[Candidate]:
    """Road / place / courtyard + house no.: the house-number point; on a road without that
    number, the number interpolated by the road's address ranges."""
    exact = _exact_houses(ix, a, model)
    out = [
        Candidate(float(ix.houses.xs[i]), float(ix.houses.ys[i]), model.number, "exact", pen, "house_numbers",
                  ix.houses.ids[i], f.name + _house_label(ix.houses.numbers[i]), _hint(ix, role, f))
        for i, pen, role, f in exact
    ]
    house = a.house or ""
    m = _LEAD.match(house)
    if _parent_role(model) != "road" or not m:
        return out
    # a road (same name and district) that has the number answers with it; the others
    # interpolate, so that an admin prefix can still choose the right road
    done = {(f.name, f.district) for _, _, _, f in exact}
    n = int(m.group(0))
    for pidx, pen in a.named["road"]:
        road = ix.roads[pidx]
        if (road.name, road.district) in done:
            continue
        hit = locate(road, n, ix.side_offset, known_sides(ix, pidx))
        if hit is not None:
            out.append(Candidate(hit[0], hit[1], model.number, "interpolated", LEVEL_BASE["interpolated"] * pen,
                                 "roads", road.id, road.name + _house_label(house), road.district))
    return out


def search_building(ix: Index, a: Assignment, model: Model) -> list[Candidate]:
    """(Road / place / courtyard + house no. | road | place | organisation) + building no."""
    parents: list[tuple[str, int, float, str, str | None]] = []
    if "house" in model.parts:
        for i, pen, role, f in _exact_houses(ix, a, model):
            parents.append(("h", i, pen, f.name + _house_label(ix.houses.numbers[i]), _hint(ix, role, f)))
    else:
        role = _parent_role(model)
        table = _table(ix, role)
        for pidx, pen in a.named.get(role, ()):
            f = table[pidx]
            parents.append((ROLE_CODE[role], pidx, pen, f.name, _hint(ix, role, f)))
    out: list[Candidate] = []
    building = a.building
    for kind, pidx, pen, label, hint in parents:
        numbers = ix.buildings.by_parent.get((kind, pidx))
        for i in each(numbers.get(building)) if numbers and building is not None else ():
            out.append(Candidate(float(ix.buildings.xs[i]), float(ix.buildings.ys[i]), model.number, "exact", pen,
                                 "buildings", ix.buildings.ids[i], label + ix.buildings.numbers[i], hint))
    return out


def search_storefront(ix: Index, a: Assignment, model: Model) -> list[Candidate]:
    """Road + storefront name: the storefront on that road (anywhere, lower, if not on it)."""
    roads = {i for i, _ in a.named.get("road", ())}
    road_names = {ix.roads[i].name for i in roads}
    out = []
    for sidx, pen in a.named.get("storefront", ()):
        s = ix.storefronts[sidx]
        on_road = s.road is not None and (s.road in roads or ix.roads[s.road].name in road_names)
        factor = 1.0 if on_road or not roads else NOT_FOUND_PARENT
        label = s.name
        if s.road is not None:
            label = ix.roads[s.road].name + (_house_label(s.house_number) if s.house_number else "") + label
        out.append(Candidate(s.x, s.y, model.number, "exact", pen * factor, "storefronts", s.id, label,
                             _hint(ix, "storefront", s)))
    return out


def search_feature(ix: Index, a: Assignment, model: Model) -> list[Candidate]:
    """A named feature by itself: place (incl. alias, historic name), organisation, courtyard."""
    out = []
    layer = {"place": "place_names", "org": "organisations", "courtyard": "courtyards", "storefront": "storefronts"}
    for role in ("place", "org", "courtyard", "storefront"):
        if role not in model.parts:
            continue
        for idx, pen in a.named.get(role, ()):
            f = _table(ix, role)[idx]
            out.append(Candidate(f.x, f.y, model.number, "exact", pen, layer[role], f.id, f.name, _hint(ix, role, f)))
    return out


def search_place_road_house(ix: Index, a: Assignment, model: Model) -> list[Candidate]:
    """Place + road + house no.: that number on that road, nearest to (or inside) the place."""
    out = []
    key = a.house
    places = [(ix.places[i], pen) for i, pen in a.named.get("place", ())]
    for ridx, rpen in a.named.get("road", ()):
        found, p2 = _find_house(ix, "r", ridx, key)
        for i, place, ppen in ((i, p, pp) for i in found for p, pp in places):
            x, y = float(ix.houses.xs[i]), float(ix.houses.ys[i])
            inside = place.geom is not None and shapely.contains_xy(place.geom, x, y)
            d = 0.0 if inside else ((x - place.x) ** 2 + (y - place.y) ** 2) ** 0.5
            near = max(0.5, 1.0 - d / 5000)  # nearer the place, better; never below half
            road = ix.roads[ridx]
            out.append(Candidate(x, y, model.number, "exact", rpen * ppen * p2 * near, "house_numbers",
                                 ix.houses.ids[i], place.name + road.name + _house_label(ix.houses.numbers[i]),
                                 road.district))
    if out:
        return out
    for pidx, ppen in a.named.get("place", ()):  # no such number on the road: the place's own
        found, p2 = _find_house(ix, "p", pidx, key)
        for i in found:
            place = ix.places[pidx]
            out.append(Candidate(float(ix.houses.xs[i]), float(ix.houses.ys[i]), model.number, "exact",
                                 ppen * p2 * 0.95, "house_numbers", ix.houses.ids[i],
                                 place.name + _house_label(ix.houses.numbers[i]), place.district))
    return out


def _road_point(ix: Index, idxs: list[int], area_geom) -> tuple[float, float] | None:
    key = (tuple(idxs), id(area_geom))
    hit = ix.cache.get(key)
    if hit is not None or key in ix.cache:
        return hit
    geom = shapely.union_all([ix.roads[i].geom for i in idxs]) if len(idxs) > 1 else ix.roads[idxs[0]].geom
    if area_geom is not None:
        geom = shapely.intersection(geom, area_geom)
    point = None
    if not geom.is_empty:
        lines = shapely.line_merge(geom) if geom.geom_type != "LineString" else geom
        parts = list(getattr(lines, "geoms", [lines]))
        parts = [g for g in parts if g.geom_type == "LineString"]
        if parts:
            best = max(parts, key=lambda g: g.length)
            p = best.interpolate(0.5, normalized=True)
            point = (p.x, p.y)
    if len(ix.cache) > 100_000:
        ix.cache.clear()
    ix.cache[key] = point
    return point


def search_road_in_area(ix: Index, a: Assignment, model: Model) -> list[Candidate]:
    """(Street office (+ community)) + road: a point on the part of the road inside that area."""
    level = "community" if "community" in model.parts and "community" in a.admin else (
        "street" if "street" in a.admin else None)
    areas = [ix.admin[i] for i, _ in a.admin.get(level, ())] if level else []
    groups: dict[tuple[str, str | None], list[tuple[int, float]]] = {}
    for ridx, pen in a.named.get("road", ()):
        r = ix.roads[ridx]
        groups.setdefault((r.name, r.district), []).append((ridx, pen))
    relaxed = 1.0 if level and (level == "street" or "street" in a.admin or "street" in model.relax) else 0.95
    if level is None:
        relaxed = 0.9
    out = []
    for (name, district), members in groups.items():
        idxs = [i for i, _ in members]
        pen = max(p for _, p in members)
        placed = False
        for area in areas:
            if area.geom is None:
                continue
            pt = _road_point(ix, idxs, area.geom)
            if pt is not None:
                out.append(Candidate(pt[0], pt[1], model.number, "road", LEVEL_BASE["road"] / 0.7 * pen * relaxed,
                                     "roads", ix.roads[idxs[0]].id, name, area.code))
                placed = True
        if not placed:
            pt = _road_point(ix, idxs, None)
            if pt is not None:
                hint = areas[0].code if areas and district and areas[0].code.startswith(district) else district
                out.append(Candidate(pt[0], pt[1], model.number, "road", pen * relaxed * (0.9 if areas else 1.0),
                                     "roads", ix.roads[idxs[0]].id, name, hint))
    return out


def search_grid(ix: Index, a: Assignment, model: Model) -> list[Candidate]:
    """Unit grid code (15 digits, or the legacy 14 of CJ/T 213): the grid's inner point."""
    code = a.code or ""
    tries = [code]
    if len(code) == 14:
        tries.append(code[:12] + "0" + code[12:])
    elif len(code) == 15 and code[12] == "0":
        tries.append(code[:12] + code[13:])
    for c in tries:
        i = ix.grids.by_code.get(c)
        if i is not None:
            cand = Candidate(float(ix.grids.xs[i]), float(ix.grids.ys[i]), model.number, "grid",
                             1.0 if c == code else 0.95, "unit_grids", c, f"单元网格{c}", ix.grids.extra[i])
            return [cand]
    return []


def search_component(ix: Index, a: Assignment, model: Model) -> list[Candidate]:
    """City component code (16 digits): the component's point."""
    i = ix.components.by_code.get(a.code or "")
    if i is None:
        return []
    name = ix.components.names[i] or ""
    code = ix.components.codes[i]
    return [Candidate(float(ix.components.xs[i]), float(ix.components.ys[i]), model.number, "exact", 1.0,
                      "components", code, f"{name}({code})", code[:6])]


SEARCHES: dict[str, SearchFn] = {
    "house": search_house,
    "building": search_building,
    "storefront": search_storefront,
    "feature": search_feature,
    "place_road_house": search_place_road_house,
    "road_in_area": search_road_in_area,
    "grid": search_grid,
    "component": search_component,
}
if set(SEARCHES) != SEARCH_NAMES:  # the model table is checked against SEARCH_NAMES without importing this module
    raise RuntimeError("geocoder.query.SEARCH_NAMES must name exactly the searches of geocoder.searches")
