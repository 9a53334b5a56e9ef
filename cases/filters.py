"""The filters every case map takes (aggregate tiles, heat tiles, flows, statistics, hot spots):
``datetime`` (an instant or an OGC interval), ``kind``, ``major_class``, ``minor_class``,
``status``, ``source``, ``area`` (an admin code of any level) and ``responsibility_grid``. Each
parameter may list several values, comma-separated. A bad one is a 400 naming it and its value.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Mapping

from urbangis.layers.classes import KINDS, Classes
from urbangis.layers.contract import CASE_STATUS
from urbangis.layers.errors import Invalid
from urbangis.ogc.errors import InvalidParameter
from urbangis.ogc.params import parse_datetime

NAMES = ("datetime", "kind", "major_class", "minor_class", "status", "source", "area", "responsibility_grid")


@dataclass(frozen=True)
class CaseFilter:
    """Which cases a map counts. Empty tuples and None mean "any"."""

    start: dt.datetime | None = None  # reported at or after
    end: dt.datetime | None = None  # reported at or before (inclusive)
    classes: frozenset[tuple[str, str, str]] | None = None  # (kind, major, minor) allowed; None: any
    statuses: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    area: str | None = None
    responsibility_grid: str | None = None
    given: dict[str, str] = field(default_factory=dict, compare=False)  # the parameters as they came

    @property
    def empty(self) -> bool:
        """No filter at all."""
        return (self.start is None and self.end is None and self.classes is None and not self.statuses
                and not self.sources and self.area is None and self.responsibility_grid is None)

    def shifted(self, delta: dt.timedelta) -> CaseFilter:
        """The same filter over a period ``delta`` earlier (for comparisons)."""
        return CaseFilter(self.start - delta if self.start else None, self.end - delta if self.end else None,
                          self.classes, self.statuses, self.sources, self.area, self.responsibility_grid, self.given)

    def cache_key(self) -> tuple:
        return (self.start, self.end, tuple(sorted(self.classes)) if self.classes is not None else None,
                self.statuses, self.sources, self.area, self.responsibility_grid)


def admin_prefix(code: str) -> str:
    """The prefix the codes inside a 6-digit admin area start with: a province 650000 -> 65, a
    city 651000 -> 6510, a district -> itself (GB/T 2260: 00 closes a level)."""
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def _values(raw: str | None) -> list[str]:
    return [v.strip() for v in (raw or "").split(",") if v.strip()]


def _classes(params: Mapping[str, str], classes: Classes) -> frozenset[tuple[str, str, str]] | None:
    kinds, majors, minors = _values(params.get("kind")), _values(params.get("major_class")), \
        _values(params.get("minor_class"))
    if not (kinds or majors or minors):
        return None
    for k in kinds:
        if k not in KINDS:
            raise Invalid(f"kind: {k!r} is neither component nor event", parameter="kind", value=k)
    for m in majors:
        if not any(c.major == m or c.major_name == m for c in classes.all):
            raise Invalid(f"major_class: no major class {m!r} in the class dictionary", parameter="major_class",
                          value=m)
    allowed = set()
    for c in classes.all:
        if kinds and c.kind not in kinds:
            continue
        if majors and c.major not in majors and c.major_name not in majors:
            continue
        if minors and not any(_minor_fits(m, c) for m in minors):
            continue
        allowed.add((c.kind, c.major, c.minor))
    for m in minors:
        if not any(_minor_fits(m, c) for c in classes.all):
            raise Invalid(f"minor_class: no minor class {m!r} in the class dictionary (give major+minor, e.g. 0102, "
                          "or its name)", parameter="minor_class", value=m)
    return frozenset(allowed)


def _minor_fits(value: str, c) -> bool:
    """A minor class given as major+minor (0102), as its name (暴露垃圾), or as its 2 digits."""
    return value in (c.major + c.minor, c.minor_name, c.minor)


def parse_filter(params: Mapping[str, str], classes: Classes, zone: str, known_area: Callable[[str], bool],
                 known_grid: Callable[[str], bool]) -> CaseFilter:
    """The filter of a request's parameters; 400 for an unknown class, a malformed interval, an
    area code or responsibility grid that does not exist, an unknown status."""
    given = {k: v for k, v in params.items() if k in NAMES and v}
    start = end = None
    if params.get("datetime"):
        try:
            rng = parse_datetime(params["datetime"], "datetime", zone)
        except InvalidParameter:
            raise
        start, end = rng.lower, rng.last()
    statuses = tuple(_values(params.get("status")))
    for s in statuses:
        if s not in CASE_STATUS.values:
            raise Invalid(f"status: {s!r} is not a stage ({', '.join(CASE_STATUS.values)})", parameter="status",
                          value=s)
    area = params.get("area") or None
    if area is not None and not known_area(area):
        raise Invalid(f"area: no admin area has the code {area!r}", parameter="area", value=area)
    grid = params.get("responsibility_grid") or None
    if grid is not None and not known_grid(grid):
        raise Invalid(f"responsibility_grid: no responsibility grid {grid!r}", parameter="responsibility_grid",
                      value=grid)
    return CaseFilter(start, end, _classes(params, classes), statuses, tuple(_values(params.get("source"))), area,
                      grid, given)
