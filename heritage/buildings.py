"""Building footprints of two epochs compared (heritage/footprints.py) and checked against the
zones they lie in (heritage/rules.py): what `urbangis heritage footprints` writes and stores.

A change is one building: ``new`` (only after), ``demolished`` (only before), ``altered`` (matched,
footprint or height changed beyond the tolerances) or ``unchanged``. Its geometry is the after
footprint (the before one when demolished), in lon/lat; its footprint change in per cent and its
areas are measured in the metric zone of the building (heritage/detect.py ``areas_m2``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from pyproj import CRS
from shapely.geometry import mapping

from .detect import areas_m2
from .footprints import Tolerances, compare
from .rules import Zone, building_violations, zone_of

CLASS_OF = {"new": "new_construction", "demolished": "demolition", "altered": "alteration"}


def changes(before: Any, after: Any, zones: list[tuple[Zone, object]] | None = None,
            tol: Tolerances = Tolerances()) -> list[dict]:
    """GeoJSON features of every building change between two GeoDataFrames of footprints in
    lon/lat (column ``height`` optional), with the rules of ``zones`` each breaks."""
    g0, g1 = list(before.geometry), list(after.geometry)
    h0 = list(before["height"]) if "height" in before.columns else [None] * len(g0)
    h1 = list(after["height"]) if "height" in after.columns else [None] * len(g1)
    a0, a1 = (areas_m2(np.array(g, dtype=object), CRS("OGC:CRS84")).tolist() for g in (g0, g1))
    out = []
    for ch in compare(list(zip(g0, h0)), list(zip(g1, h1)), tol):
        geom = g1[ch.after] if ch.after is not None else g0[ch.before]  # type: ignore[index]
        b_area = a0[ch.before] if ch.before is not None else None
        f_area = a1[ch.after] if ch.after is not None else None
        height = _num(h1[ch.after]) if ch.after is not None else None
        pct = (100.0 * (f_area - b_area) / b_area) if b_area and f_area is not None else None
        zone = zone_of(geom, zones) if zones else None
        broken = building_violations(ch.status, zone, height_m=height if ch.status != "demolished" else None,
                                     footprint_change_pct=pct if ch.status == "altered" else None)
        out.append({"type": "Feature", "geometry": mapping(geom), "properties": {
            "status": ch.status, "class": CLASS_OF.get(ch.status), "iou": round(ch.iou, 3), "reasons": ch.reasons,
            "height_before": _num(h0[ch.before]) if ch.before is not None else None, "height_after": height,
            "area_before_m2": round(b_area, 1) if b_area is not None else None,
            "area_after_m2": round(f_area, 1) if f_area is not None else None,
            "footprint_change_pct": round(pct, 1) if pct is not None else None,
            "zone_id": zone.id if zone else None, "violations": broken}})
    return out


def _num(value) -> float | None:
    if value is None:
        return None
    v = float(value)
    return None if np.isnan(v) else v
