"""Stage 4, roles: which token is the admin prefix, the road, the place, the house number ...

A name token may mean several kinds of thing (a key can be a road and a place); each consistent
choice of one kind per token is an :class:`Assignment`. Numbers take their role from their unit
word; a bare number after a named part is a house number (the 号 was left out), after a house
number a building number. Admin tokens narrow the search; they never fail it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice, product

from urbangis.layers.contract import CODES

from .dictionary import HOW_PENALTY
from .index import Index
from .normalise import LANE_SUFFIXES
from .parse import Parse
from .query import ADMIN_LEVELS, sig

UNREAD = 0.5  # the query names something no name of the gazetteer covers: whatever answers is a guess

MAX_ASSIGNMENTS = 32
MAX_TRIED = 512
UNUSED_TOKEN = 0.9


@dataclass
class Assignment:
    """One reading of the query: named parts with their candidate features, numbers, admin."""

    named: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # part -> [(idx, penalty)]
    admin: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # level -> [(admin idx, penalty)]
    house: str | None = None
    building: str | None = None
    code: str | None = None
    cost: float = 1.0  # penalties of the reading as a whole (leftover text ...)
    extras: list[str] = field(default_factory=list)  # unit / room / floor, kept for the answer
    texts: dict[str, str] = field(default_factory=dict)  # role -> the query text read as it

    def reading(self) -> dict:
        """What the query was read as: role -> text (admin levels, named parts, numbers, code)."""
        out: dict[str, str | list[str]] = dict(self.texts)
        for role, value in (("house", self.house), ("building", self.building)):
            if value is not None:
                out[role] = value
        if self.code is not None:
            out[self._code_part()] = self.code
        if self.extras:
            out["extras"] = list(self.extras)
        return out

    def _code_part(self) -> str:
        """The part a code is: a unit grid's or a component's, by its length (layers/contract.py)."""
        return "grid" if len(self.code or "") in CODES["unit_grid"].lengths else "component"

    def parts(self) -> set[str]:
        out = set(self.named)
        if self.house is not None:
            out.add("house")
        if self.building is not None:
            out.add("building")
        if self.code is not None:
            out.add(self._code_part())
        out.update(lvl for lvl in self.admin if lvl in ("street", "community"))
        return out

    def area_codes(self, ix: Index) -> tuple[str, list[str]] | None:
        """The deepest admin level named and the significant codes of its consistent areas."""
        levels = [lvl for lvl in ADMIN_LEVELS if lvl in self.admin]
        if not levels:
            return None
        chosen: list[str] = []
        for lvl in levels:
            codes = [sig(ix.admin[i].code, lvl) for i, _ in self.admin[lvl]]
            if chosen:
                fitting = [c for c in codes if any(c.startswith(p) for p in chosen)]
                codes = fitting or codes  # a wrong prefix narrows nothing; it never fails
            chosen = codes
        return levels[-1], chosen


def assign(ix: Index, parsed: Parse) -> list[Assignment]:
    """Every consistent reading of the parse, best covered first."""
    names, options = [], []
    base = _numbers(parsed)
    unread = bool(parsed.unread)  # already paid for in base.cost
    for t in parsed.tokens:
        if t.type == "name":
            opts = _readings(t, parsed.suffix_after.get((t.start, t.end)))
            if opts:
                names.append(t)
                options.append(opts)
            elif not unread:  # all its readings ruled out (东风 of 东风路 before 巷): unread
                unread = True
                base.cost *= UNREAD
    out: list[Assignment] = []
    combos = product(*options) if options else iter([()])
    # at most MAX_TRIED readings are looked at: a query repeating an ambiguous name 30 times would
    # otherwise have 2**30 (all inconsistent) readings
    for combo in islice(combos, MAX_TRIED):
        a = Assignment(house=base.house, building=base.building, code=base.code, cost=base.cost, extras=base.extras)
        for (kind, cands), tok in zip(combo, names):
            table = a.admin if kind in ADMIN_LEVELS else a.named
            if kind in table:
                # the same admin level twice (a prefix pasted twice) says nothing new; a second
                # road, place ... is not part of any model's shape: the first one is kept and the
                # reading pays for the part it leaves unused
                a.cost *= 1.0 if kind in ADMIN_LEVELS and table[kind] == cands else UNUSED_TOKEN
                continue
            table[kind] = cands
            a.texts[kind] = parsed.text[tok.start:tok.end]
        out.append(a)
        if len(out) >= MAX_ASSIGNMENTS:
            break
    return out or [base]


_STEMS = frozenset({"stem", "stem2", "stem_lane"})


def _readings(token, suffix_after: str | None = None) -> list[tuple[str, list[tuple[int, float]]]]:
    """What one name token can be: per kind, its features with their penalties (the best-named
    within 0.05 of the best: a real name before a suffix variant). A road's stem followed by the
    suffix of the other class (a lane's stem before 路, a road's before 巷) is not that road."""
    by_kind: dict[str, list[tuple[int, float]]] = {}
    lane_after = suffix_after in LANE_SUFFIXES if suffix_after else None
    for k, e in enumerate(token.entries or ()):
        if lane_after is not None and e.how in _STEMS and (e.how == "stem_lane") != lane_after:
            continue
        pen = token.entry_costs[k] if token.entry_costs else HOW_PENALTY.get(e.how, 1.0)
        by_kind.setdefault(e.kind, []).append((e.idx, pen))
    opts = []
    for kind, lst in by_kind.items():
        lst.sort(key=lambda p: -p[1])
        top = lst[0][1]
        opts.append((kind, [p for p in lst if p[1] >= top - 0.05]))
    return opts


_EXTRA_UNITS = {"unit": "单元", "room": "室", "floor": "层"}


def _numbers(parsed: Parse) -> Assignment:
    """The numbers of the query (house, building, code, unit/room/floor), which every reading shares."""
    base = Assignment()
    base.cost = 0.97 ** min(parsed.leftover, 10) * (UNREAD if parsed.unread else 1.0)
    last_named = False
    for t in parsed.tokens:
        if t.type == "name":
            last_named = True
            continue
        if t.type == "house":
            if base.house is None:
                base.house = t.text
            elif base.building is None:
                base.building = t.text  # 12号3号: the second 号 is a building
        elif t.type == "building":
            base.building = base.building or t.text
        elif t.type == "code":
            base.code = t.text
        elif t.type == "number":
            _bare_number(base, t.text, last_named)
        else:
            base.extras.append(f"{t.text}{_EXTRA_UNITS[t.type]}")
        last_named = False
    return base


def _bare_number(base: Assignment, text: str, after_name: bool) -> None:
    """A number without a unit word: a house number after a named part (the 号 left out), after a
    house number a building number."""
    if base.house is None and after_name:
        base.house = text
        base.cost *= 0.97
    elif base.house is not None and base.building is None:
        base.building = text
        base.cost *= 0.95
