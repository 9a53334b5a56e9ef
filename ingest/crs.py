"""Source coordinate reference systems: what a file declares, what the user overrides, and the
Chinese web-map offsets GCJ-02 (Amap, Tencent) and BD-09 (Baidu), which PROJ does not know.

Everything is brought to EPSG:4490 (CGCS2000). CGCS2000 and WGS84 agree to a few centimetres, so
lon/lat in EPSG:4326 is taken as-is, which is what PROJ's own 4326 -> 4490 transformation does.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import CRS, Transformer

from urbangis.layers.errors import Invalid

TARGET_EPSG = 4490
# Geographic CRSs whose coordinates equal CGCS2000 at the metre level (PROJ's own 4326 -> 4490
# transformation is a no-op "ballpark" one).
_LONLAT_SAME = {4490, 4326}

_SHIFT_NAMES = {
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "amap": "gcj02", "mars": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd09ll": "bd09", "baidu": "bd09",
}


class CRSError(Invalid, ValueError):
    """A CRS that cannot be used: unknown, on a datum without a known shift, or contradictory."""


@dataclass(frozen=True)
class SourceCRS:
    """Where coordinates come from: an EPSG code, optionally with a GCJ-02 / BD-09 offset on top;
    or a CRS without one (a MapInfo CoordSys, a city's own 独立坐标系), kept as its WKT."""

    epsg: int | None
    shift: str | None = None  # None | "gcj02" | "bd09"; both are offsets of WGS84 lon/lat
    assumed: bool = False  # True when neither the file nor the user said anything
    definition: str | None = None  # WKT, when there is no EPSG code
    name: str | None = None  # what the report calls a CRS without EPSG code

    @property
    def label(self) -> str:
        if self.definition is not None:
            return self.name or "custom CRS"
        return {"gcj02": "GCJ-02", "bd09": "BD-09"}.get(self.shift or "", f"EPSG:{self.epsg}")

    @property
    def is_target(self) -> bool:
        """True when coordinates can be stored as they are (no shift, no reprojection)."""
        return self.shift is None and self.epsg in _LONLAT_SAME


def parse_source_crs(text: str) -> SourceCRS:
    """Parse a ``--source-crs`` value: ``gcj02``, ``bd09``, ``EPSG:4326``, ``4538``, WKT, PROJ."""
    key = text.strip().lower()
    if key in _SHIFT_NAMES:
        return SourceCRS(4326, _SHIFT_NAMES[key])
    if re.fullmatch(r"\d{4,6}", key):
        key = f"EPSG:{key}"
    try:
        crs = CRS.from_user_input(key if key.startswith("epsg:") else text)
    except Exception as exc:  # pyproj raises CRSError, a subclass of Exception only
        raise CRSError(f"source CRS {text!r} is not one PROJ knows, nor gcj02 / bd09") from exc
    epsg = crs.to_epsg(min_confidence=70)
    if epsg is None:
        return _without_code(crs, f"source CRS {text!r}")
    return SourceCRS(epsg)


def declared_crs(crs_text: str | None) -> SourceCRS | None:
    """The CRS a file declares (WKT / PROJJSON / 'EPSG:n' from GDAL), or None if it declares none."""
    if not crs_text:
        return None
    try:
        crs = CRS.from_user_input(crs_text)
    except Exception as exc:
        raise CRSError(f"the file declares a CRS PROJ cannot read ({exc})") from exc
    epsg = crs.to_epsg(min_confidence=70)
    if epsg is None:  # an ESRI .prj's GCS_China_Geodetic_Coordinate_System_2000, a MapInfo CoordSys ...
        return _without_code(crs, f"the file declares CRS {crs.name!r}, which")
    return SourceCRS(epsg)


# CGCS2000's ellipsoid (GRS 1980) and WGS84's: the same to 0.1 mm, and their datums to centimetres
_ELLIPSOIDS = ((6378137.0, 298.257222101), (6378137.0, 298.257223563))


def _on_cgcs2000_ellipsoid(crs: CRS) -> bool:
    ellipsoid = crs.ellipsoid
    return ellipsoid is not None and any(
        abs(ellipsoid.semi_major_metre - a) < 1e-3 and abs(ellipsoid.inverse_flattening - f) < 1e-5
        for a, f in _ELLIPSOIDS)


def _datum_words(crs: CRS) -> str:
    datum = crs.datum.name if crs.datum is not None else ""
    if datum.startswith("Unknown based on") or not datum:  # PROJ's name for a bare ellipsoid
        return f"the {crs.ellipsoid.name} ellipsoid" if crs.ellipsoid is not None else "an unknown datum"
    return datum


def _without_code(crs: CRS, said: str) -> SourceCRS:
    """A CRS with no EPSG code: usable by its definition when its datum is CGCS2000's or WGS84's
    (a MapInfo table's CoordSys, a city's own Gauss-Kruger 独立坐标系 with its own central meridian
    and false easting, defined in full in its .prj or by the user) or when it carries its own
    shift to WGS84 (+towgs84, the 7 parameters a city's surveying bureau publishes for Beijing 1954
    or Xi'an 1980); refused on another datum without one, whose shift the definition does not give."""
    datum = _datum_words(crs)
    if not (_on_cgcs2000_ellipsoid(crs) or crs.is_bound):
        raise CRSError(f"{said} has no EPSG code and is on {datum}, whose shift to CGCS2000 it does not "
                       "give; pass --source-crs with its +towgs84 parameters or EPSG:NNNN, or convert the file "
                       "to CGCS2000 first")
    if crs.is_geographic and not crs.is_bound:
        return SourceCRS(TARGET_EPSG)
    base = crs.source_crs if crs.is_bound else crs
    if base is None:  # pyproj gives every bound CRS its source CRS
        raise CRSError(f"{said} is bound to WGS84 but has no source CRS")
    name = base.name if base.name.lower() not in ("", "unnamed", "unknown") else None
    if name is None and base.coordinate_operation is not None:
        params = {p.name.lower(): p.value for p in base.coordinate_operation.params}
        meridian = params.get("longitude of natural origin")
        name = base.coordinate_operation.method_name + (f" CM {meridian:g}E" if meridian is not None else "")
    wkt = crs.to_wkt()
    try:
        _transformer(wkt)
    except Exception as exc:  # pyproj's ProjError: a definition PROJ reads but cannot use (a scale factor 0)
        raise CRSError(f"{said} has no EPSG code, and PROJ cannot transform it to CGCS2000 "
                       f"({str(exc).split(': (')[-1].rstrip(')')})") from exc
    shifted = ", its own shift to WGS84" if crs.is_bound else ""
    return SourceCRS(None, definition=wkt, name=f"{name or 'custom CRS'} ({datum.removeprefix('the ')}{shifted})")


def unknown_shift(source: SourceCRS) -> str | None:
    """Why converting ``source`` to CGCS2000 would leave every point tens of metres off, or None:
    an EPSG CRS on a datum other than CGCS2000's or WGS84's for which PROJ knows no transformation
    (Beijing 1954, Xi'an 1980, the datums of older city surveys): PROJ's 'ballpark' conversion then
    keeps the latitude and longitude on the old ellipsoid and shifts nothing."""
    if source.shift or source.epsg is None:
        return None  # a definition without code was checked when read (_without_code)
    crs = CRS.from_epsg(source.epsg)
    if _on_cgcs2000_ellipsoid(crs) or "ballpark" not in _transformer(source.epsg).description.lower():
        return None
    with warnings.catch_warnings():  # "you will likely lose important projection information": a hint only
        warnings.simplefilter("ignore", UserWarning)
        proj = " ".join(w for w in crs.to_proj4().split() if w not in ("+no_defs", "+type=crs"))
    return (f"the file is in {crs.name} (EPSG:{source.epsg}), on the {_datum_words(crs)} datum; PROJ knows no "
            "transformation from it to CGCS2000, and converting by the ellipsoid alone leaves points tens of "
            "metres or more off. Give the city's own transformation, the 7 parameters its surveying bureau "
            f"publishes: --source-crs '{proj} +towgs84=dx,dy,dz,rx,ry,rz,ds' (source_crs over HTTP; 'other' on "
            f"the /ingest page); or pass --source-crs EPSG:{source.epsg} to load with the ellipsoid conversion "
            "anyway")


def resolve(declared: SourceCRS | None, override: SourceCRS | None) -> SourceCRS:
    """The user's ``--source-crs`` wins over the file; with neither, CGCS2000 is assumed."""
    if override is not None:
        return override
    if declared is not None:
        return declared
    return SourceCRS(TARGET_EPSG, assumed=True)


# -- GCJ-02 and BD-09 --------------------------------------------------------------------------
# GCJ-02 is an obfuscation of WGS84 mandated for published Chinese maps; it is not a datum and
# PROJ deliberately does not implement it. These are the widely published formulas (the same as
# eviltransform / prcoords / coordtransform); the PyPI packages that carry them are unmaintained
# single-point, pure-Python loops, so the formulas are written here once, vectorised with numpy.
# The inverse has no closed form: it is solved by fixed-point iteration to < 1e-9 degrees (~0.1 mm).
_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the obfuscation
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0


def _inside_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    # Outside this box the offsets are not applied by the map providers either.
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    pi = np.pi
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * pi)
    inside = _inside_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 lon/lat -> GCJ-02 (the forward obfuscation)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def _invert(forward, lon, lat, iterations: int = 10) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(iterations):
        flon, flat = forward(wlon, wlat)
        elon, elat = lon - flon, lat - flat
        wlon, wlat = wlon + elon, wlat + elat
        if elon.size == 0 or max(np.abs(elon).max(), np.abs(elat).max()) < 1e-10:
            break
    return wlon, wlat


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> WGS84 lon/lat, by iterating the forward formula (accurate to ~0.1 mm)."""
    return _invert(wgs84_to_gcj02, lon, lat)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> BD-09 (Baidu's further offset)."""
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 -> GCJ-02, iterating the forward formula (the usual closed form is ~1e-6 deg off)."""
    return _invert(gcj02_to_bd09, lon, lat)


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 -> WGS84 lon/lat."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _unshift(kind: str):
    fn = gcj02_to_wgs84 if kind == "gcj02" else bd09_to_wgs84

    def apply(coords: np.ndarray) -> np.ndarray:
        lon, lat = fn(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return apply


def to_target(geoms: np.ndarray, source: SourceCRS) -> np.ndarray:
    """Shapely geometries in ``source`` -> the same geometries in EPSG:4490 (2D)."""
    if source.is_target:
        return geoms
    if source.shift:
        return shapely.transform(geoms, _unshift(source.shift))
    spec = source.epsg if source.definition is None else source.definition
    if spec is None:  # a SourceCRS without EPSG code always carries its definition
        raise CRSError(f"{source.label}: neither an EPSG code nor a definition to transform from")
    transformer = _transformer(spec)

    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, apply)


_TRANSFORMERS: dict[int | str, Transformer] = {}


def _transformer(source: int | str) -> Transformer:
    """To CGCS2000 from an EPSG code or a WKT. A CRS carrying its own shift to WGS84 (+towgs84) is
    taken to WGS84, which is CGCS2000 to centimetres: towards CGCS2000 itself PROJ would leave its
    shift out and convert by the ellipsoid alone."""
    if source not in _TRANSFORMERS:
        bound = isinstance(source, str) and CRS.from_user_input(source).is_bound
        _TRANSFORMERS[source] = Transformer.from_crs(source, 4326 if bound else TARGET_EPSG, always_xy=True)
    return _TRANSFORMERS[source]
