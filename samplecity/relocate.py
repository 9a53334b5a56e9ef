"""A generated city moved to another prefecture: a second city for a provincial server's tests.

The generator builds its cities on Urumqi's real skeleton. A provincial server holds many cities
far apart, in other Gauss-Kruger zones; :func:`relocate` writes a copy of a generated city (and
of its evaluation set) placed elsewhere, as a city of its own:

* **geometry** moved rigidly in metres: a point keeps its easting and northing relative to the
  city's centre, from Urumqi's zone (EPSG:4538, 87° E) to the zone of the new centre (Kashgar,
  76° E: EPSG:4534, 75° E). Shapes, distances and the 15 m house-number offsets stay what they
  were, which a shift in degrees would not keep (a degree of longitude is 7 % longer at 39° N
  than at 44° N);
* **codes** of the prefecture (``6501``...) take the new prefix (``6531``...), in every code and
  in the ids that carry one (``R65010200035``); ids without a code (``O00001``, ``S00001``, case
  numbers) get a letter in front; the province row stays the province's, the city row is renamed.

* **the city's own name** inside other names (乌鲁木齐市第一中学, 乌市一中, 乌鲁木齐县) takes the new
  city's (:attr:`Placement.renames`), in the layers and in the queries.

Other names are left as they are: a provincial gazetteer has 人民路 and 解放路 in every city, and
the city a query names decides (the tests put each query's city name in front).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from pyproj import Transformer

from urbangis.layers.geodesy import zone_srid

from .geo import GEO_EPSG, METRIC_EPSG
from .skeleton import CITY_CODE, CITY_NAME

SOURCE_PREFIX = CITY_CODE[:4]  # 6501
# fields holding a code of the prefecture, or an id that embeds one
CODE_FIELDS = {"code", "parent_code", "community_code", "street_code", "district_code", "grid_code", "grid_codes",
               "component_code", "responsibility_grid", "id", "parent_id", "road_id", "supervisor_id", "case_no",
               "duplicate_of"}
_EMBEDDED = re.compile(rf"^([A-Z]*){SOURCE_PREFIX}")


@dataclass(frozen=True)
class Placement:
    """Where a relocated city goes: its prefecture's 4-digit code, the city row's name, its centre
    (lon, lat), the letter put before ids that carry no code, and how the old city's name is
    replaced inside other names (longest first)."""

    prefix: str
    name: str
    centre: tuple[float, float]
    letter: str = "K"
    renames: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not (len(self.prefix) == 4 and self.prefix.isdigit() and self.prefix[:2] == SOURCE_PREFIX[:2]):
            raise ValueError(f"prefix {self.prefix!r}: a 4-digit prefecture code of the same province "
                             f"({SOURCE_PREFIX[:2]}xx)")


KASHGAR = Placement("6531", "喀什地区", (75.99, 39.47),
                    renames=((CITY_NAME, "喀什市"), (CITY_NAME[:-1], "喀什"), ("乌市", "喀市")))


class Mover:
    """The rigid move of one city: metres in Urumqi's zone -> the same metres around the new centre."""

    def __init__(self, source_centre: tuple[float, float], to: Placement) -> None:
        self.to = to
        self.zone = zone_srid(to.centre[0])
        self._src = Transformer.from_crs(GEO_EPSG, METRIC_EPSG, always_xy=True)
        self._dst = Transformer.from_crs(self.zone, GEO_EPSG, always_xy=True)
        sx, sy = self._src.transform(*source_centre)
        dx, dy = Transformer.from_crs(GEO_EPSG, self.zone, always_xy=True).transform(*to.centre)
        self.shift = (dx - sx, dy - sy)

    def coords(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arrays of lon/lat moved."""
        x, y = self._src.transform(lon, lat)
        return self._dst.transform(np.asarray(x) + self.shift[0], np.asarray(y) + self.shift[1])

    def geometry(self, geoms: np.ndarray) -> np.ndarray:
        """An array of lon/lat geometries moved."""
        def fn(c: np.ndarray) -> np.ndarray:
            return np.column_stack(self.coords(c[:, 0], c[:, 1]))

        return shapely.transform(geoms, fn)

    def text(self, value: str) -> str:
        """A name or any text with the old city's name in it replaced."""
        for old, new in self.to.renames:
            value = value.replace(old, new)
        return value

    def value(self, field: str, value):
        """A field's value in the new city: codes and ids renamed, the city's name in texts."""
        if not isinstance(value, str) or not value:
            return value
        if field not in CODE_FIELDS:
            return self.text(value)
        if field == "grid_codes":
            return "|".join(self.value("grid_code", v) for v in value.split("|"))
        if value == CITY_CODE:
            return self.to.prefix + CITY_CODE[4:]
        m = _EMBEDDED.match(value)
        if m:
            return m.group(1) + self.to.prefix + value[m.end():]
        if value[:2] == SOURCE_PREFIX[:2] and value.isdigit() and len(value) == 6:
            return value  # the province
        return self.to.letter + value


def source_centre(folder: Path) -> tuple[float, float]:
    """The middle of a generated city's districts (where its plane and its move are centred)."""
    df = pyogrio.read_dataframe(folder / "admin_areas.gpkg", where="level = 'district'")
    x1, y1, x2, y2 = df.total_bounds
    return (x1 + x2) / 2, (y1 + y2) / 2


def relocate(src: Path, dst: Path, to: Placement = KASHGAR) -> Mover:
    """Write the city of folder ``src`` moved to ``to`` into folder ``dst`` (every layer file)."""
    dst.mkdir(parents=True, exist_ok=True)
    mover = Mover(source_centre(src), to)
    for path in sorted(src.glob("*.gpkg")):
        _relocate_layer(path, dst / path.name, mover)
    for path in sorted(src.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        with (dst / path.name).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else [])
            writer.writeheader()
            writer.writerows({k: mover.value(k, v) for k, v in row.items()} for row in rows)
    return mover


def _relocate_layer(src: Path, dst: Path, mover: Mover) -> None:
    df = pyogrio.read_dataframe(src)
    if src.stem == "admin_areas":
        df = df[df["level"] != "province"].copy()  # the province is the first city's
        df.loc[df["level"] == "city", "name"] = mover.to.name
    for column in df.columns:
        if column != "geometry":
            df[column] = [mover.value(column, v) for v in df[column]]
    df["geometry"] = mover.geometry(np.asarray(df.geometry.values, dtype=object))
    df = df.set_crs(f"EPSG:{GEO_EPSG}", allow_override=True)
    pyogrio.write_dataframe(df, dst, layer=src.stem, driver="GPKG")


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def relocate_queries(rows: list[dict], mover: Mover) -> list[dict]:
    """An evaluation set's rows for the moved city: truth moved, targets renamed, and in the query
    text the city's name and the codes it writes (in ASCII or full-width digits) renamed."""
    new = mover.to.prefix
    out = []
    for row in rows:
        lon, lat = mover.coords(np.array([row["lon"]]), np.array([row["lat"]]))
        target = dict(row["target"])
        target["id"] = mover.value("code" if target.get("layer") in ("unit_grids", "components") else "id",
                                   target["id"])
        query = mover.text(row["query"])
        query = re.sub(rf"(?<![0-9]){SOURCE_PREFIX}(?=[0-9]{{2}})", new, query)
        query = query.replace(SOURCE_PREFIX.translate(_FULL_WIDTH), new.translate(_FULL_WIDTH))
        out.append({**row, "query": query, "lon": float(lon[0]), "lat": float(lat[0]), "target": target})
    return out


__all__ = ["CITY_NAME", "KASHGAR", "Mover", "Placement", "relocate", "relocate_queries", "source_centre"]
