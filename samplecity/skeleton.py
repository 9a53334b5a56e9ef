"""The real skeleton: province, city and district outlines, street offices and communities.

The files live in ``data-samples/real/`` (copied from the project's shared real data with their
provenance, see data-samples/README.md). Nothing here is synthetic.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape

from .geo import to_metric

REAL_DIR = Path(__file__).resolve().parent.parent / "data-samples" / "real"
OUTLINES = "urumqi_outlines_cgcs2000.geojson"
STREETS = "urumqi_streets.csv"
COMMUNITIES = "urumqi_communities.csv"
PROVINCE_CODE, CITY_CODE = "650000", "650100"
PROVINCE_NAME, CITY_NAME = "新疆维吾尔自治区", "乌鲁木齐市"


@dataclass
class Area:
    """One administrative area; ``geom`` is in metres (EPSG:4538)."""

    code: str
    name: str
    level: str
    parent_code: str | None
    urban: bool = True
    # a shapely geometry, in metres: the outlines' as read; None until build_admin gives street
    # offices and communities theirs
    geom: Any = None
    aliases: list[str] = field(default_factory=list)
    children: list["Area"] = field(default_factory=list)

    @property
    def district_code(self) -> str:
        return self.code[:6]


@dataclass
class Skeleton:
    province: Area
    city: Area
    districts: list[Area]

    def streets(self) -> list[Area]:
        return [s for d in self.districts for s in d.children]

    def communities(self) -> list[Area]:
        return [c for s in self.streets() for c in s.children]


def is_urban_street(name: str) -> bool:
    """Street offices (街道, 片区) are urban; towns, townships, farms and regiments are rural."""
    return name.endswith("街道") or name.endswith("片区")


def is_urban_community(name: str) -> bool:
    """Residents' committees (社区居委会, 居委会) are urban; villages (村委会), farm squads rural."""
    if "村委会" in name or name.endswith("村"):
        return False
    return "社区" in name or name.endswith("居委会")


def short_district(name: str) -> str:
    return name


def load_skeleton(real_dir: Path = REAL_DIR) -> Skeleton:
    """Read the real outlines (EPSG:4490 in the file, metres in memory), streets and communities."""
    features = json.loads((real_dir / OUTLINES).read_text(encoding="utf-8"))["features"]
    areas = {}
    for ft in features:
        p = ft["properties"]
        # densify first: a long outline edge is straight in lon/lat, not in metres (metres off)
        geom = to_metric(shapely.segmentize(shape(ft["geometry"]), 0.002))
        areas[p["code"]] = Area(p["code"], p["name"], p["level"], p.get("parent_code"), geom=geom)
    province, city = areas[PROVINCE_CODE], areas[CITY_CODE]
    districts = sorted((a for a in areas.values() if a.level == "district"), key=lambda a: a.code)
    by_code = {d.code: d for d in districts}
    with (real_dir / STREETS).open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            d = by_code[row["district_code"]]
            d.children.append(Area(row["code"], row["name"], "street", d.code, is_urban_street(row["name"])))
    streets = {s.code: s for d in districts for s in d.children}
    with (real_dir / COMMUNITIES).open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            s = streets[row["street_code"]]
            s.children.append(Area(row["code"], row["name"], "community", s.code, is_urban_community(row["name"])))
    for d in districts:
        d.children.sort(key=lambda a: a.code)
        for s in d.children:
            s.children.sort(key=lambda a: a.code)
    return Skeleton(province, city, districts)


def import_real(src: Path, dst: Path = REAL_DIR) -> None:
    """Copy the real skeleton out of the shared real-data folder (run once, by hand)."""
    import shutil

    dst.mkdir(parents=True, exist_ok=True)
    out: list[tuple[str, str, str, str | None, dict]] = []  # code, name, level, parent, GeoJSON geometry
    prov = json.loads((src / "xinjiang_province_cgcs2000.geojson").read_text(encoding="utf-8"))["features"][0]
    out.append((PROVINCE_CODE, PROVINCE_NAME, "province", None, prov["geometry"]))
    for ft in json.loads((src / "xinjiang_prefectures_cgcs2000.geojson").read_text(encoding="utf-8"))["features"]:
        if ft["properties"]["city_adcode"] == CITY_CODE:
            out.append((CITY_CODE, CITY_NAME, "city", PROVINCE_CODE, ft["geometry"]))
    for ft in json.loads((src / "xinjiang_counties_cgcs2000.geojson").read_text(encoding="utf-8"))["features"]:
        p = ft["properties"]
        if p["city_adcode"] == CITY_CODE:
            out.append((p["district_adcode"], p["district_name"], "district", CITY_CODE, ft["geometry"]))
    fc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}},
        "features": [
            {"type": "Feature", "properties": {"code": c, "name": n, "level": lv, "parent_code": pc},
             "geometry": shapely.geometry.mapping(shapely.make_valid(shape(g)))}
            for c, n, lv, pc, g in out
        ],
    }
    (dst / OUTLINES).write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    for name in (STREETS, COMMUNITIES):
        shutil.copyfile(src / name, dst / name)


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    import sys

    import_real(Path(sys.argv[1]))
