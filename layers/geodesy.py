"""CGCS2000 and its 3-degree Gauss-Kruger zones: where metric work on a feature is done.

China's survey offices measure in the CGCS2000 3-degree zone of the place (EPSG:4534, central
meridian 75° E, to EPSG:4554, 135° E); Xinjiang alone spans zones 75° E to 96° E. A feature is
measured in the zone of its own longitude, never in one city's zone (the SQL twin of
:func:`zone_srid` is ``urbangis_gk_srid`` in layers/migrations/0007_metric_zones.sql).
"""
from __future__ import annotations

import math

STORAGE_SRID = 4490  # CGCS2000 geographic: every geometry is stored in it
FIRST_ZONE_SRID, FIRST_MERIDIAN = 4534, 75  # CGCS2000 / 3-degree Gauss-Kruger CM 75E
LAST_ZONE_SRID = 4554  # CM 135E
GK_ZONE_SRIDS = tuple(range(FIRST_ZONE_SRID, LAST_ZONE_SRID + 1))


def zone_srid(lon: float) -> int:
    """The EPSG code of the 3-degree Gauss-Kruger zone whose central meridian is nearest ``lon``."""
    k = math.floor((lon - FIRST_MERIDIAN) / 3 + 0.5)  # halves go east, as floor(x + 0.5) does in SQL
    return FIRST_ZONE_SRID + min(max(k, 0), LAST_ZONE_SRID - FIRST_ZONE_SRID)


def central_meridian(srid: int) -> int:
    """The central meridian (degrees east) of a zone's EPSG code."""
    if srid not in GK_ZONE_SRIDS:
        raise ValueError(f"EPSG:{srid} is not a CGCS2000 3-degree Gauss-Kruger zone (EPSG:4534-4554)")
    return FIRST_MERIDIAN + 3 * (srid - FIRST_ZONE_SRID)
