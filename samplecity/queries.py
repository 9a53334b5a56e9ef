"""The geocoder's evaluation set: address queries for the 18 combination models with their truth.

Each line of the JSON Lines file: {"model", "query", "noisy", "noise", "lon", "lat", "target":
{"layer", "id"}}; lon/lat in EPSG:4490. Truths: models 1/2 the midpoint (by length) of the longest
piece of the road inside the street office / community; 3 the house-number point, or for a number
without a point the road's interpolation rule (samplecity.roads.interpolate, target the road);
4/5/9/10/13 the building; 6 the storefront; 7 the place's point on surface; 8/16 the house number;
11 the road's house number inside the place; 12 the organisation's point on surface; 14/15 the
courtyard's point on surface; 17 the unit grid's point on surface; 18 the component's point on
surface. Every query has exactly one reading in the gazetteer (samplecity.readings): road names
repeated in another district carry the district; a noisy draft that would have two readings is set
aside and its noise goes to the next query it fits.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Point

from .city import City
from .components import generate_components
from .geo import xy_to_lonlat
from .names import cn_number
from .rand import rng
from .readings import NameIndex, ambiguity, feature_of, scope_of
from .roads import interpolate

NOISES = ["fullwidth", "cn_numerals", "missing_suffix", "alias", "historic", "prefix", "typo", "punct"]
_FULL = str.maketrans("0123456789ABCDEFGH", "０１２３４５６７８９ＡＢＣＤＥＦＧＨ")
_TYPO = "东西南北中新华民建和平光明人团结胜利友好幸福红旗青年文化长安永兴"


class _Seg:
    """One piece of a query: its kind (street, road, num, ...), text and what it names; ``clean``
    is the text as the gazetteer writes it, ``how`` the noise that changed a name (or None)."""

    def __init__(self, kind: str, text: str, obj=None, clean: str | None = None, how: str | None = None):
        self.kind, self.text, self.obj = kind, text, obj
        self.clean = text if clean is None else clean
        self.how = how


def _midpoint_inside(line, area):
    piece = line.intersection(area)
    parts = [p for p in shapely.get_parts(shapely.line_merge(piece) if piece.geom_type == "MultiLineString" else piece)
             if p.geom_type == "LineString"]
    if not parts:
        return None
    best = max(parts, key=lambda p: p.length)
    return best.interpolate(0.5, normalized=True), best.length


class _Builder:
    def __init__(self, city: City):
        self.city = city
        sk = city.skeleton
        self.districts = {d.code: d for d in sk.districts}
        self.district_name = {d.code: d.name for d in sk.districts}
        self.streets = {s.code: s for s in sk.streets()}
        self.comms = {c.code: c for c in sk.communities()}
        count = Counter(rd.name for rd in city.roads)
        self.dup_roads = {n for n, k in count.items() if k > 1}
        self.road_index = {rd.id: i for i, rd in enumerate(city.roads)}
        # every spelling of every named feature: what decides whether a query has one reading
        self.ix = NameIndex(city)

    def road_segs(self, rd) -> list[_Seg]:
        segs = []
        if rd.name in self.dup_roads:
            segs.append(_Seg("district", self.district_name[rd.district_code], self.districts[rd.district_code]))
        segs.append(_Seg("road", rd.name, rd))
        return segs

    def other_names(self, obj, attr: str, district: str) -> list[str]:
        """The aliases (or historic names) of ``obj`` that name it alone in its district."""
        target = feature_of(obj)
        return [a for a in getattr(obj, attr, None) or [] if self.ix.spelt(a, district) == {target}]


def _row(model, segs, xy, layer, ident, district):
    return {"model": model, "segs": segs, "xy": (float(xy[0]), float(xy[1])), "target": {"layer": layer, "id": ident},
            "district": district}


def _candidates(b: _Builder, r: np.random.Generator) -> dict[int, list[dict]]:
    """Candidate rows for each of the 18 models; the draws from ``r`` come in this order."""
    c: dict[int, list[dict]] = {m: [] for m in range(1, 19)}
    tree = shapely.STRtree([rd.geom for rd in b.city.roads])
    _street_roads(b, tree, c)
    _road_numbers(b, r, c)
    _road_buildings(b, c)
    _road_storefronts(b, r, c)
    _places(b, tree, c)
    _organisations(b, c)
    _courtyards(b, c)
    _codes(b, r, c)
    return c


def _street_roads(b: _Builder, tree: shapely.STRtree, c: dict[int, list[dict]]) -> None:
    """Models 1, 2: street office (+ community) + road, at the road's longest piece inside."""
    roads = b.city.roads
    for s in sorted(b.streets.values(), key=lambda s: s.code):
        for i in tree.query(s.geom, predicate="intersects")[:6]:
            rd = roads[int(i)]
            got = _midpoint_inside(rd.geom, s.geom)
            if got and got[1] >= 80:
                c[1].append(_row(1, [_Seg("street", s.name, s)] + b.road_segs(rd), got[0].coords[0], "roads", rd.id,
                                 s.code[:6]))
    for cm in sorted(b.comms.values(), key=lambda x: x.code):
        if not cm.urban or cm.parent_code is None:  # (a community always has its street office)
            continue
        for i in tree.query(cm.geom, predicate="intersects")[:2]:
            rd = roads[int(i)]
            got = _midpoint_inside(rd.geom, cm.geom)
            if got and got[1] >= 80:
                st = b.streets[cm.parent_code]
                c[2].append(_row(2, [_Seg("street", st.name, st), _Seg("community", cm.name, cm)] + b.road_segs(rd),
                                 got[0].coords[0], "roads", rd.id, cm.code[:6]))


