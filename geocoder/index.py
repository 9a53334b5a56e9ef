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
from operator import itemgetter
from pathlib import Path

import numpy as np
import shapely
from psycopg.rows import namedtuple_row
from scipy.spatial import cKDTree
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from .dictionary import Dictionary
from .normalise import LANE_SUFFIXES, ROAD_SUFFIXES, building_key, digits_variant, name_key, number_key, road_stem
from .plane import Planes
from .query import ADMIN_LEVELS

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
    geom: BaseGeometry | None = None  # metric polygon, district/street/community only


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
    geom: BaseGeometry  # metric LineString / MultiLineString
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
    geom: BaseGeometry | None = None  # metric polygon of a place, when it has one


# A parent's numbers: number key -> its position, or a tuple of them for a number written twice.
NumberTable = dict[str, int | tuple[int, ...]]


def each(value: int | tuple[int, ...] | None) -> tuple[int, ...]:
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
    by_parent: dict[tuple[str, int], NumberTable] = field(default_factory=dict)

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

    plane: Planes  # one metric plane per region of the data (geocoder.plane)
    versions: dict[str, int]
    side_offset: float = 15.0  # metres from a road's centre line to its interpolated house numbers
    admin: list[AdminArea] = field(default_factory=list)
    admin_by_code: dict[str, int] = field(default_factory=dict)
    admin_geoms: np.ndarray | None = None  # metric polygons of areas with an outline
    # their positions in ``admin`` (empty while no area has an outline)
    admin_geom_idx: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=int))
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
    house_sides: dict = field(default_factory=dict)  # road index -> its known house points per side; city shares
    # one tree over every polygon a point is looked up in (admin areas, unit grids, responsibility
    # grids) and one over every feature reverse looks for (house numbers, buildings, roads): one
    # query answers what three would, and shapely's per-call overhead dominates at these sizes
    area_tree: STRtree | None = None
    area_geoms: np.ndarray | None = None
    area_bounds: tuple[int, int] = (0, 0)  # [0, a) admin, [a, g) unit grids, [g, ...) responsibility grids
    # nearest house number / building: k-d trees over their coordinates (a shapely point and its
    # STRtree entry cost ~300 bytes each, a k-d tree ~25: 2.7 GB less at 10 million house numbers)
    near_houses: cKDTree | None = None
    near_buildings: cKDTree | None = None
    road_tree: STRtree | None = None  # over road_geoms
    road_geoms: np.ndarray | None = None

    def feature_table(self, kind: str) -> list:
        """The list that dictionary entries of ``kind`` index into."""
        tables: dict[str, list] = {
            "road": self.roads, "place": self.places, "courtyard": self.courtyards,
            "org": self.orgs, "storefront": self.storefronts,
        }
        return tables.get(kind) or self.admin


# -- building ---------------------------------------------------------------------------------
def _name_variants(words: Dictionary, name: str, kind: str, idx: int, how: str = "name") -> None:
    key = name_key(name)
    words.add(key, kind, idx, how)
    digits = digits_variant(key)
    if digits != key:
        words.add(digits, kind, idx, "digits")


# The branch of a brand: 中国银行沙依巴克支行, 中国电信天山营业厅, 中国建设银行新华分理处. The brand is the
# name up to its trade word; the rest names the branch (a place, a district, a number).
_BRANCH = re.compile(r"^(.{2,}?(?:银行|信用社|电信|移动|联通|邮政|保险|证券|石油|石化|烟草|电力|燃气|自来水|供电))"
                     r".{1,12}?(?:支行|分行|分理处|营业厅|营业部|营业所|储蓄所|分公司|支公司|分局|加油站|供电所|网点)$")


def _brand_variants(words: Dictionary, name: str, idx: int) -> None:
    """The brand of a branch as a key of its own (how "brand"): a query naming only the brand finds
    every branch, at lower confidence, and one naming an area as well finds the branch in it."""
    m = _BRANCH.match(name_key(name))
    if m:
        words.add(m.group(1), "org", idx, "brand")


def _road_variants(words: Dictionary, name: str, idx: int, how: str) -> None:
    _name_variants(words, name, "road", idx, how)
    split = road_stem(name_key(name))
    if split:
        stem, suffix = split
        for other in ROAD_SUFFIXES:
            if other != suffix and (other in LANE_SUFFIXES) == (suffix in LANE_SUFFIXES):
                words.add(stem + other, "road", idx, "suffix")
        words.add(stem, "road", idx, "stem" if suffix == "路" else "stem_lane" if suffix in LANE_SUFFIXES else "stem2")


