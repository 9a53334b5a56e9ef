"""The geocoder: normalise -> tokens -> roles -> one search per model -> rank (Nominatim's
pipeline, over an in-memory index)."""
from __future__ import annotations

from dataclasses import dataclass, field

from urbangis.layers.errors import Invalid

from .assign import Assignment, assign
from .index import Index
from .models import MODELS
from .normalise import basic, has_control_characters, normalise
from .parse import Parse, parse
from .query import ADMIN_PARTS, LEVEL_BASE, NAMED_LAYERS, Candidate, Model
from .rank import finish
from .searches import SEARCHES

MAX_QUERY_CHARS = 200
RELAXED_PART = 0.95  # a relaxable part the query left out
UNUSED_PART = 0.9  # a part the query gave that the answering model does not use


class QueryError(Invalid, ValueError):
    """A query the engine refuses (empty, too long, control characters): 400."""


def check_query(q) -> str:
    """The query, stripped, or :class:`QueryError` saying what is wrong with it."""
    if not isinstance(q, str):
        raise QueryError(f"the address must be a string, not {type(q).__name__}")
    text = q.strip()
    if not text:
        raise QueryError("the address is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the address is {len(text)} characters long; at most {MAX_QUERY_CHARS} are accepted")
    if has_control_characters(text):
        pos = next(i for i, ch in enumerate(text) if has_control_characters(ch))
        raise QueryError(f"the address holds a control character (U+{ord(text[pos]):04X}) at position {pos + 1}")
    if not basic(text):
        raise QueryError("the address holds no letters, digits or Chinese characters, only punctuation")
    return text


@dataclass
class Answer:
    """What a forward geocode found."""

    query: str
    normalised: str
    candidates: list[Candidate] = field(default_factory=list)
    parse: Parse | None = None
    # admin areas the query names that the gazetteer holds without an outline (loaded from a code
    # list): no coordinate to answer with, but not unknown either
    unplaced: list[tuple[str, str]] = field(default_factory=list)  # (code, name)
    # the cities (or districts) the best answers tie between when the query names none of them
    ambiguous: list[dict] = field(default_factory=list)  # {code, name, level}


class Geocoder:
    """Forward geocoding over one :class:`Index` (an index never changes once built)."""

    def __init__(self, ix: Index, models: tuple[Model, ...] | None = None) -> None:
        self.ix = ix
        self.models = models or MODELS
        self._plans: dict[frozenset[str], list[tuple[Model, float]]] = {}

    def normalise(self, text: str) -> str:
        """The query as the engine reads it (gazetteer names protected from numeral conversion)."""
        return normalise(text, self.ix.words.protect)

    def _plan(self, a: Assignment) -> list[tuple[Model, float]]:
        have = frozenset(a.parts())
        plan = self._plans.get(have)
        if plan is None:
            plan = self._plans[have] = self._make_plan(have)
        return plan

    def _make_plan(self, have: frozenset[str]) -> list[tuple[Model, float]]:
        """The models a query with these parts can be, most specific first, with their factors."""
        content = have - ADMIN_PARTS
        ranked = []
        for m in self.models:
            missing = set(m.parts) - have
            if missing - set(m.relax):
                continue
            used = m.content & content
            if not used:
                continue
            unused = content - m.content
            factor = RELAXED_PART ** len(missing) * UNUSED_PART ** len(unused)
            ranked.append(((len(used), len(set(m.parts) & have), -len(missing), -len(unused)), m, factor))
        ranked.sort(key=lambda r: r[0], reverse=True)
        return [(m, f) for _, m, f in ranked]

    def geocode(self, query: str, limit: int = 5) -> Answer:
        """Candidates for an address string, best first (empty when nothing fits)."""
        ix = self.ix
        text = self.normalise(query[: MAX_QUERY_CHARS * 2])
        parsed = parse(ix.words, text)
        found: list[Candidate] = []
        for a in assign(ix, parsed):
            area = a.area_codes(ix)
            want = area[1] if area else None
            for model, factor in self._plan(a):
                cands = SEARCHES[model.search](ix, a, model)
                if cands:
                    reading = a.reading()
                    for c in cands:
                        c.score *= factor * a.cost
                        c.want = want
                        c.reading = reading
                        if parsed.suffix_left and c.level == "exact" and c.layer in NAMED_LAYERS:
                            c.level = "approximate"  # 友好路 -> the place 友好: a name, not the one asked
                            c.score *= LEVEL_BASE["approximate"]
                    found.extend(cands)
                    break
        unplaced: list[tuple[str, str]] = []
        if not found:
            found = self._area_only(parsed, unplaced)
        ranked, ambiguous = finish(ix, found, max(1, limit))
        return Answer(query, text, ranked, parsed, list(dict.fromkeys(unplaced)), ambiguous)

    def _area_only(self, parsed: Parse, unplaced: list[tuple[str, str]]) -> list[Candidate]:
        """A query naming only admin areas answers with the deepest one's inner point; those
        without one (no outline) are added to ``unplaced``."""
        out = []
        for a in assign(self.ix, parsed):
            area = a.area_codes(self.ix)
            if not area:
                continue
            level, _ = area
            for idx, pen in a.admin[level]:
                ad = self.ix.admin[idx]
                if ad.x is None or ad.y is None:  # both or neither (index._xy)
                    unplaced.append((ad.code, ad.name))
                    continue
                out.append(Candidate(ad.x, ad.y, None, "area", LEVEL_BASE["area"] * pen * a.cost, "admin_areas",
                                     ad.code, "", ad.code, area[1], reading=a.reading()))
        return out
