"""Admin areas, unit grids and responsibility grids of the evaluation town (synthetic).

Street offices are the Voronoi cells of 4-6 seeds (one on the old town, the others around it)
clipped to the town; each is cut again into 3-6 communities by the Voronoi cells of seeds inside
it, and its outline is the union of its communities. Codes: street office = county adcode + 001..,
community = street office + 001.. (north to south, then west to east).

Unit grids (万米单元网格): the 100 m squares of the Gauss-Kruger zone's own lattice cut by each
community; a leftover piece under 3,000 m² joins the neighbouring piece it shares the longest
border with. Sequence: west to east, then north to south, within the community.
"""
from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, box
from shapely.geometry.base import BaseGeometry

from .county import County
from .model import Area, RespGrid, UnitGrid
from .names import COMMUNITIES, STREET_OLD_TOWN, STREETS, cn_number, pick

CELL = 100.0  # unit grid lattice, metres
SMALL = 3000.0  # m²: a piece smaller than this joins a neighbour


def _voronoi(seeds: list[tuple[float, float]], area: BaseGeometry) -> list[BaseGeometry]:
    """The Voronoi cell of each seed, in seed order, clipped to ``area``."""
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=area.buffer(3000), ordered=True)
    return [c.intersection(area) for c in shapely.get_parts(cells)]


def _seeds_inside(area: BaseGeometry, k: int, rng: np.random.Generator, spacing: float) -> list[tuple[float, float]]:
    """``k`` random points of ``area`` at least ``spacing`` apart (fewer if they do not fit)."""
    x0, y0, x1, y1 = area.bounds
    out: list[tuple[float, float]] = []
    inner = area.buffer(-spacing / 4)
    for _ in range(2000):
        if len(out) == k:
            break
        p = (rng.uniform(x0, x1), rng.uniform(y0, y1))
        if inner.contains(Point(p)) and all(math.dist(p, q) >= spacing for q in out):
            out.append(p)
    return out


def partition(outline: BaseGeometry, county: County, rng: np.random.Generator) -> tuple[list[Area], list[Area]]:
    """Street offices and communities covering the town (each a single polygon)."""
    n = int(rng.integers(4, 7))
    start = rng.uniform(0, 2 * np.pi)
    seeds = [(rng.uniform(-80, 80), rng.uniform(-80, 80))]
    for i in range(n - 1):  # clockwise from ``start``
        a = start - 2 * np.pi * i / (n - 1) + rng.uniform(-0.25, 0.25)
        r = rng.uniform(1250, 1650)
        seeds.append((r * math.cos(a), r * math.sin(a)))
    street_cells = [c for c in _voronoi(seeds, outline) if not c.is_empty]
    others = pick(rng, STREETS, len(street_cells) - 1)
    names = [STREET_OLD_TOWN] + others
    community_names = iter(pick(rng, COMMUNITIES, len(COMMUNITIES)))
    streets, communities = [], []
    for i, cell in enumerate(street_cells):
        if cell.geom_type != "Polygon":
            cell = max(shapely.get_parts(cell), key=lambda p: p.area)
        code = f"{county.code}{i + 1:03d}"
        for _ in range(20):
            k = int(rng.integers(3, 7))
            cseeds = _seeds_inside(cell, k, rng, spacing=min(550.0, math.sqrt(cell.area / k) * 0.8))
            if len(cseeds) < 3:
                continue
            cells = _voronoi(cseeds, cell)
            if all(c.geom_type == "Polygon" and c.area > 60000 for c in cells):
                break
        else:
            raise RuntimeError(f"street {code}: could not cut it into communities")
        cells.sort(key=lambda c: (-round(c.centroid.y / 300), c.centroid.x))
        mine = []
        for j, c in enumerate(cells):
            mine.append(Area(f"{code}{j + 1:03d}", next(community_names) + "社区", "community", code, c))
        communities += mine
        streets.append(Area(code, names[i], "street", county.code, shapely.union_all([a.geom for a in mine])))
    return streets, communities


def unit_grids(communities: list[Area], county: County) -> list[UnitGrid]:
    """The unit grids of every community, coded community + 3-digit sequence."""
    # the lattice of the zone: lines at multiples of 100 m in Gauss-Kruger coordinates
    ox, oy = county.x0 % CELL, county.y0 % CELL
    out: list[UnitGrid] = []
    for com in communities:
        x0, y0, x1, y1 = com.geom.bounds
        cols = range(math.floor((x0 + ox) / CELL), math.ceil((x1 + ox) / CELL))
        rows = range(math.floor((y0 + oy) / CELL), math.ceil((y1 + oy) / CELL))
        keys, boxes = [], []
        for r in rows:
            for c in cols:
                keys.append((r, c))
                boxes.append(box(c * CELL - ox, r * CELL - oy, (c + 1) * CELL - ox, (r + 1) * CELL - oy))
        cut = shapely.intersection(np.array(boxes), com.geom)
        pieces: list[dict] = []
        owner: dict[tuple[int, int], int] = {}
        for key, g in zip(keys, cut):
            for p in shapely.get_parts(g):
                if p.geom_type == "Polygon" and p.area > 1.0:
                    owner.setdefault(key, len(pieces))
                    pieces.append({"key": key, "cells": {key}, "geom": p, "alive": True})
        for i in sorted(range(len(pieces)), key=lambda i: pieces[i]["geom"].area):
            small = pieces[i]
            if small["geom"].area >= SMALL:
                break
            best, shared = None, 0.0
            r, c = small["key"]
            for nb in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                j = owner.get(nb)
                if j is None or j == i or not pieces[j]["alive"]:
                    continue
                length = small["geom"].boundary.intersection(pieces[j]["geom"].boundary).length
                if length > shared:
                    best, shared = j, length
            if best is None:
                continue
            merged = shapely.union(pieces[best]["geom"], small["geom"])
            if merged.geom_type != "Polygon":
                continue
            pieces[best]["geom"] = shapely.normalize(merged.simplify(0.01))
            pieces[best]["cells"] |= small["cells"]
            small["alive"] = False
            for key in small["cells"]:
                owner[key] = best
        alive = [p for p in pieces if p["alive"]]
        alive.sort(key=lambda p: (-p["key"][0], p["key"][1]))  # north to south, then west to east
        for seq, p in enumerate(alive, 1):
            out.append(UnitGrid(f"{com.code}{seq:03d}", com.code, p["geom"]))
    return out


def responsibility_grids(streets: list[Area], communities: list[Area], county: County) -> list[RespGrid]:
    """One or two responsibility grids per street office, each a union of whole communities."""
    out = []
    for st in streets:
        mine = [c for c in communities if c.parent == st.code]
        groups = [mine] if len(mine) < 4 else [mine[: len(mine) // 2], mine[len(mine) // 2:]]
        for k, group in enumerate(groups, 1):
            geom = shapely.union_all([c.geom for c in group])
            if geom.geom_type != "Polygon":
                geom = geom.buffer(0.01)
            out.append(RespGrid(f"ZR{st.code}-{k:02d}", f"{st.name}第{cn_number(k)}责任网格", county.code, geom))
    return out


