"""The in-process index: the whole gazetteer, read from PostGIS in one bulk pass per layer.

A geocode never goes to the database: it is answered from these tables, the name dictionary and
shapely STRtrees, all in the local metric plane of :mod:`geocoder.plane`. Building takes one
read of each layer; :mod:`geocoder.refresh` rebuilds it when ``layer_state`` versions change.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from shapely import STRtree

from .dictionary import Dictionary
from .normalise import building_key, digits_variant, name_key, number_key, road_stem, ROAD_SUFFIXES
from .plane import LocalPlane

log = logging.getLogger("urbangis.geocoder")

SQL_FILE = Path(__file__).with_name("sql") / "gazetteer.sql"
# Tables whose changes make the index stale (their rows in layer_state are compared).
SOURCE_LAYERS = (
    "admin_areas", "unit_grids", "responsibility_grids", "roads", "place_names", "courtyards",
    "house_numbers", "buildings", "organisations", "storefronts", "components",
)
PARENT_KIND = {"road": "r", "place": "p", "courtyard": "c", "house_number": "h", "organisation": "o"}


def read_statements() -> dict[str, str]:
    """The named statements of ``sql/gazetteer.sql``."""
    out: dict[str, str] = {}
    for chunk in re.split(r"^-- name: ", SQL_FILE.read_text(), flags=re.M)[1:]:
        name, _, body = chunk.partition("\n")
        out[name.strip()] = body.strip()
    return out


@dataclass(slots=True)
class AdminArea:
    code: str
    name: str
    level: str
    parent: str | None
    x: float | None
    y: float | None
    geom: object = None  # metric polygon, district/street/community only


@dataclass(slots=True)
class Road:
    id: str
    name: str
    kind: str | None
    district: str | None
    lf: int | None
    lt: int | None
    rf: int | None
    rt: int | None
    lp: str | None
    rp: str | None
    geom: object  # metric LineString / MultiLineString
    x: float = 0.0  # midpoint
    y: float = 0.0


@dataclass(slots=True)
class Feature:
    """A named point feature: place, courtyard, organisation or storefront."""

    id: str
    name: str
    kind: str | None
    x: float
    y: float
    district: str | None = None
    street: str | None = None
    community: str | None = None
    road: int | None = None  # road index (organisations, storefronts)
    house_number: str | None = None
    geom: object = None  # metric polygon of a place, when it has one


def each(value) -> tuple[int, ...]:
    """The positions stored under one number key (an int, or a tuple for duplicates)."""
    if value is None:
        return ()
    return value if isinstance(value, tuple) else (value,)


@dataclass
class Points:
    """Columnar point features hanging under a parent (house numbers, buildings)."""

    ids: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    parent_kind: list[str] = field(default_factory=list)
    parent_idx: list[int] = field(default_factory=list)
    xs: np.ndarray = field(default_factory=lambda: np.empty(0))
    ys: np.ndarray = field(default_factory=lambda: np.empty(0))
    by_parent: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Coded:
    """Features found by code: unit grids, components."""

    codes: list[str] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)
    xs: np.ndarray = field(default_factory=lambda: np.empty(0))
    ys: np.ndarray = field(default_factory=lambda: np.empty(0))
    by_code: dict[str, int] = field(default_factory=dict)
    geoms: np.ndarray | None = None  # metric polygons (grids)
    extra: list[str | None] = field(default_factory=list)  # community code / district code


@dataclass
class Index:
    """Everything a geocode needs, in memory."""

    plane: LocalPlane
    versions: dict[str, int]
    side_offset: float = 15.0  # metres from a road's centre line to its interpolated house numbers
    admin: list[AdminArea] = field(default_factory=list)
    admin_by_code: dict[str, int] = field(default_factory=dict)
    admin_geoms: np.ndarray | None = None  # metric polygons of areas with an outline
    admin_geom_idx: np.ndarray | None = None  # their positions in ``admin``
    roads: list[Road] = field(default_factory=list)
    road_by_id: dict[str, int] = field(default_factory=dict)
    places: list[Feature] = field(default_factory=list)
    courtyards: list[Feature] = field(default_factory=list)
    orgs: list[Feature] = field(default_factory=list)
    storefronts: list[Feature] = field(default_factory=list)
    houses: Points = field(default_factory=Points)
    buildings: Points = field(default_factory=Points)
    grids: Coded = field(default_factory=Coded)
    resp: Coded = field(default_factory=Coded)
    components: Coded = field(default_factory=Coded)
    words: Dictionary = field(default_factory=Dictionary)
    build_seconds: float = 0.0
    stats: dict[str, int] = field(default_factory=dict)
    cache: dict = field(default_factory=dict)  # memoised road-in-area points
    plans: dict = field(default_factory=dict)  # memoised model plans by the parts a query has
    # one tree over every polygon a point is looked up in (admin areas, unit grids, responsibility
    # grids) and one over every feature reverse looks for (house numbers, buildings, roads): one
    # query answers what three would, and shapely's per-call overhead dominates at these sizes
    area_tree: STRtree | None = None
    area_geoms: np.ndarray | None = None
    area_bounds: tuple[int, int] = (0, 0)  # [0, a) admin, [a, g) unit grids, [g, ...) responsibility grids
    near_tree: STRtree | None = None
    near_geoms: np.ndarray | None = None
    near_bounds: tuple[int, int] = (0, 0)  # [0, h) houses, [h, b) buildings, [b, ...) roads

    def feature_table(self, kind: str) -> list:
        """The list that dictionary entries of ``kind`` index into."""
        return {
            "road": self.roads, "place": self.places, "courtyard": self.courtyards,
            "org": self.orgs, "storefront": self.storefronts,
        }.get(kind) or self.admin


# -- building ---------------------------------------------------------------------------------
def _metric(plane: LocalPlane, wkbs: list) -> np.ndarray:
    geoms = shapely.from_wkb(np.array(wkbs, dtype=object))
    return shapely.transform(geoms, plane.fwd_coords)


def _name_variants(words: Dictionary, name: str, kind: str, idx: int, how: str = "name") -> None:
    key = name_key(name)
    words.add(key, kind, idx, how)
    digits = digits_variant(key)
    if digits != key:
        words.add(digits, kind, idx, "digits")


def _road_variants(words: Dictionary, name: str, idx: int, how: str) -> None:
    _name_variants(words, name, "road", idx, how)
    split = road_stem(name_key(name))
    if split:
        stem, suffix = split
        for other in ROAD_SUFFIXES:
            if other != suffix:
                words.add(stem + other, "road", idx, "suffix")
        words.add(stem, "road", idx, "stem" if suffix == "路" else "stem2")


_ADMIN_TAILS = {
    "street": (("街道办事处", "街道"), ("街道办", "街道")),
    "community": (("社区居民委员会", "社区"), ("社区居委会", "社区"), ("居委会", ""), ("村民委员会", "村"), ("村委会", "村")),
}


def _admin_variants(words: Dictionary, area: AdminArea, idx: int, aliases: list[str]) -> None:
    _name_variants(words, area.name, area.level, idx)
    for a in aliases or ():
        _name_variants(words, a, area.level, idx, "alias")
    key = name_key(area.name)
    if area.level == "street" and key.endswith("街道"):
        words.add(key + "办事处", "street", idx, "short")
        words.add(key + "办", "street", idx, "short")
    if area.level == "community":
        for tail, short in _ADMIN_TAILS["community"]:
            if key.endswith(tail) and len(key) > len(tail) + 1:
                words.add(key[: -len(tail)] + short, "community", idx, "short")
        if key.endswith("社区"):
            words.add(key + "居委会", "community", idx, "short")
    if area.level in ("city", "province") and key[-1:] in ("市", "省") and len(key) > 2:
        words.add(key[:-1], area.level, idx, "short")


def build_index(conn, progress=None, side_offset: float = 15.0) -> Index:
    """Read the gazetteer from ``conn`` (one statement per layer) and build the index;
    ``side_offset`` is where interpolated house numbers stand off their road (metres)."""
    t0 = time.perf_counter()
    sql = read_statements()
    cur = conn.cursor(binary=True)

    def rows(name: str):
        if progress:
            progress(name)
        cur.execute(sql[name])
        return cur.fetchall()

    def stream(name: str):
        """The big layers: rows in chunks, so that a million rows never stand as tuples at once."""
        if progress:
            progress(name)
        cur.execute(sql[name])
        while True:
            chunk = cur.fetchmany(50_000)
            if not chunk:
                return
            yield from chunk

    versions = dict(conn.execute(
        "SELECT layer, version FROM layer_state WHERE layer = ANY(%s)", [list(SOURCE_LAYERS)]
    ).fetchall())
    origin = rows("origin")[0]
    lon0, lat0 = (origin[0], origin[1]) if origin[0] is not None else (87.6, 43.8)
    plane = LocalPlane(lon0, lat0)
    ix = Index(plane=plane, versions=versions, side_offset=side_offset)
    words = ix.words
    fwd = plane.fwd

    # admin areas
    data = rows("admin_areas")
    poly_idx, poly_wkb = [], []
    for r in data:
        code, name, level, parent, aliases, px, py, wkb = r
        x, y = fwd(px, py) if px is not None else (None, None)
        area = AdminArea(code, name, level, parent, x, y)
        i = len(ix.admin)
        ix.admin.append(area)
        ix.admin_by_code[code] = i
        _admin_variants(words, area, i, aliases)
        if wkb is not None:
            poly_idx.append(i)
            poly_wkb.append(wkb)
    if poly_wkb:
        geoms = _metric(plane, poly_wkb)
        shapely.prepare(geoms)
        for i, g in zip(poly_idx, geoms):
            ix.admin[i].geom = g
        ix.admin_geoms, ix.admin_geom_idx = geoms, np.array(poly_idx)

    # roads
    data = rows("roads")
    if data:
        geoms = _metric(plane, [r[12] for r in data])
        # a one-part MultiLineString is a LineString: cheaper to interpolate along
        single = shapely.get_num_geometries(geoms) == 1
        geoms[single] = shapely.get_geometry(geoms[single], 0)
        mids = shapely.line_interpolate_point(geoms, 0.5, normalized=True)
        mx, my = shapely.get_x(mids), shapely.get_y(mids)
        for i, r in enumerate(data):
            road = Road(r[0], r[1], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], geoms[i], float(mx[i]), float(my[i]))
            ix.roads.append(road)
            ix.road_by_id[road.id] = i
            _road_variants(words, road.name, i, "name")
            for a in r[2] or ():
                _road_variants(words, a, i, "alias")
            for h in r[3] or ():
                _road_variants(words, h, i, "historic")

    # places
    data = rows("place_names")
    wkb_pos = [(i, r[8]) for i, r in enumerate(data) if r[8] is not None]
    pgeoms = _metric(plane, [w for _, w in wkb_pos]) if wkb_pos else []
    pgeom_of = {i: g for (i, _), g in zip(wkb_pos, pgeoms)}
    for i, r in enumerate(data):
        x, y = fwd(r[6], r[7])
        ix.places.append(Feature(r[0], r[1], r[4], x, y, district=r[5], geom=pgeom_of.get(i)))
        _name_variants(words, r[1], "place", i)
        for a in r[2] or ():
            _name_variants(words, a, "place", i, "alias")
        for h in r[3] or ():
            _name_variants(words, h, "place", i, "historic")

    # courtyards
    for i, r in enumerate(rows("courtyards")):
        x, y = fwd(r[6], r[7])
        ix.courtyards.append(Feature(r[0], r[1], r[2], x, y, street=r[3], community=r[4]))
        _name_variants(words, r[1], "courtyard", i)
        for a in r[5] or ():
            _name_variants(words, a, "courtyard", i, "alias")

    # organisations
    for i, r in enumerate(rows("organisations")):
        x, y = fwd(r[6], r[7])
        ix.orgs.append(Feature(r[0], r[1], r[3], x, y, road=ix.road_by_id.get(r[4]) if r[4] else None, house_number=r[5]))
        _name_variants(words, r[1], "org", i)
        for a in r[2] or ():
            _name_variants(words, a, "org", i, "alias")

    # storefronts
    for i, r in enumerate(rows("storefronts")):
        x, y = fwd(r[5], r[6])
        ix.storefronts.append(Feature(r[0], r[1], r[4], x, y, road=ix.road_by_id.get(r[2]), house_number=r[3]))
        _name_variants(words, r[1], "storefront", i)

    parent_tables = {
        "r": ix.road_by_id,
        "p": {f.id: i for i, f in enumerate(ix.places)},
        "c": {f.id: i for i, f in enumerate(ix.courtyards)},
        "o": {f.id: i for i, f in enumerate(ix.orgs)},
    }

    # house numbers
    ix.houses = _points(stream("house_numbers"), plane, parent_tables, number_key)
    parent_tables["h"] = {hid: i for i, hid in enumerate(ix.houses.ids)}
    ix.buildings = _points(stream("buildings"), plane, parent_tables, building_key)
    del parent_tables["h"]

    # unit grids, responsibility grids, components
    data = rows("unit_grids")
    ix.grids = _coded([(r[0], None, r[2], r[3], r[1]) for r in data], plane)
    if data:
        ix.grids.geoms = _metric(plane, [r[4] for r in data])
    data = rows("responsibility_grids")
    if data:
        geoms = _metric(plane, [r[3] for r in data])
        cent = shapely.point_on_surface(geoms)
        lon, lat = plane.inv(shapely.get_x(cent), shapely.get_y(cent))
        ix.resp = _coded([(r[0], r[1], lo, la, r[2]) for r, lo, la in zip(data, lon, lat)], plane)
        ix.resp.geoms = geoms
    ix.components = _components(stream("components"), plane)

    _combined_trees(ix)
    words.finish()
    ix.build_seconds = time.perf_counter() - t0
    ix.stats = {
        "admin_areas": len(ix.admin), "roads": len(ix.roads), "place_names": len(ix.places),
        "courtyards": len(ix.courtyards), "organisations": len(ix.orgs), "storefronts": len(ix.storefronts),
        "house_numbers": len(ix.houses), "buildings": len(ix.buildings), "unit_grids": len(ix.grids.codes),
        "responsibility_grids": len(ix.resp.codes), "components": len(ix.components.codes),
        "names": len(words.entries),
    }
    log.info("geocoder index built in %.1f s: %s", ix.build_seconds, ix.stats)
    return ix


def _combined_trees(ix: Index) -> None:
    empty = np.empty(0, dtype=object)
    admin = ix.admin_geoms if ix.admin_geoms is not None else empty
    grids = ix.grids.geoms if ix.grids.geoms is not None else empty
    resp = ix.resp.geoms if ix.resp.geoms is not None else empty
    areas = np.concatenate([admin, grids, resp])
    # prepared: a district outline has thousands of vertices, and point-in-polygon against a
    # prepared polygon is a few microseconds instead of a walk around its boundary
    shapely.prepare(areas)
    ix.area_geoms = areas
    ix.area_bounds = (len(admin), len(admin) + len(grids))
    ix.area_tree = STRtree(areas) if len(areas) else None
    houses = shapely.points(np.column_stack([ix.houses.xs, ix.houses.ys])) if len(ix.houses) else empty
    blds = shapely.points(np.column_stack([ix.buildings.xs, ix.buildings.ys])) if len(ix.buildings) else empty
    roads = np.array([r.geom for r in ix.roads], dtype=object) if ix.roads else empty
    ix.near_geoms = np.concatenate([houses, blds, roads])
    ix.near_bounds = (len(houses), len(houses) + len(blds))
    ix.near_tree = STRtree(ix.near_geoms) if len(ix.near_geoms) else None


def _points(data, plane: LocalPlane, parents: dict[str, dict[str, int]], keyfn) -> Points:
    """Columnar house numbers / buildings with their per-parent number tables."""
    from array import array

    pts = Points()
    ids: list[str] = []
    numbers: list[str] = []
    pkinds: list[str] = []
    pidx: list[int] = []
    lon, lat = array("d"), array("d")
    by_parent: dict[tuple[str, int], dict[str, int]] = {}
    keys: dict[str, str] = {}  # number text -> key, computed once per distinct text
    texts: dict[str, str] = {}  # one string object per distinct number text ("1", "2" ... repeat)
    kept = 0
    for r in data:
        kind = PARENT_KIND.get(r[1])
        parent = parents.get(kind, {}).get(r[2]) if kind else None
        if parent is None:
            continue  # orphan (the loader should have refused it): unreachable by a parent search
        number = texts.setdefault(r[3], r[3])
        key = keys.get(number)
        if key is None:
            key = keys[number] = keyfn(number)
        ids.append(r[0])
        numbers.append(number)
        pkinds.append(kind)
        pidx.append(parent)
        lon.append(r[4])
        lat.append(r[5])
        table = by_parent.get((kind, parent))
        if table is None:
            by_parent[(kind, parent)] = {key: kept}
        else:
            had = table.get(key)
            # a number written twice under one parent (it happens in real data): keep both,
            # as a tuple, so that ranking can choose; the common case stays a plain int
            table[key] = kept if had is None else (had + (kept,) if isinstance(had, tuple) else (had, kept))
        kept += 1
    pts.ids, pts.numbers, pts.parent_kind, pts.parent_idx = ids, numbers, pkinds, pidx
    pts.xs, pts.ys = plane.fwd(np.frombuffer(lon, dtype=float), np.frombuffer(lat, dtype=float))
    pts.by_parent = by_parent
    return pts


def _components(data, plane: LocalPlane) -> Coded:
    """Components by code (a million of them at scale: streamed, names shared)."""
    from array import array

    out = Coded()
    names: dict[str, str] = {}
    lon, lat = array("d"), array("d")
    for code, name, x, y in data:
        out.codes.append(code)
        out.names.append(names.setdefault(name, name) if name is not None else None)
        out.extra.append(None)
        lon.append(x)
        lat.append(y)
    out.xs, out.ys = plane.fwd(np.frombuffer(lon, dtype=float), np.frombuffer(lat, dtype=float))
    out.by_code = {c: i for i, c in enumerate(out.codes)}
    return out


def _coded(data: list, plane: LocalPlane) -> Coded:
    out = Coded()
    if not data:
        return out
    out.codes = [r[0] for r in data]
    out.names = [r[1] for r in data]
    out.extra = [r[4] for r in data]
    out.xs, out.ys = plane.fwd(np.array([r[2] for r in data], dtype=float), np.array([r[3] for r in data], dtype=float))
    out.by_code = {c: i for i, c in enumerate(out.codes)}
    return out
