"""City components (部件, GB/T 30428.2) of the evaluation town (synthetic).

Codes: county adcode (6) + major class (2) + minor class (2) + serial (6), the classes those of
the project's class dictionary (layers/classes.csv: 0101 上水井盖 … 0608 监控电子眼), written with
the names a city's survey uses (0308 as 果皮箱). Mostly points along the roads (manholes on the
centre line, lamps, bins and street trees at the kerb), signals and cameras at the crossings of
larger roads; lines (道路护栏 on main roads, 绿地护栏 round green plots) and polygons (绿地,
停车场, 工地). Serials run per class in the order of generation. ``grid_code`` is the unit grid
under the component's point on surface, left empty on about 15 % of rows (the loader derives it).
"""
from __future__ import annotations

import math

import numpy as np
import shapely
import shapely.ops
from shapely.geometry import LineString, Point

from .addresses import frame
from .county import County
from .features import HALF_WIDTH, Carver
from .model import Component, Courtyard, Place, Road, UnitGrid

# (major, minor, name)
ALONG = [("01", "01", "上水井盖", 8), ("01", "02", "污水井盖", 8), ("01", "03", "雨水井盖", 6),
         ("01", "04", "雨水箅子", 6), ("01", "05", "电力井盖", 3), ("01", "07", "通讯井盖", 3),
         ("01", "11", "燃气井盖", 2), ("01", "14", "消防栓", 2), ("01", "16", "通讯交接箱", 1),
         ("01", "17", "路灯", 14), ("03", "08", "果皮箱", 8), ("03", "07", "垃圾箱", 3),
         ("04", "02", "行道树", 10), ("02", "09", "交通标志牌", 2), ("03", "04", "广告牌匾", 2),
         ("05", "01", "宣传栏", 1)]
CROSSING = [("交通信号灯", "02", "10"), ("监控电子眼", "06", "08"), ("路名牌", "02", "15")]
ON_LINE = {"上水井盖", "污水井盖", "雨水井盖", "电力井盖", "通讯井盖", "燃气井盖"}
STATUS = (["完好"] * 17) + ["破损", "破损", "丢失", "占用"]


def owner(major: str, name: str, county: County) -> str:
    c, s = county.name, county.short
    special = {"电力井盖": f"国网{s}供电公司", "变压器": f"国网{s}供电公司", "通讯井盖": f"中国电信{s}分公司",
               "通讯交接箱": f"中国电信{s}分公司", "燃气井盖": f"{s}燃气有限公司", "监控电子眼": f"{c}公安局",
               "交通信号灯": f"{c}公安局交通警察大队"}
    by_major = {"01": f"{c}住房和城乡建设局", "02": f"{c}交通运输局", "03": f"{c}城市管理局",
                "04": f"{c}园林绿化服务中心", "05": f"{c}自然资源局", "06": f"{c}应急管理局"}
    return special.get(name, by_major.get(major, f"{c}城市管理局"))


