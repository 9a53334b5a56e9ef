"""The features of the evaluation town, in local metres (see county.py), before they are written.

Each feature keeps its geometry in metres (``geom``); gazetteer.py adds ``ll``, the geometry in
EPSG:4490 as written, from which the truths of the queries are taken."""
from __future__ import annotations

from dataclasses import dataclass, field

from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry


@dataclass
class Area:
    """An admin area: district, street office (街道) or community (社区)."""

    code: str
    name: str
    level: str
    parent: str | None
    geom: BaseGeometry | None
    ll: BaseGeometry | None = None


@dataclass
class Road:
    id: str
    name: str
    kind: str
    geom: LineString
    family: str
    aliases: list[str] = field(default_factory=list)
    historic: list[str] = field(default_factory=list)
    ranges: dict = field(default_factory=dict)  # left_from … right_parity
    ll: BaseGeometry | None = None


@dataclass
class Door:
    """A house number (门牌). Doors with ``present`` False are in the road's range but have no
    point in the gazetteer: their position is the truth of an interpolation query."""

    parent_kind: str  # road | place | courtyard
    parent_id: str
    number: str  # as written: 12, 12-1, 12附3
    n: int  # the leading number
    geom: Point
    present: bool = True
    id: str | None = None
    side: str | None = None  # left | right (road doors)
    sub: bool = False  # 12-1, 12附3
    s: float = 0.0  # position along the road (road doors)
    ll: BaseGeometry | None = None


@dataclass
class Building:
    id: str
    parent_kind: str
    parent_id: str
    number: str
    geom: BaseGeometry
    ll: BaseGeometry | None = None


@dataclass
class Place:
    id: str
    name: str
    kind: str
    geom: BaseGeometry
    aliases: list[str] = field(default_factory=list)
    historic: list[str] = field(default_factory=list)
    ll: BaseGeometry | None = None


@dataclass
class Courtyard:
    id: str
    name: str
    kind: str
    geom: BaseGeometry
    street_code: str
    community_code: str
    aliases: list[str] = field(default_factory=list)
    ll: BaseGeometry | None = None


@dataclass
class Org:
    id: str
    name: str
    kind: str
    geom: BaseGeometry
    road_id: str
    house_number: str
    aliases: list[str] = field(default_factory=list)
    ll: BaseGeometry | None = None


@dataclass
class Store:
    id: str
    name: str
    road_id: str
    house_number: str
    category: str
    geom: Point
    ll: BaseGeometry | None = None


@dataclass
class Component:
    code: str
    name: str
    geom: BaseGeometry
    status: str
    owner_dept: str
    grid_code: str | None = None
    ll: BaseGeometry | None = None


@dataclass
class UnitGrid:
    code: str
    community_code: str
    geom: BaseGeometry
    ll: BaseGeometry | None = None


@dataclass
class RespGrid:
    code: str
    name: str
    district_code: str
    geom: BaseGeometry
    ll: BaseGeometry | None = None


class Ids:
    """Sequential ids per prefix: ``Ids("652902").next("B")`` -> 652902-B00001."""

    def __init__(self, county_code: str) -> None:
        self.county = county_code
        self.counts: dict[str, int] = {}

    def next(self, prefix: str, width: int = 5) -> str:
        n = self.counts[prefix] = self.counts.get(prefix, 0) + 1
        return f"{self.county}-{prefix}{n:0{width}d}"
