"""Synthetic street-office and community polygons inside the real district outlines.

Each district is split among its street offices and each street office among its communities
(power-diagram partitions, see partition.py): urban units take the dense part, rural units
(towns, townships, farms; villages) the rest, and cells are small where the density is high.
"""
from __future__ import annotations

import numpy as np
import shapely

from .density import density
from .partition import dense_part, partition, polygons_of
from .rand import rng
from .skeleton import Area, Skeleton

URBAN_KM2_PER_COMMUNITY = 0.5  # planned built-up area per urban community (district level)
TOWN_KM2_PER_COMMUNITY = 0.8  # the same inside a town or a street with villages


def _rural_density(x, y):
    return 0.02 + density(x, y) ** 0.5


def _fully_urban(unit: Area) -> bool:
    return unit.urban and all(c.urban for c in unit.children)


def _split(region, units: list[Area], seed: int, key: str, km2: float) -> None:
    """Give each unit a polygon: fully urban ones share the dense part, the others the rest."""
    urban = [u for u in units if _fully_urban(u)]
    other = [u for u in units if not _fully_urban(u)]
    r = rng(seed, "admin", key)
    groups = []
    if urban and other:
        planned = sum(max(1, len(u.children)) for u in urban) * km2 * 1e6
        fraction = float(np.clip(planned / region.area, 0.0005, 0.85))
        dense, rest = dense_part(region, fraction, density)
        groups.append((dense, urban, density))
        groups.append((rest, other, _rural_density))
    else:
        groups.append((region, units, density if urban else _rural_density))
    for area, members, dens in groups:
        targets = [max(1, len(u.children)) for u in members]
        cells = partition(area, targets, dens, r, samples=min(6000, 400 * len(members) + 1000))
        for unit, cell in zip(members, cells):
            unit.geom = cell if cell.geom_type == "MultiPolygon" else shapely.multipolygons(polygons_of(cell))


def build_admin(sk: Skeleton, seed: int) -> None:
    """Fill ``geom`` of every street office and community of the skeleton (metres)."""
    for d in sk.districts:
        _split(d.geom, d.children, seed, d.code, URBAN_KM2_PER_COMMUNITY)
        for s in d.children:
            if s.children:
                _split(s.geom, s.children, seed, s.code, TOWN_KM2_PER_COMMUNITY)