def components(county: County, roads: list[Road], places: list[Place], courtyards: list[Courtyard],
               carver: Carver, rng: np.random.Generator) -> list[tuple[str, str, str, object]]:
    """(major, minor, name, local geometry) of every component; codes come later."""
    out: list[tuple[str, str, str, object]] = []
    weights = np.array([w for *_, w in ALONG], float)
    weights /= weights.sum()
    for road in roads:
        line, half = road.geom, HALF_WIDTH[road.kind]
        gap = (25, 60) if road.kind != "lane" else (50, 90)
        s = rng.uniform(5, 30)
        while s < line.length - 5:
            major, minor, name, _ = ALONG[int(rng.choice(len(ALONG), p=weights))]
            if road.kind == "lane" and name in ("交通标志牌", "广告牌匾", "行道树"):
                name, major, minor = "路灯", "01", "17"
            p, t, nl = frame(line, s)
            off = rng.uniform(-3, 3) if name in ON_LINE else rng.choice([-1, 1]) * (half + rng.uniform(0.5, 4))
            out.append((major, minor, name, Point(p + nl * off)))
            s += rng.uniform(*gap)
        if road.kind == "main":
            s = rng.uniform(50, 200)
            while s < line.length - 50:  # bus shelters
                p, t, nl = frame(line, s)
                out.append(("02", "03", "公交站亭", Point(p + nl * rng.choice([-1, 1]) * (half + 2.5))))
                s += rng.uniform(380, 600)
            for _ in range(int(rng.integers(1, 4))):  # railings on the centre line
                a = rng.uniform(0, max(line.length - 260, 1))
                seg = shapely.ops.substring(line, a, min(a + rng.uniform(80, 250), line.length))
                if seg.geom_type == "LineString" and seg.length > 40:
                    out.append(("02", "13", "道路护栏", seg))
    # signals, cameras and name plates where larger roads cross
    big = [r for r in roads if r.kind in ("main", "secondary")]
    for i, a in enumerate(big):
        for b in big[i + 1:]:
            for p in shapely.get_parts(a.geom.intersection(b.geom)):
                if p.geom_type != "Point":
                    continue
                for name, major, minor in CROSSING:
                    if rng.random() < 0.8:
                        ang = rng.uniform(0, 2 * np.pi)
                        r = rng.uniform(8, 16)
                        out.append((major, minor, name, Point(p.x + r * math.cos(ang), p.y + r * math.sin(ang))))
    # plots: green, parking, building sites; railings round some green plots
    for name, major, minor, k, size in (("绿地", "04", "05", 16, (30, 90)), ("停车场", "02", "01", 10, (30, 70)),
                                        ("工地", "05", "04", 4, (60, 120))):
        made = 0
        for _ in range(k * 6):
            if made == k:
                break
            i = int(rng.integers(len(carver.parcels)))
            g = carver.carve(i, rng.uniform(*size), rng.uniform(*size), rng, share=0.5)
            if g is None:
                continue
            out.append((major, minor, name, g))
            made += 1
            if name == "绿地" and rng.random() < 0.5:
                out.append(("04", "08", "绿地护栏", LineString(g.exterior.coords)))
    # in parks, squares and courtyards
    for pl in places:
        if pl.kind in ("park", "square") and pl.geom.geom_type == "Polygon":
            for name, major, minor in (("健身设施", "06", "06"), ("街头坐椅", "04", "07"), ("公共厕所", "03", "01")):
                for _ in range(int(rng.integers(1, 4))):
                    out.append((major, minor, name, _inside(pl.geom, rng)))
    for c in courtyards:
        for name, major, minor in (("宣传栏", "05", "01"), ("变压器", "01", "22"), ("健身设施", "06", "06")):
            if rng.random() < 0.35:
                out.append((major, minor, name, _inside(c.geom, rng)))
    return [x for x in out if x[3] is not None]


def _inside(area, rng: np.random.Generator) -> Point | None:
    x0, y0, x1, y1 = area.bounds
    for _ in range(50):
        p = Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
        if area.contains(p):
            return p
    return None


def code_components(drafts: list[tuple[str, str, str, object]], grids: list[UnitGrid], county: County,
                    rng: np.random.Generator) -> list[Component]:
    """Codes and grid codes for components whose point on surface (in EPSG:4490, as written)
    lies in a unit grid; the others (beyond the town's grids) are left out."""
    tree = shapely.STRtree([g.ll for g in grids])
    serial: dict[tuple[str, str], int] = {}
    out = []
    for major, minor, name, geom in drafts:
        ll = county.to_lonlat(geom)
        if not ll.is_valid or ll.is_empty:
            continue
        pos = ll.point_on_surface()
        hits = tree.query(pos, predicate="within")
        if len(hits) != 1:  # outside the grids, or on a shared edge
            continue
        n = serial[(major, minor)] = serial.get((major, minor), 0) + 1
        grid = grids[int(hits[0])].code if rng.random() < 0.85 else None
        c = Component(f"{county.code}{major}{minor}{n:06d}", name, geom, str(rng.choice(STATUS)),
                      owner(major, name, county), grid)
        c.ll = ll
        out.append(c)
    return out