_ADMIN_TAILS = {
    "street": (("街道办事处", "街道"), ("街道办", "街道")),
    "community": (("社区居民委员会", "社区"), ("社区居委会", "社区"), ("居委会", ""),
                  ("村民委员会", "村"), ("村委会", "村")),
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
    brief = _admin_short(key, area.level)
    # not when another area already answers to it (乌鲁木齐县 -> 乌鲁木齐 is the city's short name)
    if brief and not any(e.kind in ADMIN_LEVELS for e in words.entries.get(brief, ())):
        words.add(brief, area.level, idx, "short")


# how people shorten a province, prefecture or county-level name: 新疆维吾尔自治区 -> 新疆, 阿克苏地区
# -> 阿克苏, 伊犁哈萨克自治州 -> 伊犁, 库车市 -> 库车, 沙雅县 -> 沙雅 (not 天山区 -> 天山: a district's
# short form is a road's or a mountain's name too often)
_ETHNIC = ("(?:维吾尔|哈萨克|回族|蒙古族?|柯尔克孜|塔吉克|锡伯|壮族|藏族|苗族|彝族|土家族|朝鲜族|满族|傣族|白族|侗族|"
           "瑶族|羌族|黎族)*")
_SHORTEN = {
    "province": re.compile(rf"^(.{{2,}}?){_ETHNIC}(?:自治区|省|市)$"),
    "city": re.compile(rf"^(.{{2,}}?){_ETHNIC}(?:自治州|地区|盟|市)$"),
    "district": re.compile(rf"^(.{{2,}}?){_ETHNIC}(?:自治县|县|市|旗)$"),
}


def _admin_short(key: str, level: str) -> str | None:
    pattern = _SHORTEN.get(level)
    m = pattern.match(key) if pattern else None
    return m.group(1) if m else None


class _Reader:
    """Runs the named statements of ``sql/gazetteer.sql``; rows come as named tuples, read by
    column name (a statement's columns may be reordered without touching the code here)."""

    def __init__(self, conn, progress=None) -> None:
        self.sql = read_statements()
        self.cur = conn.cursor(binary=True, row_factory=namedtuple_row)
        self.progress = progress

    def rows(self, name: str) -> list:
        """All rows of statement ``name``."""
        if self.progress:
            self.progress(name)
        self.cur.execute(self.sql[name])
        return self.cur.fetchall()

    def stream(self, name: str, *columns: str):
        """The big layers: rows in chunks, so that a million rows never stand as tuples at once,
        as plain tuples of ``columns`` in that order (found by name in the statement's result; a
        named tuple per row cost 0.2 s per 200,000 rows)."""
        if self.progress:
            self.progress(name)
        cur = self.cur.connection.cursor(binary=True)
        cur.execute(self.sql[name])
        names = [d.name for d in cur.description]
        missing = [c for c in columns if c not in names]
        if missing:
            raise KeyError(f"statement {name} of {SQL_FILE.name} has no column {', '.join(missing)}")
        at = [names.index(c) for c in columns]
        pick = None if at == list(range(len(columns))) else itemgetter(*at)
        while True:
            chunk = cur.fetchmany(50_000)
            if not chunk:
                return
            yield from (chunk if pick is None else map(pick, chunk))


def build_index(conn, progress=None, side_offset: float = 15.0) -> Index:
    """Read the gazetteer from ``conn`` (one statement per layer) and build the index;
    ``side_offset`` is where interpolated house numbers stand off their road (metres)."""
    t0 = time.perf_counter()
    read = _Reader(conn, progress)
    versions = dict(conn.execute(
        "SELECT layer, version FROM layer_state WHERE layer = ANY(%s)", [list(SOURCE_LAYERS)]
    ).fetchall())
    ix = Index(plane=_planes(read), versions=versions, side_offset=side_offset)
    _read_admin(ix, read.rows("admin_areas"))
    _read_roads(ix, read.rows("roads"))
    _read_places(ix, read.rows("place_names"))
    _read_features(ix, read)
    parents = {
        "r": ix.road_by_id,
        "p": {f.id: i for i, f in enumerate(ix.places)},
        "c": {f.id: i for i, f in enumerate(ix.courtyards)},
        "o": {f.id: i for i, f in enumerate(ix.orgs)},
    }
    numbered = ("id", "parent_kind", "parent_id", "number", "lon", "lat")
    ix.houses = _points(read.stream("house_numbers", *numbered), ix.plane, parents, number_key)
    parents["h"] = {hid: i for i, hid in enumerate(ix.houses.ids)}
    ix.buildings = _points(read.stream("buildings", *numbered), ix.plane, parents, building_key)
    _read_grids(ix, list(read.stream("unit_grids", "code", "community_code", "lon", "lat", "wkb")),
                read.rows("responsibility_grids"))
    ix.components = _components(read.stream("components", "code", "name", "lon", "lat"), ix.plane)
    _combined_trees(ix)
    ix.words.finish()
    ix.build_seconds = time.perf_counter() - t0
    ix.stats = {
        "admin_areas": len(ix.admin), "roads": len(ix.roads), "place_names": len(ix.places),
        "courtyards": len(ix.courtyards), "organisations": len(ix.orgs), "storefronts": len(ix.storefronts),
        "house_numbers": len(ix.houses), "buildings": len(ix.buildings), "unit_grids": len(ix.grids.codes),
        "responsibility_grids": len(ix.resp.codes), "components": len(ix.components.codes),
        "names": len(ix.words.entries), "regions": len(ix.plane),
    }
    log.info("geocoder index built in %.1f s: %s", ix.build_seconds, ix.stats)
    return ix


def _planes(read: _Reader) -> Planes:
    """A plane per region of the data (each city's districts); one plane on the data's middle when
    the gazetteer has no district outlines."""
    regions = [(r.region, (r.xmin, r.ymin, r.xmax, r.ymax)) for r in read.rows("regions")]
    if regions:
        return Planes(regions)
    origin = read.rows("origin")[0]
    return Planes.single(origin.lon, origin.lat) if origin.lon is not None else Planes.single(87.6, 43.8)


def _metric(planes: Planes, wkbs: list) -> np.ndarray:
    """Geometries (WKB, lon/lat) in metres, each whole in the plane of the region its middle lies in."""
    geoms = shapely.from_wkb(np.array(wkbs, dtype=object))
    if len(planes) == 1:
        return shapely.transform(geoms, planes.plane(0).fwd_coords)
    b = shapely.bounds(geoms)
    region = planes.region_of((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2)
    out = np.empty(len(geoms), dtype=object)
    for k in np.unique(region):
        at = region == k
        out[at] = shapely.transform(geoms[at], planes.plane(int(k)).fwd_coords)
    return out


def _xy(planes: Planes, lon, lat) -> tuple[float | None, float | None]:
    """One point in metres, or (None, None) for a missing one."""
    if lon is None:
        return None, None
    x, y = planes.fwd(lon, lat)
    return float(x), float(y)


def _read_admin(ix: Index, rows: list) -> None:
    """Admin areas, their names and (district, street, community) outlines."""
    poly_idx, poly_wkb = [], []
    for r in rows:
        x, y = _xy(ix.plane, r.lon, r.lat)
        area = AdminArea(r.code, r.name, r.level, r.parent_code, x, y)
        i = len(ix.admin)
        ix.admin.append(area)
        ix.admin_by_code[r.code] = i
        _admin_variants(ix.words, area, i, r.aliases)
        if r.wkb is not None:
            poly_idx.append(i)
            poly_wkb.append(r.wkb)
    if poly_wkb:
        geoms = _metric(ix.plane, poly_wkb)
        shapely.prepare(geoms)
        for i, g in zip(poly_idx, geoms):
            ix.admin[i].geom = g
        ix.admin_geoms, ix.admin_geom_idx = geoms, np.array(poly_idx)


def _read_roads(ix: Index, rows: list) -> None:
    """Roads with their address ranges, names, aliases and historic names."""
    if not rows:
        return
    geoms = _metric(ix.plane, [r.wkb for r in rows])
    # a one-part MultiLineString is a LineString: cheaper to interpolate along
    single = shapely.get_num_geometries(geoms) == 1
    geoms[single] = shapely.get_geometry(geoms[single], 0)
    mids = shapely.line_interpolate_point(geoms, 0.5, normalized=True)
    mx, my = shapely.get_x(mids), shapely.get_y(mids)
    for i, r in enumerate(rows):
        road = Road(r.id, r.name, r.kind, r.district_code, r.left_from, r.left_to, r.right_from, r.right_to,
                    r.left_parity, r.right_parity, geoms[i], float(mx[i]), float(my[i]))
        ix.roads.append(road)
        ix.road_by_id[road.id] = i
        _road_variants(ix.words, road.name, i, "name")
        for a in r.aliases or ():
            _road_variants(ix.words, a, i, "alias")
        for h in r.historic_names or ():
            _road_variants(ix.words, h, i, "historic")


def _read_places(ix: Index, rows: list) -> None:
    """Place names at their inner point, with their outline where they have one."""
    with_outline = [(i, r.wkb) for i, r in enumerate(rows) if r.wkb is not None]
    outlines: np.ndarray | list = _metric(ix.plane, [w for _, w in with_outline]) if with_outline else []
    outline_of = {i: g for (i, _), g in zip(with_outline, outlines)}
    for i, r in enumerate(rows):
        x, y = ix.plane.fwd(r.lon, r.lat)
        ix.places.append(Feature(r.id, r.name, r.kind, x, y, district=r.district_code, geom=outline_of.get(i)))
        _name_variants(ix.words, r.name, "place", i)
        for a in r.aliases or ():
            _name_variants(ix.words, a, "place", i, "alias")
        for h in r.historic_names or ():
            _name_variants(ix.words, h, "place", i, "historic")


def _read_features(ix: Index, read: _Reader) -> None:
    """Courtyards, organisations and storefronts: named points."""
    fwd, words = ix.plane.fwd, ix.words
    for i, r in enumerate(read.rows("courtyards")):
        x, y = fwd(r.lon, r.lat)
        ix.courtyards.append(Feature(r.id, r.name, r.kind, x, y, street=r.street_code, community=r.community_code))
        _name_variants(words, r.name, "courtyard", i)
        for a in r.aliases or ():
            _name_variants(words, a, "courtyard", i, "alias")
    for i, r in enumerate(read.rows("organisations")):
        x, y = fwd(r.lon, r.lat)
        road = ix.road_by_id.get(r.road_id) if r.road_id else None
        ix.orgs.append(Feature(r.id, r.name, r.kind, x, y, road=road, house_number=r.house_number))
        _name_variants(words, r.name, "org", i)
        _brand_variants(words, r.name, i)
        for a in r.aliases or ():
            _name_variants(words, a, "org", i, "alias")
    for i, r in enumerate(read.rows("storefronts")):
        x, y = fwd(r.lon, r.lat)
        ix.storefronts.append(Feature(r.id, r.name, r.category, x, y, road=ix.road_by_id.get(r.road_id),
                                      house_number=r.house_number))
        _name_variants(words, r.name, "storefront", i)


def _read_grids(ix: Index, grids: list[tuple], resp: list) -> None:
    """Unit grids ((code, community, lon, lat, outline) tuples) and responsibility grids."""
    ix.grids = _coded([(code, None, lon, lat, community) for code, community, lon, lat, _ in grids], ix.plane)
    if grids:
        ix.grids.geoms = _metric(ix.plane, [g[4] for g in grids])
    if resp:
        geoms = _metric(ix.plane, [r.wkb for r in resp])
        cent = shapely.point_on_surface(geoms)
        lon, lat = ix.plane.inv(shapely.get_x(cent), shapely.get_y(cent))
        ix.resp = _coded([(r.code, r.name, lo, la, r.district_code) for r, lo, la in zip(resp, lon, lat)], ix.plane)
        ix.resp.geoms = geoms


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
    if len(ix.houses):
        ix.near_houses = cKDTree(np.column_stack([ix.houses.xs, ix.houses.ys]))
    if len(ix.buildings):
        ix.near_buildings = cKDTree(np.column_stack([ix.buildings.xs, ix.buildings.ys]))
    ix.road_geoms = np.array([r.geom for r in ix.roads], dtype=object) if ix.roads else empty
    ix.road_tree = STRtree(ix.road_geoms) if ix.roads else None


def _points(data, plane: Planes, parents: dict[str, dict[str, int]], keyfn) -> Points:
    """Columnar house numbers / buildings with their per-parent number tables."""
    from array import array

    pts = Points()
    ids: list[str] = []
    numbers: list[str] = []
    pkinds: list[str] = []
    pidx: list[int] = []
    lon, lat = array("d"), array("d")
    by_parent: dict[tuple[str, int], NumberTable] = {}
    keys: dict[str, str] = {}  # number text -> key, computed once per distinct text
    texts: dict[str, str] = {}  # one string object per distinct number text ("1", "2" ... repeat)
    kept = 0
    for rid, parent_kind, parent_id, text, x, y in data:
        kind = PARENT_KIND.get(parent_kind)
        if kind is None:
            continue  # orphan (the loader should have refused it): unreachable by a parent search
        parent = parents.get(kind, {}).get(parent_id)
        if parent is None:
            continue  # orphan, as above
        number = texts.setdefault(text, text)
        key = keys.get(number)
        if key is None:
            key = keys[number] = keyfn(number)
        ids.append(rid)
        numbers.append(number)
        pkinds.append(kind)
        pidx.append(parent)
        lon.append(x)
        lat.append(y)
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


def _components(data, plane: Planes) -> Coded:
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


def _coded(data: list, plane: Planes) -> Coded:
    out = Coded()
    if not data:
        return out
    out.codes = [r[0] for r in data]
    out.names = [r[1] for r in data]
    out.extra = [r[4] for r in data]
    out.xs, out.ys = plane.fwd(np.array([r[2] for r in data], dtype=float), np.array([r[3] for r in data], dtype=float))
    out.by_code = {c: i for i, c in enumerate(out.codes)}
    return out
