"""Partitioning a polygon into cells of given relative weight: capacity-constrained power diagrams.

Seeds and additive weights are adjusted (Lloyd steps plus weight updates) until each cell holds
its target share of a density; the cells are then cut exactly as intersections of half-planes,
so they tile the region with straight edges, no gaps and no overlaps. shapely has Voronoi but no
power (weighted) diagram, hence this module.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import Polygon, box

Density = Callable[[np.ndarray, np.ndarray], np.ndarray]


def sample_in(region, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniformly inside ``region`` (rejection sampling in its bounding box)."""
    x0, y0, x1, y1 = region.bounds
    shapely.prepare(region)
    out = np.empty((0, 2))
    frac = max(region.area / max((x1 - x0) * (y1 - y0), 1e-9), 0.01)
    while len(out) < n:
        k = int((n - len(out)) / frac * 1.3) + 16
        pts = np.column_stack([rng.uniform(x0, x1, k), rng.uniform(y0, y1, k)])
        out = np.vstack([out, pts[shapely.contains_xy(region, pts[:, 0], pts[:, 1])]])
    return out[:n]


def _halfplane(n: np.ndarray, c: float, big: float, centre: np.ndarray) -> Polygon:
    """The half-plane {p : n.p <= c}, as a large quadrilateral around ``centre``."""
    nn = float(n @ n)
    p0 = centre + n * (c - float(n @ centre)) / nn
    u = n / np.sqrt(nn)
    t = np.array([-u[1], u[0]])
    return Polygon([p0 + big * t, p0 - big * t, p0 - big * t - big * u, p0 + big * t - big * u])


def power_cells(seeds: np.ndarray, weights: np.ndarray, frame) -> list:
    """Cells of the power diagram of ``seeds`` with ``weights``, cut to ``frame``."""
    # work near the origin: squared projected coordinates (~1e13) would lose precision
    centre = np.array(frame.centroid.coords[0])
    local = shapely.affinity.translate(frame, -centre[0], -centre[1])
    seeds = seeds - centre
    big = 4 * max(frame.bounds[2] - frame.bounds[0], frame.bounds[3] - frame.bounds[1]) + 1e4
    sq = (seeds**2).sum(axis=1)
    origin = np.zeros(2)
    cells = []
    for k in range(len(seeds)):
        cell = local
        for j in range(len(seeds)):
            if j == k:
                continue
            n = 2 * (seeds[j] - seeds[k])
            if not n.any():
                continue
            c = sq[j] - sq[k] - weights[j] + weights[k]
            cell = cell.intersection(_halfplane(n, c, big, origin))
            if cell.is_empty:
                break
        cells.append(shapely.affinity.translate(cell, centre[0], centre[1]))
    return cells


