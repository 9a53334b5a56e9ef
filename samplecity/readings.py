"""What a name in a query can mean, judged against the sample gazetteer itself (issue 3).

The evaluation set keeps a noisy query only if it has exactly one correct reading. That is
decided here from the gazetteer's own content (names, aliases, historic names, road address
ranges), never by running the geocoder, which is what the set measures. The rule, per kind of
noise applied to a name in the query, inside the query's admin scope (the district the query
names through a district, street office or community, or a district prefix; else the whole city):

- unchanged name: exactly one feature is spelt so (a road name repeated in another district
  needs its district; a prefix without the district must not drop it);
- alias / historic name: exactly one feature has that spelling (as name, alias or historic name);
- missing suffix: the stem is no feature's name anywhere, and exactly one road in scope has a
  spelling stem + road suffix (路, 街, 巷, 道, 大街, 大道) whose address ranges hold the query's
  house number (or, for a query without one, exactly one such road at all);
- typo: the typo'd text is no feature's name anywhere, writes no name into the query that the
  true name does not contain (北梁公园 -> 北梁明园 would read as the place 明园), and exactly one
  feature in scope has a spelling at edit distance 1 from it (substitution, insertion, deletion,
  adjacent swap).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .skeleton import Area

if TYPE_CHECKING:  # only for the annotation: readings does not import the generator
    from .city import City

ROAD_SUFFIXES = ("大道", "大街", "路", "街", "巷", "道")
_HOLE = "\x00"


@dataclass(frozen=True)
class Feature:
    """A gazetteer row that a name can stand for; ``district`` None means city-wide (province, city)."""

    layer: str
    id: str
    district: str | None


def feature_of(obj) -> Feature:
    """The gazetteer row behind a query segment's object (admin area, road, place, ...)."""
    if isinstance(obj, Area):
        return Feature("admin_areas", obj.code, obj.code[:6] if len(obj.code) >= 6 and obj.level not in
                       ("province", "city") else None)
    kind = type(obj).__name__
    if kind == "Road":
        return Feature("roads", obj.id, obj.district_code)
    if kind == "Place":
        return Feature("place_names", obj.id, obj.district_code)
    if kind == "Courtyard":
        return Feature("courtyards", obj.id, obj.street_code[:6])
    if kind == "Organisation":
        return Feature("organisations", obj.id, obj.road_id[1:7])
    raise TypeError(f"no gazetteer feature for {kind}")


def base_number(text: str) -> int | None:
    """The house number a written number belongs to (12 for 12, 12-1, 12附3)."""
    m = re.match(r"\d+", text)
    return int(m.group()) if m else None


