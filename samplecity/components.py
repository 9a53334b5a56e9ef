"""City components (部件, GB/T 30428.2): manhole covers, lamps, signs, bins, trees, green plots...

Codes are district (6) + major class (2) + minor class (2) + serial (6). Road furniture lies along
the roads, the rest is spread over the unit grids by density. Written in chunks: only the serial
counters and, per grid, the components' codes (for component cases) are kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from .names import COMPONENT_CLASSES, COMPONENT_OWNERS
from .rand import rng

COMPONENTS_PER_SCALE = 50_000
CHUNK = 50_000
_ALONG_ROADS = {("01", "17"), ("04", "02"), ("02", "09"), ("02", "13"), ("02", "15"), ("02", "03"), ("01", "04"),
                ("04", "08"), ("02", "10")}
_STATUS = (["完好"] * 18) + ["破损", "丢失", "占用"]

CLASSES = [(major, minor, name, weight, geom) for major, (_, minors) in COMPONENT_CLASSES.items()
           for minor, name, weight, geom in minors]
_CW = np.array([c[3] for c in CLASSES], float)
_CW /= _CW.sum()


@dataclass
class ComponentChunk:
    code: list[str]
    name: list[str]
    status: list[str]
    owner_dept: list[str]
    grid_code: list[str | None]
    geom: np.ndarray  # metres
    major: np.ndarray
    minor: np.ndarray
    grid_idx: np.ndarray  # -1 where outside the unit grids


def _shape(kind: str, x: np.ndarray, y: np.ndarray, r: np.random.Generator) -> np.ndarray:
    n = len(x)
    if kind == "point":
        return shapely.points(x, y)
    if kind == "line":
        # three vertices with the middle one on the sampled point, so the line's point on surface
        # (what the loader checks against the grid) is that point
        half = r.uniform(5, 20, n)
        ang = r.uniform(0, np.pi, n)
        dx, dy = half * np.cos(ang), half * np.sin(ang)
        coords = np.stack([np.column_stack([x - dx, y - dy]), np.column_stack([x, y]),
                           np.column_stack([x + dx, y + dy])], axis=1)
        return shapely.linestrings(coords)
    half = r.uniform(10, 30, n)
    return shapely.box(x - half, y - half, x + half, y + half)


def generate_components(city, scale: float, seed: int):
    """Yield ComponentChunks until COMPONENTS_PER_SCALE * scale components are made."""
    total = int(round(COMPONENTS_PER_SCALE * scale))
    serial: dict[tuple[str, str, str], int] = {}
    grids = city.grids
    sampler = city.grid_sampler
    roads = [rd for rd in city.roads if rd.kind != "lane"]
    road_geom = np.array([rd.geom for rd in roads], dtype=object)
    road_len = shapely.length(road_geom)
    road_p = road_len / road_len.sum()
    grid_tree = shapely.STRtree(sampler.inner)  # road furniture within EDGE_MARGIN_M of an edge: no grid_code
    made, chunk_no = 0, 0
    while made < total:
        n = min(CHUNK, total - made)
        r = rng(seed, "components", chunk_no)
        cls = r.choice(len(CLASSES), size=n, p=_CW)
        along = np.array([(CLASSES[c][0], CLASSES[c][1]) in _ALONG_ROADS for c in cls])
        x = np.empty(n)
        y = np.empty(n)
        gidx = np.full(n, -1)
        # road furniture: a point beside a road
        k = int(along.sum())
        if k:
            ri = r.choice(len(roads), size=k, p=road_p)
            t = r.uniform(0, 1, k)
            lines = road_geom[ri]
            before, after = np.clip(t - 0.001, 0, 1), np.clip(t + 0.001, 0, 1)
            p0 = shapely.get_coordinates(shapely.line_interpolate_point(lines, before, normalized=True))
            p1 = shapely.get_coordinates(shapely.line_interpolate_point(lines, after, normalized=True))
            d = p1 - p0
            norm = np.hypot(d[:, 0], d[:, 1]) + 1e-9
            off = r.choice([-1, 1], size=k) * r.uniform(6, 12, k)
            cx, cy, nx, ny = (p0[:, 0] + p1[:, 0]) / 2, (p0[:, 1] + p1[:, 1]) / 2, -d[:, 1] / norm, d[:, 0] / norm
            # a road along the city's outer edge: furniture on its inner side, else on the road
            # (the road keeps 2 m inside its district), never outside Urumqi
            for fix in (-1.0, 0.0):
                out = ~city.in_districts(cx + nx * off, cy + ny * off)
                off[out] *= fix
            x[along], y[along] = cx + nx * off, cy + ny * off
            hit_pt, hit_grid = grid_tree.query(shapely.points(x[along], y[along]), predicate="within")
            sub = np.full(k, -1)
            sub[hit_pt] = hit_grid
            gidx[along] = sub
        m = ~along
        if m.any():
            gi, gx, gy = sampler.sample(int(m.sum()), r)
            x[m], y[m], gidx[m] = gx, gy, gi
        codes, names, status, owners, gcodes, geoms = [], [], [], [], [], np.empty(n, dtype=object)
        dist = [grids.code[g][:6] if g >= 0 else None for g in gidx]
        for i in range(n):
            major, minor, name, _, _ = CLASSES[cls[i]]
            district = dist[i] or city.district_at(x[i], y[i])
            key = (district, major, minor)
            s = serial[key] = serial.get(key, 0) + 1
            codes.append(f"{district}{major}{minor}{s:06d}")
            names.append(name)
            status.append(_STATUS[r.integers(len(_STATUS))])
            owners.append(COMPONENT_OWNERS[major])
            gcodes.append(grids.code[gidx[i]] if gidx[i] >= 0 else None)
        for kind in ("point", "line", "polygon"):
            sel = np.array([CLASSES[c][4] == kind for c in cls])
            if sel.any():
                geoms[sel] = _shape(kind, x[sel], y[sel], r)
        majors = np.array([CLASSES[c][0] for c in cls])
        minors = np.array([CLASSES[c][1] for c in cls])
        yield ComponentChunk(codes, names, status, owners, gcodes, geoms, majors, minors, gidx)
        made += n
        chunk_no += 1
