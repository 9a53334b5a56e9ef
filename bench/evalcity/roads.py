"""Naming the road drafts of town.py after the town's habits (names.py)."""
from __future__ import annotations

import numpy as np

from . import names as N
from .model import Road
from .town import Layout, RoadDraft

_FAMILY_NAMES = {
    "radial": N.RADIALS, "sw_ns": N.SW_NS, "sw_ew": N.SW_EW, "hutong": N.HUTONGS, "se_ns": N.SE_NS,
    "se_ew": N.SE_EW, "se_lane": N.SE_LANES, "north_ns": N.NORTH_NS, "north_ew": N.NORTH_EW,
}
_SINGLE = {"restan": N.RESTAN, "ring": N.RING, "long_we": N.LONG_WE, "long_ns": N.LONG_NS,
           "canal_road": N.CANAL_ROAD}


def _split(entry: tuple[str, str, str]) -> tuple[str, list[str], list[str]]:
    name, alias, historic = entry
    return name, [a for a in alias.split("|") if a], [h for h in historic.split("|") if h]


def _grid_v_name(slot: int) -> str:
    """文化路 in the middle, 文化东一巷 / 文化西一巷 … on either side."""
    if slot == 0:
        return N.GRID_V_STEM + "路"
    side = "东" if slot > 0 else "西"
    return f"{N.GRID_V_STEM}{side}{N.cn_number(abs(slot))}巷"


def name_roads(lay: Layout, county_code: str, rng: np.random.Generator) -> list[Road]:
    """A named :class:`Road` per draft (drafts left without a name are dropped)."""
    old_names = list(N.OLD_LANES)
    rng.shuffle(old_names)
    old_iter = iter(old_names)
    village_names = N.VILLAGE_LANES[:2] + [N.VILLAGE_LANES[i] for i in rng.permutation(len(N.VILLAGE_LANES) - 2) + 2]
    village_iter = iter(village_names)
    # lanes off the winding street are numbered along it: 热斯坦一巷, 热斯坦二巷 …
    restan_i = next((i for i, d in enumerate(lay.roads) if d.family == "restan"), None)
    restan_stem = N.RESTAN[0][:-1]
    off_restan: list[int] = []
    if restan_i is not None:
        line = lay.roads[restan_i].geom
        kids = [i for i, d in enumerate(lay.roads) if d.family == "old_lane" and d.base == restan_i]
        kids.sort(key=lambda i: line.project(lay.roads[i].geom.interpolate(0)))
        off_restan = kids[:3]
    roads: list[Road] = []
    for i, d in enumerate(lay.roads):
        entry = _entry(d, i, off_restan, restan_stem, old_iter, village_iter)
        if entry is None:
            continue
        name, aliases, historic = _split(entry)
        rid = f"{county_code}-R{len(roads) + 1:04d}"
        roads.append(Road(rid, name, d.kind, d.geom, d.family, aliases, historic))
    return roads


def _entry(d: RoadDraft, i: int, off_restan: list[int], restan_stem: str, old_iter, village_iter):
    if d.family in _SINGLE:
        return _SINGLE[d.family]
    if d.family == "grid_u":
        return (N.numbered(N.GRID_U_STEM, d.slot), "", N.GRID_U_HISTORIC.get(d.slot, ""))
    if d.family == "grid_v":
        return (_grid_v_name(d.slot), "文化街" if d.slot == 0 else "", "")
    if d.family == "old_lane":
        if i in off_restan:
            return (f"{restan_stem}{N.cn_number(off_restan.index(i) + 1)}巷", "", "")
        return next(old_iter, None)
    if d.family == "village":
        return next(village_iter, None)
    names = _FAMILY_NAMES.get(d.family, [])
    return names[d.slot] if d.slot < len(names) else None