def partition(region, targets, dens: Density, rng: np.random.Generator, samples: int = 3000,
              iters: int = 60) -> list:
    """Split ``region`` into len(targets) cells holding about ``targets`` (relative) of ``dens``."""
    targets = np.asarray(targets, float)
    region = areal(region)
    k = len(targets)
    if k == 1:
        return [region]
    pts = sample_in(region, max(samples, 40 * k), rng)
    rho = dens(pts[:, 0], pts[:, 1])
    goal = targets / targets.sum() * rho.sum()
    # spread initial seeds: weighted k-means++
    seeds = np.empty((k, 2))
    seeds[0] = pts[rng.choice(len(pts), p=rho / rho.sum())]
    d2 = ((pts - seeds[0]) ** 2).sum(axis=1)
    for i in range(1, k):
        p = d2 * rho
        seeds[i] = pts[rng.choice(len(pts), p=p / p.sum())]
        d2 = np.minimum(d2, ((pts - seeds[i]) ** 2).sum(axis=1))
    w = np.zeros(k)
    scale = region.area / k / np.pi
    for _ in range(iters):
        dist = ((pts[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2) - w[None, :]
        label = dist.argmin(axis=1)
        mass = np.bincount(label, weights=rho, minlength=k)
        for i in range(k):
            m = label == i
            if mass[i] > 0:
                seeds[i] = (pts[m] * rho[m, None]).sum(axis=0) / mass[i]
        w += 0.4 * scale * (goal - mass) / goal
        w -= w.mean()
    cells = power_cells(seeds, w, box(*region.buffer(1).bounds))
    cells = [areal(region.intersection(c)) for c in cells]
    return _settle(cells, region)


def polygons_of(g) -> list:
    """The non-empty polygons inside any geometry (collections and multi-parts flattened)."""
    out = []
    for part in shapely.get_parts(g):
        if part.geom_type == "Polygon":
            if not part.is_empty:
                out.append(part)
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            out += polygons_of(part)
    return out


def _halve(poly) -> tuple:
    """Cut a polygon in two through its centroid, across its longer extent."""
    x0, y0, x1, y1 = poly.bounds
    cx, cy = poly.centroid.x, poly.centroid.y
    if x1 - x0 >= y1 - y0:
        a = shapely.box(x0 - 1, y0 - 1, cx, y1 + 1)
    else:
        a = shapely.box(x0 - 1, y0 - 1, x1 + 1, cy)
    first = polygons_of(poly.intersection(a))
    second = polygons_of(poly.difference(a))
    return max(first, key=lambda p: p.area), shapely.union_all(
        second + [p for p in first if p is not max(first, key=lambda q: q.area)])


def _settle(cells: list, region) -> list:
    """Keep each cell's largest part; give stray fragments to the neighbour sharing most edge."""
    main = []
    strays = []
    for i, c in enumerate(cells):
        parts = sorted(polygons_of(shapely.make_valid(c)), key=lambda p: -p.area)
        main.append(parts[0] if parts else Polygon())
        strays += [(i, p) for p in parts[1:]]
    # a cell that came out empty takes the largest stray fragment, else half of the largest cell
    for i, m in enumerate(main):
        if not m.is_empty:
            continue
        if strays:
            j = max(range(len(strays)), key=lambda s: strays[s][1].area)
            main[i] = strays.pop(j)[1]
        else:
            big = max(range(len(main)), key=lambda s: main[s].area)
            main[big], main[i] = _halve(main[big])
    for owner, frag in sorted(strays, key=lambda s: s[1].area):
        best, best_len = owner, -1.0
        for i, m in enumerate(main):
            shared = frag.boundary.intersection(m.buffer(0.5)).length
            if shared > best_len:
                best, best_len = i, shared
        main[best] = main[best].union(frag)
    return [shapely.make_valid(m) for m in main]


def dense_part(region, fraction: float, dens: Density) -> tuple:
    """The densest ``fraction`` of ``region``'s area (blocky lattice cells, smoothed) and the rest."""
    if fraction >= 0.999:
        return region, Polygon()
    cell = float(np.clip(np.sqrt(region.area / 3000), 100, 800))
    x0, y0, x1, y1 = region.bounds
    xs = np.arange(x0, x1 + cell, cell)
    ys = np.arange(y0, y1 + cell, cell)
    mx, my = np.meshgrid(xs, ys)
    gx, gy = mx.ravel(), my.ravel()
    inside = shapely.contains_xy(region, gx + cell / 2, gy + cell / 2)
    gx, gy = gx[inside], gy[inside]
    rho = dens(gx + cell / 2, gy + cell / 2)
    order = np.argsort(-rho)
    take = order[: max(1, int(round(fraction * region.area / cell**2)))]
    boxes = shapely.box(gx[take], gy[take], gx[take] + cell, gy[take] + cell)
    blob = shapely.union_all(boxes).buffer(cell * 0.6, join_style="mitre").buffer(-cell * 0.6, join_style="mitre")
    blob = blob.simplify(cell * 0.4)
    dense = areal(region.intersection(blob))
    rest = areal(region.difference(dense))
    return dense, rest


def areal(g):
    """Only the polygonal content of ``g``, as one (Multi)Polygon; slivers under 1 m² dropped."""
    parts = [p for p in polygons_of(shapely.make_valid(g)) if p.area >= 1.0]
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