class NameIndex:
    """Every spelling of every named feature (names, aliases, historic names), with lookups by
    exact spelling, by edit distance 1 and by road stem."""

    def __init__(self, city: City) -> None:
        sk = city.skeleton
        self.exact: dict[str, set[Feature]] = defaultdict(set)
        self._sub: dict[str, set[Feature]] = defaultdict(set)  # one character replaced by a hole
        self._del: dict[str, set[Feature]] = defaultdict(set)  # one character deleted
        self._stem: dict[str, set[Feature]] = defaultdict(set)  # road spellings without their suffix
        self.roads = {rd.id: rd for rd in city.roads}
        self.district_names = {d.name: d.code for d in sk.districts}
        areas = [sk.province, sk.city, *sk.districts, *sk.streets(), *sk.communities()]
        for coll in (areas, city.roads, city.places, city.organisations, city.courtyards):
            for obj in coll:
                f = feature_of(obj)
                for s in {obj.name, *getattr(obj, "aliases", []), *getattr(obj, "historic_names", [])}:
                    self._add(s, f)
                    if f.layer == "roads":
                        for suf in ROAD_SUFFIXES:
                            if s.endswith(suf) and len(s) > len(suf):
                                self._stem[s[: -len(suf)]].add(f)

    def _add(self, s: str, f: Feature) -> None:
        self.exact[s].add(f)
        for i in range(len(s)):
            self._sub[s[:i] + _HOLE + s[i + 1:]].add(f)
            self._del[s[:i] + s[i + 1:]].add(f)

    @staticmethod
    def _scoped(found, scope: str | None) -> set[Feature]:
        return {f for f in found if scope is None or f.district is None or f.district == scope}

    def is_name(self, text: str) -> bool:
        """Whether any feature anywhere is spelt ``text``."""
        return bool(self.exact.get(text))

    def names_inside(self, text: str) -> set[str]:
        """Names (two characters or more) written somewhere inside ``text``."""
        return {text[i:j] for i in range(len(text)) for j in range(i + 2, len(text) + 1) if text[i:j] in self.exact}

    def typo_ok(self, clean: str, text: str, scope: str | None, target: Feature) -> str | None:
        """None if ``text`` is a typo of ``clean`` with one reading, ``target``; else why not."""
        if self.is_name(text):
            return f"{text!r} (typo) is itself a name"
        made = self.names_inside(text) - self.names_inside(clean)
        if made:  # 北梁公园 -> 北梁明园 writes the place 明园 into the query
            return f"{text!r} (typo) writes the name {sorted(made)[0]!r} into the query"
        found = self.near(text, scope)
        if found != {target}:
            return f"{text!r} (typo) is one edit from {len(found)} features in {scope or 'the city'}"
        return None

    def spelt(self, text: str, scope: str | None) -> set[Feature]:
        """Features in scope with this exact spelling."""
        return self._scoped(self.exact.get(text, ()), scope)

    def near(self, text: str, scope: str | None) -> set[Feature]:
        """Features in scope with a spelling at edit distance <= 1 (adjacent swaps included)."""
        found: set[Feature] = set(self.exact.get(text, ()))
        found |= self._del.get(text, set())  # text is a spelling with one character missing
        for i in range(len(text)):
            found |= self._sub.get(text[:i] + _HOLE + text[i + 1:], set())
            found |= self.exact.get(text[:i] + text[i + 1:], set())  # one character too many
            if i + 1 < len(text):
                found |= self.exact.get(text[:i] + text[i + 1] + text[i] + text[i + 2:], set())
        return self._scoped(found, scope)

    def stem_roads(self, stem: str, scope: str | None, number: int | None) -> set[Feature]:
        """Roads in scope spelt ``stem`` + a road suffix (holding ``number`` in their ranges, if given)."""
        found = self._scoped(self._stem.get(stem, ()), scope)
        if number is None:
            return found
        return {f for f in found if self.roads[f.id].side_of(number) is not None}

    def district_in(self, text: str) -> str | None:
        """The district a prefix such as 乌鲁木齐市天山区 names, if any."""
        hits = [code for name, code in self.district_names.items() if name in text]
        return hits[0] if len(hits) == 1 else None


def scope_of(ix: NameIndex, segs, skip=None) -> str | None:
    """The district a query's admin segments name (other than ``skip`` and changed ones), or None."""
    for s in segs:
        if s is skip or getattr(s, "how", None):
            continue
        if s.kind in ("district", "prefix"):
            code = ix.district_in(s.text)
            if code:
                return code
        elif s.kind in ("street", "community"):
            return s.obj.code[:6]
    return None


def ambiguity(ix: NameIndex, segs) -> tuple[str | None, str] | None:
    """None if a query (its segments, noisy or clean) has exactly one reading; else the noise of
    the segment at fault (None for a name as written) and why.

    Each named segment carries ``obj`` (what it names), ``how`` (the noise applied to its text:
    None, "alias", "historic", "missing_suffix" or "typo") and ``clean`` (its text before noise)."""
    number = None
    if any(s.kind == "road" for s in segs):
        number = next((base_number(s.clean) for s in segs if s.kind == "num"), None)
    for s in segs:
        if s.obj is None or s.kind not in ("district", "street", "community", "road", "place", "org", "courtyard"):
            continue
        target = feature_of(s.obj)
        scope = scope_of(ix, segs, skip=s)
        how = getattr(s, "how", None)
        if how == "missing_suffix":
            if ix.is_name(s.text):
                return how, f"{s.text!r} (suffix dropped) is itself a name"
            found = ix.stem_roads(s.text, scope, number if s.kind == "road" else None)
        elif how == "typo":
            why = ix.typo_ok(s.clean, s.text, scope, target)
            if why:
                return how, why
            continue
        else:  # as written in the gazetteer, or an alias / historic name
            found = ix.spelt(s.text, scope)
        if found != {target}:
            return how, f"{s.text!r} ({how or 'name'}) reads as {len(found)} features in {scope or 'the city'}"
    return None