def _road_numbers(b: _Builder, r: np.random.Generator, c: dict[int, list[dict]]) -> None:
    """Models 3, 4 on a sample of roads: road + number (a house number's point, or a number without
    one interpolated on the road), road + number + building."""
    city, roads = b.city, b.city.roads
    for i in r.permutation(len(roads))[:1500]:
        rd = roads[int(i)]
        ra = city.addresses(int(i))
        for h in ra.houses[:: max(1, len(ra.houses) // 3)][:3]:
            c[3].append(_row(3, b.road_segs(rd) + [_Seg("num", h.number), _Seg("hao", "号")], (h.x, h.y),
                             "house_numbers", h.id, rd.district_code))
        for n in ra.gaps[:1]:
            xy = interpolate(rd, n)
            c[3].append(_row(3, b.road_segs(rd) + [_Seg("num", str(n)), _Seg("hao", "号")], xy, "roads", rd.id,
                             rd.district_code))
        houses = {h.id: h for h in ra.houses}
        for bl in [bl for bl in ra.buildings if bl.parent_kind == "house_number"][:2]:
            h = houses[bl.parent_id]
            c[4].append(_row(4, b.road_segs(rd) + [_Seg("num", h.number), _Seg("hao", "号"), _Seg("bldg", bl.number)],
                             (bl.x, bl.y), "buildings", bl.id, rd.district_code))


def _road_buildings(b: _Builder, c: dict[int, list[dict]]) -> None:
    """Model 5: road + building (one numbered on the road itself), on every road."""
    city = b.city
    for i, rd in enumerate(city.roads):
        for bl in [bl for bl in city.addresses(i).buildings if bl.parent_kind == "road"][:2]:
            c[5].append(_row(5, b.road_segs(rd) + [_Seg("bldg", bl.number)], (bl.x, bl.y), "buildings", bl.id,
                             rd.district_code))


def _road_storefronts(b: _Builder, r: np.random.Generator, c: dict[int, list[dict]]) -> None:
    """Model 6: road + storefront, on a sample of roads."""
    from .places import road_storefronts
    city, roads = b.city, b.city.roads
    for i in r.permutation(len(roads))[:600]:
        rd = roads[int(i)]
        for s in road_storefronts(rd, city.addresses(int(i)), city.seed, city.scale)[:1]:
            c[6].append(_row(6, b.road_segs(rd) + [_Seg("store", s.name)], (s.x, s.y), "storefronts", s.id,
                             rd.district_code))


def _places(b: _Builder, tree: shapely.STRtree, c: dict[int, list[dict]]) -> None:
    """Models 7-11: place; place + number; place + number + building; place + building; place + road +
    number."""
    for p in b.city.places:
        pt = p.geom.representative_point() if p.geom.geom_type != "Point" else p.geom
        c[7].append(_row(7, [_Seg("place", p.name, p)], pt.coords[0], "place_names", p.id, p.district_code))
        hs = {h.id: h for h in p.houses}
        for h in p.houses[:2]:
            c[8].append(_row(8, [_Seg("place", p.name, p), _Seg("num", h.number), _Seg("hao", "号")], (h.x, h.y),
                             "house_numbers", h.id, p.district_code))
        for bl in [bl for bl in p.buildings if bl.parent_kind == "house_number"][:3]:
            h = hs[bl.parent_id]
            c[9].append(_row(9, [_Seg("place", p.name, p), _Seg("num", h.number), _Seg("hao", "号"),
                                 _Seg("bldg", bl.number)], (bl.x, bl.y), "buildings", bl.id, p.district_code))
        for bl in [bl for bl in p.buildings if bl.parent_kind == "place"][:3]:
            c[10].append(_row(10, [_Seg("place", p.name, p), _Seg("bldg", bl.number)], (bl.x, bl.y), "buildings",
                              bl.id, p.district_code))
        if p.geom.geom_type == "Polygon":
            _place_road_numbers(b, tree, p, c)


def _place_road_numbers(b: _Builder, tree: shapely.STRtree, p, c: dict[int, list[dict]]) -> None:
    """Model 11: place + road + number, the middle one of the road's house numbers inside the place."""
    roads = b.city.roads
    for i in tree.query(p.geom, predicate="intersects")[:3]:
        rd = roads[int(i)]
        inside = [h for h in b.city.addresses(int(i)).houses
                  if h.number.isdigit() and p.geom.contains(Point(h.x, h.y))]
        if inside:
            h = inside[len(inside) // 2]
            c[11].append(_row(11, [_Seg("place", p.name, p)] + b.road_segs(rd) + [_Seg("num", h.number),
                              _Seg("hao", "号")], (h.x, h.y), "house_numbers", h.id, p.district_code))


def _organisations(b: _Builder, c: dict[int, list[dict]]) -> None:
    """Models 12, 13: organisation; organisation + building."""
    for o in b.city.organisations:
        pt = o.geom.representative_point() if o.geom.geom_type != "Point" else o.geom
        district = b.city.roads[b.road_index[o.road_id]].district_code
        c[12].append(_row(12, [_Seg("org", o.name, o)], pt.coords[0], "organisations", o.id, district))
        for bl in o.buildings[:1]:
            c[13].append(_row(13, [_Seg("org", o.name, o), _Seg("bldg", bl.number)], (bl.x, bl.y), "buildings", bl.id,
                              district))


def _courtyards(b: _Builder, c: dict[int, list[dict]]) -> None:
    """Models 14, 15, 16: street office + courtyard; street office + community + courtyard;
    courtyard + number."""
    for cy in b.city.courtyards:
        st, cm = b.streets[cy.street_code], b.comms[cy.community_code]
        pt = cy.geom.representative_point().coords[0]
        c[14].append(_row(14, [_Seg("street", st.name, st), _Seg("courtyard", cy.name, cy)], pt, "courtyards", cy.id,
                          cy.street_code[:6]))
        c[15].append(_row(15, [_Seg("street", st.name, st), _Seg("community", cm.name, cm),
                               _Seg("courtyard", cy.name, cy)], pt, "courtyards", cy.id, cy.street_code[:6]))
        for h in cy.houses[:1]:
            c[16].append(_row(16, [_Seg("courtyard", cy.name, cy), _Seg("num", h.number), _Seg("hao", "号")],
                              (h.x, h.y), "house_numbers", h.id, cy.street_code[:6]))


def _codes(b: _Builder, r: np.random.Generator, c: dict[int, list[dict]]) -> None:
    """Models 17, 18: a unit grid's code, a component's code, on samples of each."""
    city = b.city
    g = city.grids
    for k in r.permutation(len(g))[:600]:
        pt = g.geom[int(k)].representative_point().coords[0]
        c[17].append(_row(17, [_Seg("code", g.code[int(k)])], pt, "unit_grids", g.code[int(k)], g.code[int(k)][:6]))
    chunk = next(generate_components(city, city.scale, city.seed))
    for k in r.permutation(len(chunk.code))[:600]:
        geom = chunk.geom[int(k)]
        pt = geom.coords[1] if geom.geom_type == "LineString" else shapely.point_on_surface(geom).coords[0]
        c[18].append(_row(18, [_Seg("code", chunk.code[int(k)])], pt, "components", chunk.code[int(k)],
                          chunk.code[int(k)][:6]))


_NAMED = ("road", "place", "org", "courtyard", "street", "community")  # names a typo may go into
_ALIASED = ("road", "place", "org")  # segments whose aliases and historic names the set uses


def _applicable(b: _Builder, row: dict) -> list[str]:
    segs = row["segs"]
    out = ["fullwidth", "prefix", "punct"] if any(ch.isdigit() for s in segs for ch in s.text) else ["prefix", "punct"]
    if row["model"] in (17, 18):
        return out
    if any(s.kind == "num" and s.text.isdigit() for s in segs):
        out.append("cn_numerals")
    for s in segs:
        if s.kind == "road" and s.text[-1] in "路街" and len(s.text) >= 3:
            out.append("missing_suffix")
        if s.kind in _ALIASED and b.other_names(s.obj, "aliases", row["district"]):
            out.append("alias")
        if s.kind in _ALIASED and b.other_names(s.obj, "historic_names", row["district"]):
            out.append("historic")
        if s.kind in _NAMED and len(s.text) >= 4:
            out.append("typo")
    return sorted(set(out), key=NOISES.index)


def _draw(kinds: list[str], r: np.random.Generator) -> list[str]:
    """One or two noise kinds for a query, favouring the rare alias and historic names."""
    k = 1 if r.random() < 0.6 or len(kinds) < 2 else 2
    noise = sorted(r.choice(kinds, size=k, replace=False).tolist(), key=NOISES.index)
    rare = [n for n in ("historic", "alias") if n in kinds]
    if rare and r.random() < 0.7:  # few names have them: use them whenever there are
        noise = sorted({rare[int(r.integers(len(rare)))], *noise[:1]} - {"typo"}, key=NOISES.index)
    if "typo" in noise and {"alias", "historic", "missing_suffix"} & set(noise):
        noise = ["typo"]  # a typo goes into the name as the gazetteer writes it
    return noise


def _typo(b: _Builder, segs: list[_Seg], r: np.random.Generator) -> bool:
    """Replace one inner character of a name so that the result is no name and lies one edit from
    this feature's spellings only (within the query's scope); False if no draw manages it."""
    named = [s for s in segs if s.kind in _NAMED and len(s.text) >= 4 and s.how is None]
    if not named:
        return False
    for _ in range(40):
        s = named[int(r.integers(len(named)))]
        pos = int(r.integers(1, len(s.text) - 1))
        new = s.text[:pos] + _TYPO[int(r.integers(len(_TYPO)))] + s.text[pos + 1:]
        if new == s.text:
            continue
        if b.ix.typo_ok(s.text, new, scope_of(b.ix, segs, skip=s), feature_of(s.obj)) is None:
            s.text, s.how = new, "typo"
            return True
    return False


def _apply(b: _Builder, row: dict, noise: list[str], r: np.random.Generator) -> list[_Seg] | None:
    """The query's segments with ``noise`` applied, or None where a kind could not be applied."""
    segs = [_Seg(s.kind, s.text, s.obj) for s in row["segs"]]
    for kind in noise:
        if kind == "cn_numerals":
            for s in segs:
                if s.kind == "num" and s.text.isdigit():
                    s.text = cn_number(int(s.text))
        elif kind == "missing_suffix":
            for s in segs:
                if s.kind == "road" and s.text[-1] in "路街":
                    s.text, s.how = s.text[:-1], kind
                    break
        elif kind in ("alias", "historic"):
            attr = "aliases" if kind == "alias" else "historic_names"
            for s in segs:
                al = b.other_names(s.obj, attr, row["district"]) if s.kind in _ALIASED else []
                if al:
                    s.text, s.how = al[int(r.integers(len(al)))], kind
                    break
        elif kind == "typo":
            if not _typo(b, segs, r):
                return None
        elif kind == "prefix":
            segs = [s for s in segs if s.kind != "district"]
            d = b.district_name[row["district"]]
            pre = ["新疆维吾尔自治区乌鲁木齐市" + d, "乌鲁木齐市" + d, d, "新疆乌鲁木齐" + d, "乌鲁木齐市"]
            segs.insert(0, _Seg("prefix", pre[int(r.integers(len(pre)))]))
    return segs


def _text(segs: list[_Seg], noise: list[str], r: np.random.Generator) -> str:
    text = ""
    for i, s in enumerate(segs):
        if "punct" in noise and i > 0 and s.kind not in ("hao", "bldg") and r.random() < 0.6:
            text += [" ", "  ", "，", ",", "-", "、"][int(r.integers(6))]
        text += s.text
    if "punct" in noise:
        text = [" ", "", "　"][int(r.integers(3))] + text + ["", " ", "。", "  "][int(r.integers(4))]
    if "fullwidth" in noise:
        text = text.translate(_FULL)
    return text


def build_queries(city: City, per_model: int = 100, stats: Counter | None = None) -> list[dict]:
    """``per_model`` clean and as many noisy queries for each of the 18 models, each with exactly one
    reading in the gazetteer (samplecity.readings); ``stats`` counts the noisy drafts set aside."""
    b = _Builder(city)
    r = rng(city.seed, "queries")
    cands = _candidates(b, r)
    stats = Counter() if stats is None else stats
    out = []
    for model in range(1, 19):
        pool = cands[model]
        if len(pool) < per_model:
            raise ValueError(f"model {model}: only {len(pool)} candidate queries (< {per_model})")
        order = r.permutation(len(pool))
        clean = [pool[int(i)] for i in order if ambiguity(b.ix, pool[int(i)]["segs"]) is None][:per_model]
        for row in clean:
            out.append(_emit(row, _text(row["segs"], [], r), []))
        made = 0
        owed: list[list[str]] = []  # noise drawn for a query it made ambiguous
        for i in order[::-1]:  # noisy ones from the other end of the pool
            row = pool[int(i)]
            kinds = _applicable(b, row)
            # noise drawn for an earlier query that it would have made ambiguous goes to the next
            # query it fits, so that setting queries aside keeps the spread of noise kinds
            fits = [n for n in owed if set(n) <= set(kinds)]
            got, failed = _attempt(b, row, fits[0], r, stats) if fits else (None, None)
            if got:
                owed.remove(fits[0])
            for k in range(4):
                if got or not kinds:
                    break
                noise = _draw(kinds, r)
                got, failed = _attempt(b, row, noise, r, stats)
                if not got:
                    if k == 0 and not fits:
                        owed = (owed + [noise])[-20:]
                    kinds = [k for k in kinds if k != failed]  # try the other kinds on this query
            if got:
                out.append(got)
                made += 1
            if made == per_model:
                break
        if made < per_model or len(clean) < per_model:
            raise ValueError(f"model {model}: only {len(clean)} clean and {made} noisy queries with one reading")
    return out


def _attempt(b: _Builder, row: dict, noise: list[str], r: np.random.Generator,
             stats: Counter) -> tuple[dict | None, str | None]:
    """The noisy query for ``row`` if it has one reading, else (None, the noise kind at fault)."""
    segs = _apply(b, row, noise, r)
    if segs is None:
        why: tuple[str | None, str] = ("typo", "no unique typo")
    else:
        found = ambiguity(b.ix, segs)
        if found is None:
            return _emit(row, _text(segs, noise, r), noise), None
        why = found
    failed = why[0] or "prefix"  # a name as written turns ambiguous when a prefix drops its district
    stats[failed] += 1
    return None, failed


def noise_counts(rows: list[dict]) -> Counter:
    """How many noisy queries carry each noise kind."""
    return Counter(n for row in rows for n in row["noise"])


def _emit(row: dict, query: str, noise: list[str]) -> dict:
    lon, lat = xy_to_lonlat(row["xy"][0], row["xy"][1])
    return {"model": row["model"], "query": query, "noisy": bool(noise), "noise": noise,
            "lon": round(float(lon), 7), "lat": round(float(lat), 7), "target": row["target"]}


def write_queries(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
