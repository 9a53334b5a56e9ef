"""The geocoder's shared types: what every stage reads and writes, importing nothing of the
package back (as Nominatim's ``search/query.py``), so that the stages import one way:
normalise -> parse -> assign -> searches -> rank -> engine, each only from the ones before it.

Here: the parts a query can name and the :class:`Model` table's row type, the admin levels and
the significant prefix of their codes, and a :class:`Candidate` answer with the base confidence
of its match level.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ADMIN_PARTS = frozenset({"street", "community"})
NAMED_PARTS = frozenset({"road", "place", "org", "courtyard", "storefront"})
NUMBER_PARTS = frozenset({"house", "building"})
CODE_PARTS = frozenset({"grid", "component"})
ALL_PARTS = ADMIN_PARTS | NAMED_PARTS | NUMBER_PARTS | CODE_PARTS


@dataclass(frozen=True)
class Model:
    """One combination model: the parts it needs and the search that resolves it."""

    number: int
    name: str  # as the tender names it
    title: str  # in English
    parts: tuple[str, ...]
    search: str
    relax: tuple[str, ...] = ()

    @property
    def content(self) -> frozenset[str]:
        """The non-admin parts: what the query is *about*."""
        return frozenset(self.parts) - ADMIN_PARTS

# The searches a model may name (geocoder.searches.SEARCHES implements exactly these).
SEARCH_NAMES = frozenset({"house", "building", "storefront", "feature", "place_road_house", "road_in_area",
                          "grid", "component"})

ADMIN_LEVELS = ("province", "city", "district", "street", "community")
SIG_LEN = {"province": 2, "city": 4, "district": 6, "street": 9, "community": 12}


def sig(code: str, level: str) -> str:
    """The significant prefix of an admin code (650000 province -> 65)."""
    return code[: SIG_LEN.get(level, len(code))]


LEVEL_BASE = {"exact": 1.0, "grid": 1.0, "approximate": 0.8, "interpolated": 0.85, "road": 0.7, "area": 0.6}
# the named features whose match is "approximate" when the query's name needed a suffix dropped
NAMED_LAYERS = frozenset({"place_names", "organisations", "courtyards", "storefronts"})


@dataclass(slots=True)
class Candidate:
    """One possible answer, in the index's metric plane until :func:`finish` places it."""

    x: float
    y: float
    model: int | None
    level: str
    score: float
    layer: str
    id: str
    label: str  # the part of the standard address below the community (road + no. + building ...)
    area_hint: str | None = None  # deepest admin code the feature itself carries
    want: list[str] | None = None  # significant admin codes the query names (narrowing)
    reading: dict | None = None  # how the query was read for this candidate (role -> text)
    # filled by finish():
    chain: list[dict] = field(default_factory=list)
    unit_grid: str | None = None
    resp_grid: str | None = None
    resp_grid_name: str | None = None
