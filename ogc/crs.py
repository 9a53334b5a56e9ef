"""Coordinate reference systems offered by OGC API - Features Part 2: URIs, SRIDs, axis order.

Storage is EPSG:4490 (CGCS2000). Every CRS here is answered by PostGIS (``ST_Transform``); the
only thing decided in Python is the axis order of each CRS, read from the EPSG definitions through
pyproj, because GeoJSON in a CRS other than CRS84 must follow the authority's axis order
(EPSG:4326 and EPSG:4490 are latitude first; the Gauss-Kruger zones northing first). Besides
CRS84, WGS 84 and Web Mercator, every CGCS2000 3-degree Gauss-Kruger zone of China is offered
(EPSG:4534-4554): a provincial server's analysts measure each city in its own zone.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pyproj

from urbangis.layers.geodesy import GK_ZONE_SRIDS

from .errors import InvalidParameter

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
STORAGE_SRID = 4490


@dataclass(frozen=True)
class Crs:
    """One offered CRS."""

    uri: str
    srid: int
    swap_xy: bool  # authority axis order is northing/latitude first
    geographic: bool

    @property
    def precision(self) -> int:
        """Decimal digits in GeoJSON output: about 1 mm either way."""
        return 8 if self.geographic else 3


def _epsg(code: int) -> Crs:
    crs = pyproj.CRS.from_epsg(code)
    first = crs.axis_info[0].direction.lower()
    return Crs(EPSG_URI.format(code), code, first in ("north", "south"), crs.is_geographic)


@lru_cache(maxsize=1)
def supported() -> dict[str, Crs]:
    """The offered CRSs by URI, CRS84 (the GeoJSON default) first."""
    # CRS84 is WGS 84 with longitude first; PostGIS knows it as SRID 4326 (stored x = lon).
    out = {CRS84: Crs(CRS84, 4326, False, True)}
    for code in (4326, 4490, 3857, *GK_ZONE_SRIDS):
        c = _epsg(code)
        out[c.uri] = c
    return out


def default() -> Crs:
    """CRS84, the default of GeoJSON and of the API."""
    return supported()[CRS84]


def storage() -> Crs:
    """The storage CRS (EPSG:4490)."""
    return supported()[EPSG_URI.format(STORAGE_SRID)]


def uris() -> list[str]:
    """The offered CRS URIs, CRS84 first."""
    return list(supported())


def _normalise(value: str) -> str:
    """Accept the URI, its https form, the safe-CURIE ``[EPSG:4326]`` and ``EPSG:4326``."""
    v = value.strip()
    if v.startswith("[") and v.endswith("]"):
        v = v[1:-1]
    if v.startswith("https://www.opengis.net/"):
        v = "http://" + v[len("https://"):]
    upper = v.upper()
    if upper in ("OGC:CRS84", "CRS84", "URN:OGC:DEF:CRS:OGC:1.3:CRS84", "URN:OGC:DEF:CRS:OGC::CRS84"):
        return CRS84
    for prefix in ("EPSG:", "URN:OGC:DEF:CRS:EPSG::", "URN:OGC:DEF:CRS:EPSG:0:"):
        if upper.startswith(prefix) and upper[len(prefix):].isdigit():
            return EPSG_URI.format(int(upper[len(prefix):]))
    return v


def parse(value: str | None, parameter: str) -> Crs:
    """The offered CRS named by ``value`` (CRS84 when absent); 400 naming the list otherwise."""
    if value is None or value == "":
        return default()
    crs = supported().get(_normalise(value))
    if crs is None:
        raise InvalidParameter(
            f"{parameter}: unsupported CRS {value!r}; supported: {', '.join(uris())}", parameter=parameter, value=value
        )
    return crs


def content_crs_header(crs: Crs) -> str:
    """The ``Content-Crs`` header value (Part 2: the URI in angle brackets)."""
    return f"<{crs.uri}>"
