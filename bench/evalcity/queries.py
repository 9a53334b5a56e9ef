"""The evaluation queries: the 18 combination models, clean and noisy, and made-up addresses.

Each line of queries.jsonl: {"model", "query", "noisy", "noise", "lon", "lat", "target": {"layer",
"id"}} (lon/lat EPSG:4490, as written in the gazetteer). Truths, per the contract's table:
1/2 the midpoint by length of the longest piece of the road inside the street office / community;
3 the house-number point, or for a number in the road's range without a point the position the
generator gave that door (target the road, "interpolated": true); 4/5/9/10/13 the building's
point on surface; 6 the storefront; 7 the place's point on surface; 8/16 the house number;
11 the road's house number inside (or within 80 m of) the place; 12 the organisation's point on
surface; 14/15 the courtyard's; 17 the unit grid's; 18 the component's.

Every query has one reading in the gazetteer: a road or courtyard name that repeats in the town
carries a street office where only one of its namesakes is; noise is applied only where it keeps
the name unique (noise.Lexicon). Made-up queries ("model": 0, "made_up": true, target and
lon/lat null) name roads, places, courtyards and organisations the town does not have, each at
least two edits from every name it has; the right answer is "not found".
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import Transformer

from urbangis.layers.geodesy import zone_srid

from . import names as N
from .gazetteer import Town
from .noise import KINDS, Draft, Lexicon, Noiser, Part
from .town import longest_piece

MIN_PIECE = 60.0  # metres of a road inside an area for a model 1/2 query


@lru_cache(maxsize=8)
def _zone(srid: int) -> tuple[Transformer, Transformer]:
    return (Transformer.from_crs(4490, srid, always_xy=True), Transformer.from_crs(srid, 4490, always_xy=True))


def _pt(geom) -> tuple[float, float]:
    """The feature's point: a point itself, else its point on surface in the Gauss-Kruger zone of
    its middle longitude, as the contract's inner point is computed (urbangis_inner_point)."""
    if geom.geom_type == "Point":
        p = geom
    else:
        minx, _, maxx, _ = geom.bounds
        fwd, inv = _zone(zone_srid((minx + maxx) / 2))
        metric = shapely.transform(geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
        q = metric.point_on_surface()
        x, y = inv.transform(q.x, q.y)
        p = shapely.Point(x, y)
    return round(p.x, 7), round(p.y, 7)


def _d(model: int, parts: list[Part], ll, layer: str, fid: str, interpolated: bool = False) -> Draft:
    """A draft whose truth is ``ll``'s point (on surface)."""
    lon, lat = _pt(ll)
    return Draft(model, parts, lon, lat, {"layer": layer, "id": fid}, interpolated)


def lexicon(t: Town) -> tuple[Lexicon, dict]:
    """Every spelling in the town; and per feature its aliases and historic names."""
    lex = Lexicon()
    other: dict[tuple[str, str], dict[str, list[str]]] = {}
    for r in t.roads:
        f = ("roads", r.id)
        for s in [r.name] + r.aliases + r.historic:
            lex.add(s, f)
        other[f] = {"aliases": r.aliases, "historic": r.historic}
    for p in t.places:
        f = ("place_names", p.id)
        for s in [p.name] + p.aliases + p.historic:
            lex.add(s, f)
        other[f] = {"aliases": p.aliases, "historic": p.historic}
    for o in t.orgs:
        f = ("organisations", o.id)
        for s in [o.name] + o.aliases:
            lex.add(s, f)
        other[f] = {"aliases": o.aliases}
    for y in t.courtyards:
        f = ("courtyards", y.id)
        for s in [y.name] + y.aliases:
            lex.add(s, f)
        other[f] = {"aliases": y.aliases}
    for a in t.streets + t.communities:
        lex.add(a.name, ("admin_areas", a.code))
    for shop in t.stores:
        lex.add(shop.name, ("store", shop.name))
    c = t.county
    for name in {c.name, c.short}:
        lex.add(name, ("admin_areas", c.code))
    for name in {c.city_name, c.city_short}:
        lex.add(name, ("admin_areas", c.city_code))
    for name in {c.province_name, c.province_short}:
        lex.add(name, ("admin_areas", c.province_code))
    return lex, other


def prefixes(t: Town) -> list[str]:
    c = t.county
    return [c.province_name + c.city_name + c.name, c.province_short + c.city_name + c.name,
            c.province_short + c.name, c.city_name + c.name, c.city_short + c.name, c.name, c.name,
            c.short, c.province_name + c.name, c.city_name, c.province_short + c.city_short + c.short]


class Candidates:
    """The clean drafts of every model, built from the town."""

    def __init__(self, t: Town) -> None:
        self.t = t
        self.road = {r.id: r for r in t.roads}
        self.street = {s.code: s for s in t.streets}
        self.comm = {c.code: c for c in t.communities}
        self.door = {d.id: d for d in t.doors if d.id}
        count: dict[str, int] = {}
        for r in t.roads:
            count[r.name] = count.get(r.name, 0) + 1
        self.dup_roads = {n for n, k in count.items() if k > 1}
        ccount: dict[str, int] = {}
        for y in t.courtyards:
            ccount[y.name] = ccount.get(y.name, 0) + 1
        self.dup_yards = {n for n, k in ccount.items() if k > 1}
        # the street offices that tell a repeated road from its namesakes
        self.road_streets: dict[str, list[str]] = {}
        for r in t.roads:
            if r.name not in self.dup_roads:
                continue
            namesakes = [q.geom for q in t.roads if q.name == r.name and q.id != r.id]
            self.road_streets[r.id] = [s.code for s in t.streets if r.geom.intersection(s.geom).length > 30
                                       and not any(g.intersects(s.geom) for g in namesakes)]

    def road_parts(self, road_id: str, at=None) -> list[Part] | None:
        """The road's name, after a street office where the name repeats in the town: one its
        namesakes do not reach, the one holding ``at`` (a door, a building) if it can be."""
        r = self.road[road_id]
        parts = []
        if r.name in self.dup_roads:
            codes = self.road_streets.get(r.id, [])
            if not codes:
                return None
            holding = [c for c in codes if at is not None and self.street[c].geom.covers(at)]
            parts.append(self._street((holding or codes)[0]))
        return parts + [Part("road", r.name, ("roads", r.id))]

    def _street(self, code: str) -> Part:
        return Part("street", self.street[code].name, ("admin_areas", code))

    def yard_parts(self, y) -> list[Part]:
        parts = []
        if y.name in self.dup_yards:
            parts.append(Part("street", self.street[y.street_code].name, ("admin_areas", y.street_code)))
        return parts + [Part("court", y.name, ("courtyards", y.id))]

    @staticmethod
    def num(number: str) -> Part:
        return Part("num", f"{number}号", number=number)

    @staticmethod
    def bldg(number: str) -> Part:
        return Part("bldg", number, number=number)

    def _inside(self, model: int, r, area, parts: list[Part]) -> Draft | None:
        piece = longest_piece(r.geom.intersection(area.geom))
        if piece is None or piece.length < MIN_PIECE:
            return None
        mid = self.t.county.to_lonlat(piece.interpolate(0.5, normalized=True))
        return Draft(model, parts + [Part("road", r.name, ("roads", r.id))], mid.x, mid.y,
                     {"layer": "roads", "id": r.id})

    def model(self, m: int) -> list[Draft]:
        return getattr(self, f"m{m}")()

    def _road_in(self, model: int, areas, parts_of) -> list[Draft]:
        """Models 1/2: each road inside each area it alone of its name crosses."""
        out = []
        for r in self.t.roads:
            for a in areas:
                if any(q.name == r.name and q.id != r.id and q.geom.intersects(a.geom) for q in self.t.roads):
                    continue
                d = self._inside(model, r, a, parts_of(a))
                if d:
                    out.append(d)
        return out

    def m1(self):
        return self._road_in(1, self.t.streets, lambda s: [Part("street", s.name, ("admin_areas", s.code))])

    def m2(self):
        def parts(c):
            s = self.street[c.parent]
            return [Part("street", s.name, ("admin_areas", s.code)), Part("community", c.name, ("admin_areas", c.code))]
        return self._road_in(2, self.t.communities, parts)

    def m3(self):
        present, missing = [], []
        for d in self.t.doors:
            if d.parent_kind != "road":
                continue
            parts = self.road_parts(d.parent_id, d.geom)
            if parts is None:
                continue
            if d.present:
                present.append(_d(3, parts + [self.num(d.number)], d.ll, "house_numbers", d.id))
            else:
                ll = self.t.county.to_lonlat(d.geom)
                missing.append(_d(3, parts + [self.num(d.number)], ll, "roads", d.parent_id, interpolated=True))
        return present, missing

    def m4(self):
        out = []
        for b in self.t.buildings:
            if b.parent_kind == "house_number" and self.door[b.parent_id].parent_kind == "road":
                d = self.door[b.parent_id]
                parts = self.road_parts(d.parent_id, b.geom.centroid)
                if parts:
                    out.append(_d(4, parts + [self.num(d.number), self.bldg(b.number)], b.ll, "buildings", b.id))
        return out

    def m5(self):
        out = []
        for b in self.t.buildings:
            if b.parent_kind == "road":
                parts = self.road_parts(b.parent_id, b.geom.centroid)
                if parts:
                    out.append(_d(5, parts + [self.bldg(b.number)], b.ll, "buildings", b.id))
        return out

    def m6(self):
        out = []
        for s in self.t.stores:
            parts = self.road_parts(s.road_id, s.geom)
            if parts:
                out.append(_d(6, parts + [Part("store", s.name, ("store", s.name))], s.ll, "storefronts", s.id))
        return out

    def _place(self, pid: str) -> Part:
        p = next(x for x in self.t.places if x.id == pid)
        return Part("place", p.name, ("place_names", p.id))

    def m7(self):
        return [_d(7, [self._place(p.id)], p.ll, "place_names", p.id) for p in self.t.places]

    def m8(self):
        return [_d(8, [self._place(d.parent_id), self.num(d.number)], d.ll, "house_numbers", d.id)
                for d in self.t.doors if d.parent_kind == "place"]

    def m9(self):
        out = []
        for b in self.t.buildings:
            if b.parent_kind == "house_number" and self.door[b.parent_id].parent_kind == "place":
                d = self.door[b.parent_id]
                parts = [self._place(d.parent_id), self.num(d.number), self.bldg(b.number)]
                out.append(_d(9, parts, b.ll, "buildings", b.id))
        return out

    def m10(self):
        return [_d(10, [self._place(b.parent_id), self.bldg(b.number)], b.ll, "buildings", b.id)
                for b in self.t.buildings if b.parent_kind == "place"]

    def m11(self):
        """Road doors inside a place (or within 80 m of a point place), round-robin over places."""
        doors = [d for d in self.t.doors if d.parent_kind == "road" and d.present and not d.sub
                 and self.road[d.parent_id].name not in self.dup_roads]
        tree = shapely.STRtree([d.geom for d in doors])
        per_place = []
        for p in self.t.places:
            area = p.geom if p.geom.geom_type != "Point" else p.geom.buffer(80)
            hits = tree.query(area, predicate="covers")
            mine = []
            for d in (doors[int(i)] for i in hits):
                road = Part("road", self.road[d.parent_id].name, ("roads", d.parent_id))
                mine.append(_d(11, [self._place(p.id), road, self.num(d.number)], d.ll, "house_numbers", d.id))
            per_place.append(mine)
        out = []
        while any(per_place):
            for lst in per_place:
                if lst:
                    out.append(lst.pop(0))
        return out

    def m12(self):
        return [_d(12, [Part("org", o.name, ("organisations", o.id))], o.ll, "organisations", o.id)
                for o in self.t.orgs]

    def m13(self):
        org = {o.id: o for o in self.t.orgs}
        return [_d(13, [Part("org", org[b.parent_id].name, ("organisations", b.parent_id)), self.bldg(b.number)],
                   b.ll, "buildings", b.id) for b in self.t.buildings if b.parent_kind == "organisation"]

    def m14(self):
        return [_d(14, [self._street(y.street_code), Part("court", y.name, ("courtyards", y.id))], y.ll, "courtyards",
                   y.id) for y in self.t.courtyards]

    def m15(self):
        return [_d(15, [self._street(y.street_code),
                        Part("community", self.comm[y.community_code].name, ("admin_areas", y.community_code)),
                        Part("court", y.name, ("courtyards", y.id))], y.ll, "courtyards", y.id)
                for y in self.t.courtyards]

    def m16(self):
        yard = {y.id: y for y in self.t.courtyards}
        return [_d(16, self.yard_parts(yard[d.parent_id]) + [self.num(d.number)], d.ll, "house_numbers", d.id)
                for d in self.t.doors if d.parent_kind == "courtyard"]

    def m17(self):
        return [_d(17, [Part("code", g.code, number=g.code)], g.ll, "unit_grids", g.code) for g in self.t.unit_grids]

    def m18(self):
        return [_d(18, [Part("code", k.code, number=k.code)], k.ll, "components", k.code) for k in self.t.components]


def _copy(d: Draft) -> Draft:
    return Draft(d.model, [Part(p.role, p.text, p.feature, p.changed, p.number) for p in d.parts], d.lon, d.lat,
                 dict(d.target), d.interpolated)


def _row(d: Draft, noisy: bool) -> dict:
    row = {"model": d.model, "query": d.text(), "noisy": noisy, "noise": list(d.noise), "lon": d.lon, "lat": d.lat,
           "target": d.target}
    if d.interpolated:
        row["interpolated"] = True
    return row


def _spread(drafts: list[Draft], rng: np.random.Generator) -> list[Draft]:
    """Shuffled, so that a first slice covers the town."""
    return [drafts[int(i)] for i in rng.permutation(len(drafts))]


def make_queries(t: Town, per_model: int, rng: np.random.Generator) -> list[dict]:
    """``per_model`` clean and as many noisy queries per model, then the made-up ones."""
    lex, other = lexicon(t)
    c = t.county
    noiser = Noiser(lex, prefixes(t), other, (c.name, c.short), rng)
    cands = Candidates(t)
    used = {k: 0 for k in KINDS}
    rows: list[dict] = []
    for m in range(1, 19):
        if m == 3:
            present, missing = cands.m3()
            k_missing = round(per_model * 0.3)
            pool = _spread(present, rng)[: per_model - k_missing] + _spread(missing, rng)[:k_missing]
            pool = _spread(pool, rng)
        elif m == 11:
            pool = cands.m11()  # round-robin over places already
        else:
            pool = _spread(cands.model(m), rng)
        if not pool:
            continue
        clean = [pool[i % len(pool)] for i in range(per_model)]
        rows += [_row(d, False) for d in clean]
        rows += [_row(d, True) for d in _noisy(pool, per_model, noiser, used, rng)]
    rows += made_up(t, lex, rng)
    return rows


def _noisy(pool: list[Draft], n: int, noiser: Noiser, used: dict[str, int], rng: np.random.Generator) -> list[Draft]:
    """``n`` noisy drafts: 1-3 noise kinds each, the least used applicable kinds first."""
    out: list[Draft] = []
    order = _spread(pool, rng)
    i = 0
    while len(out) < n and i < len(order) * 10 + 100:
        d = _copy(order[i % len(order)])
        i += 1
        want = 1 + int(rng.random() < 0.45) + int(rng.random() < 0.12)
        joins = False  # punct is chosen in turn but applied last (it sets the joins of all parts)
        kinds = sorted(KINDS, key=lambda k: (used[k] + rng.random() * 3))
        for k in kinds:
            if len(d.noise) + joins >= want:
                break
            if k == "punct":
                joins = True
            else:
                noiser.apply(k, d)
        if joins and not noiser.apply("punct", d):  # a one-part query: another kind instead
            for k in kinds:
                if len(d.noise) >= want:
                    break
                if k != "punct" and k not in d.noise:
                    noiser.apply(k, d)
        if not d.noise:
            continue
        for k in d.noise:
            used[k] += 1
        out.append(d)
    return out


def made_up(t: Town, lex: Lexicon, rng: np.random.Generator, at_least: int = 110) -> list[dict]:
    """Addresses naming things the town does not have."""
    c = t.county
    fmt = {"c": c.name, "s": c.short}
    roads = [r for r in N.FAKE_ROADS if lex.far_from_all(r)]
    places = [p for p in N.FAKE_PLACES if lex.far_from_all(p)]
    yards = [y for y in N.FAKE_COURTYARDS if lex.far_from_all(y)]
    orgs = [o.format(**fmt) for o in N.FAKE_ORGS]
    branch_roads = {o.name for o in t.orgs if o.name.startswith(N.BRANCH_BANK)}
    big = sorted({r.name for r in t.roads if r.kind in ("main", "secondary")})
    orgs += [N.BRANCH_BANK + name + "支行" for name in N.pick(rng, big, min(len(big), 6))
             if N.BRANCH_BANK + name + "支行" not in branch_roads][: N.FAKE_BRANCH_ROADS]
    orgs = [o for o in orgs if o not in lex.owners and lex.far_from_all(o)]
    texts: list[tuple[str, str]] = []  # (kind of thing, text)
    for r in roads:
        texts.append(("road", f"{r}{rng.integers(1, 120)}号"))
        if rng.random() < 0.4:
            texts.append(("road", f"{r}{rng.integers(1, 80)}号{rng.integers(1, 9)}号楼"))
    for p in places:
        texts.append(("place", p))
        texts.append(("place", f"{p}{rng.integers(1, 30)}号"))
    for y in yards:
        texts.append(("courtyard", f"{y}{rng.integers(1, 12)}号楼"))
        if rng.random() < 0.5:
            texts.append(("courtyard", f"{y}{rng.integers(1, 9)}号"))
    for o in orgs:
        texts.append(("organisation", o))
    k = 0
    while len(texts) < at_least and roads:
        texts.append(("road", f"{roads[k % len(roads)]}{rng.integers(120, 300)}号"))
        k += 1
    pre = [c.name, c.city_name + c.name, c.province_short + c.name, c.short]
    out = []
    for kind, text in texts:
        noise = []
        if rng.random() < 0.3 and not text.startswith((c.name, c.short)):
            text = pre[int(rng.integers(len(pre)))] + text
            noise = ["prefix"]
        out.append({"model": 0, "query": text, "noisy": bool(noise), "noise": noise, "lon": None, "lat": None,
                    "target": None, "made_up": True, "fake": kind})
    return out
