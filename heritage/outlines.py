"""Joining the outlines of patches that block edges cut (change detection works block by block).

Every block polygonises the patches in its core; a patch that goes on into the next block comes out
in parts whose outlines meet on the block edge. The parts of one patch are joined here on the pixel
grid: their rings as directed edges in integer pixel coordinates (the inside on the left), the edges
lying on block lines cut into pixel-long pieces, the pieces two parts share (one each way) dropped,
the rest traced into rings (a linear pass), holes given to the smallest shell around them.

Written by hand because GEOS joins them as a general overlay, noding every edge against every other:
``shapely.union_all`` took 11 s for the 667 cut patches of the 8,000 px NAIP pair (a third of the
run) and held 1.5 GB more at the peak of the 20,000 px pair; ``shapely.polygonize`` of the edges left
after the shared ones are dropped still took 6.3 s. Here the edges are axis-parallel, on integer
coordinates and meet only at pixel corners, which is what makes tracing them exact and linear.
"""
from __future__ import annotations

from typing import Any

import numba
import numpy as np
import shapely
from affine import Affine
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

SHIFT = np.int64(1 << 24)  # a vertex's key: x * SHIFT + y, in pixels from the parts' lowest x and y


def _apply(transform: Any, xy: np.ndarray) -> np.ndarray:
    """``transform`` (an Affine) on an (n, 2) array; Any: affine's stubs do not type its array form."""
    return np.column_stack(transform @ (xy[:, 0], xy[:, 1]))


def _ring_edges(parts: np.ndarray, transform: Affine | None, orient: bool) -> tuple[np.ndarray, ...]:
    """Start, end (int64 x, y in pixels from ``offset``) and part of every ring edge of ``parts``, and
    ``offset``; with ``orient``, the inside on the left of every edge. Read from the parts' coordinate
    arrays (no copy of the geometries); ``transform``: the grid's, when the parts are in its CRS."""
    kind, xy, offsets = shapely.to_ragged_array(parts)
    if kind == shapely.GeometryType.POLYGON:
        ring_off, poly_off, geom_off = offsets[0], offsets[1], np.arange(len(offsets[1]))
    else:
        ring_off, poly_off, geom_off = offsets
    if transform is not None:
        xy = _apply(~transform, xy)
    xy = np.rint(xy).astype(np.int64)
    offset = xy.min(axis=0) if len(xy) else np.zeros(2, np.int64)
    if len(xy) and (xy.max(axis=0) - offset).max() >= SHIFT:
        raise ValueError("the parts span more than 2**24 pixels")
    xy -= offset
    nrings = len(ring_off) - 1
    ring = np.repeat(np.arange(nrings), np.diff(ring_off))
    has_next = np.ones(len(xy), bool)
    has_next[ring_off[1:] - 1] = False  # a ring's last coordinate repeats its first
    start = np.flatnonzero(has_next)
    del has_next
    ring = ring[start]
    a, b = xy[start], xy[start + 1]
    del xy, start
    if orient:  # each ring the right way round: exteriors (a polygon's first ring) counter-clockwise
        area2 = np.bincount(ring, weights=(a[:, 0] * b[:, 1] - b[:, 0] * a[:, 1]).astype(np.float64),
                            minlength=nrings)
        exterior = np.zeros(nrings, bool)
        exterior[poly_off[:-1]] = True
        flip = ((area2 > 0) != exterior)[ring]
        a[flip], b[flip] = b[flip], a[flip].copy()
        del flip
    part = np.repeat(np.arange(len(geom_off) - 1), np.diff(geom_off))  # polygon -> part
    part = part[np.repeat(np.arange(len(poly_off) - 1), np.diff(poly_off))][ring]  # ring -> part, edge -> part
    return a, b, part, offset


def _on_block_lines(a: np.ndarray, b: np.ndarray, block: int, origin: tuple[int, int],
                    offset: np.ndarray) -> tuple[np.ndarray, ...]:
    """Which edges lie on block lines (``origin`` (row, col) + k * ``block``), and those edges cut into
    pixel-long pieces: their starts, ends, and the edge each piece comes from."""
    on_line = (((a[:, 0] == b[:, 0]) & ((a[:, 0] + offset[0] - origin[1]) % block == 0))
               | ((a[:, 1] == b[:, 1]) & ((a[:, 1] + offset[1] - origin[0]) % block == 0)))
    sa, sb = a[on_line], b[on_line]
    n = np.abs(sb - sa).sum(axis=1)
    step = np.sign(sb - sa)
    rep = np.repeat(np.arange(len(sa)), n)
    k = np.arange(len(rep)) - np.repeat(np.cumsum(n) - n, n)
    pa = sa[rep] + step[rep] * k[:, None]
    return on_line, pa, pa + step[rep], np.flatnonzero(on_line)[rep]


def _directed_edges(parts: np.ndarray, block: int, origin: tuple[int, int],
                    transform: Affine | None) -> tuple[np.ndarray, ...]:
    """:func:`_ring_edges`, the inside on the left, the edges on block lines cut into pixel-long
    pieces and the pieces two parts share (one each way) dropped."""
    a, b, part, offset = _ring_edges(parts, transform, orient=True)
    on_line, pa, pb, src = _on_block_lines(a, b, block, origin, offset)
    # a piece is shared when the part on the other side has it the other way: same undirected key
    lo = np.minimum(pa[:, 0] * SHIFT + pa[:, 1], pb[:, 0] * SHIFT + pb[:, 1])
    ukey = lo * 2 + (pa[:, 0] == pb[:, 0])
    _, inv, cnt = np.unique(ukey, return_inverse=True, return_counts=True)
    alone = cnt[inv] == 1
    keep = ~on_line
    return (np.concatenate([a[keep], pa[alone]]), np.concatenate([b[keep], pb[alone]]),
            np.concatenate([part[keep], part[src[alone]]]), offset)


def components(parts: np.ndarray, block: int, origin: tuple[int, int],
               transform: Affine | None = None) -> np.ndarray:
    """The patch each part belongs to (a label per part): parts that share a point of a block line (a
    stretch of edge, or a corner: 8-connected pixels) belong together. The points of the parts'
    outlines on block lines are all pixel corners of the pieces :func:`_on_block_lines` cuts, so equal
    keys find them; no geometric predicate is evaluated (GEOS' ``intersects`` on the 20,000 px pair's
    cut patches took 11 s)."""
    a, b, part, offset = _ring_edges(parts, transform, orient=False)
    _, pa, pb, src = _on_block_lines(a, b, block, origin, offset)
    key = np.concatenate([pa[:, 0] * SHIFT + pa[:, 1], pb[:, 0] * SHIFT + pb[:, 1]])
    owner = np.concatenate([part[src], part[src]])
    order = np.lexsort((owner, key))
    key, owner = key[order], owner[order]
    link = np.flatnonzero((key[1:] == key[:-1]) & (owner[1:] != owner[:-1]))
    graph = coo_matrix((np.ones(len(link), bool), (owner[link], owner[link + 1])), shape=(len(parts), len(parts)))
    return connected_components(graph, directed=False)[1]


@numba.njit(cache=True, nogil=True)
def _dir(ax, ay, bx, by, e):  # pragma: no cover - compiled
    return np.sign(bx[e] - ax[e]) * 3 + np.sign(by[e] - ay[e])


@numba.njit(cache=True, nogil=True)
def _emit(loop, m, ax, ay, bx, by, xs, ys, nv, starts, first, area2, nr):  # pragma: no cover - compiled
    """Write the ring of edges ``loop[:m]``: its vertices where the direction turns (starting at a
    turn, closed), twice its signed area, its first edge. Returns the new vertex and ring counts."""
    k0 = 0
    for i in range(m):
        if _dir(ax, ay, bx, by, loop[i - 1 if i else m - 1]) != _dir(ax, ay, bx, by, loop[i]):
            k0 = i
            break
    starts[nr] = nv
    first[nr] = loop[k0]
    s = 0
    for j in range(m):
        i = (k0 + j) % m
        e = loop[i]
        if _dir(ax, ay, bx, by, loop[i - 1 if i else m - 1]) != _dir(ax, ay, bx, by, e):
            xs[nv] = ax[e]
            ys[nv] = ay[e]
            nv += 1
        s += ax[e] * by[e] - bx[e] * ay[e]
    xs[nv] = xs[starts[nr]]
    ys[nv] = ys[starts[nr]]
    area2[nr] = s
    return nv + 1, nr + 1


@numba.njit(cache=True, nogil=True)
def _trace(ax, ay, bx, by, cand, ncand, corner, ncorners):  # pragma: no cover - compiled
    """Rings of the directed edges: each edge goes on to an edge starting where it ends (``cand``: the
    one or two such edges); where two do (patches touching at a corner), the sharper left turn, which
    keeps the inside on the left. A ring that comes back to such a corner before it closes is split
    there (a hole touching its shell at a point is a ring of its own, as OGC's simple features want).
    Per ring: its vertices where the direction turns, twice its signed area, its first edge."""
    n = len(ax)
    nxt = np.empty(n, np.int64)
    prev = np.empty(n, np.int64)
    into = np.zeros(n, np.int64)
    for e in range(n):
        dx, dy = np.sign(bx[e] - ax[e]), np.sign(by[e] - ay[e])
        best, turn = cand[e, 0], -2
        for j in range(ncand[e]):
            c = cand[e, j]
            t = dx * np.sign(by[c] - ay[c]) - dy * np.sign(bx[c] - ax[c])
            if t > turn:
                best, turn = c, t
        nxt[e] = best
        prev[best] = e
        into[best] += 1
    ok = True
    for e in range(n):
        ok &= into[e] == 1
    seen = np.zeros(n, np.bool_)
    cap = n // 4 + 1
    xs = np.empty(n + cap, np.int64)
    ys = np.empty(n + cap, np.int64)
    starts = np.empty(cap + 1, np.int64)
    first = np.empty(cap, np.int64)
    area2 = np.empty(cap, np.int64)
    stack = np.empty(n, np.int64)
    # per corner where two rings meet (``corner[e]``: the one edge e arrives at, or -1): its place in
    # the stack of the ring being traced (``ring[c]``: which ring set it)
    where = np.empty(ncorners, np.int64)
    ring = np.full(ncorners, -1, np.int64)
    t = 0
    nv = 0
    nr = 0
    for e0 in range(n):
        if seen[e0] or not ok:
            continue
        t += 1
        if corner[prev[e0]] >= 0:  # the ring starts at such a corner
            ring[corner[prev[e0]]] = t
            where[corner[prev[e0]]] = -1
        m = 0
        e = e0
        while True:
            seen[e] = True
            stack[m] = e
            m += 1
            v = corner[e]
            if v >= 0:
                if ring[v] == t:
                    p = where[v]
                    # the loop from that corner back to it: a ring of its own
                    nv, nr = _emit(stack[p + 1:m], m - p - 1, ax, ay, bx, by, xs, ys, nv, starts, first, area2, nr)
                    for i in range(p + 1, m):  # the loop's corners are no longer on the stack
                        if corner[stack[i]] >= 0:
                            ring[corner[stack[i]]] = -1
                    m = p + 1
                else:
                    ring[v] = t
                    where[v] = m - 1
            e = nxt[e]
            if e == e0:
                break
        if m:
            nv, nr = _emit(stack[:m], m, ax, ay, bx, by, xs, ys, nv, starts, first, area2, nr)
    starts[nr] = nv
    return xs[:nv], ys[:nv], starts[:nr + 1], first[:nr], area2[:nr], ok and seen.all()


def join(parts: np.ndarray, group: np.ndarray, block: int, origin: tuple[int, int],
         transform: Affine | None = None) -> np.ndarray:
    """One geometry per group (0 .. max(group)) joining its ``parts``: polygons and multipolygons, each
    inside one block's core, as ``rasterio.features.shapes`` gives them, in pixel coordinates (x the
    column, y the row) or, given the grid's ``transform``, in the grid's CRS (the result too). A
    group's parts must meet only on block lines; the result is a Polygon, or a MultiPolygon when its
    polygons touch only at corners."""
    ngroups = int(group.max()) + 1 if len(group) else 0
    ax_ay, bx_by, part, offset = _directed_edges(parts, block, origin, transform)
    skey = ax_ay[:, 0] * SHIFT + ax_ay[:, 1]
    ekey = bx_by[:, 0] * SHIFT + bx_by[:, 1]
    order = np.argsort(skey, kind="stable")
    lo = np.searchsorted(skey[order], ekey, side="left")
    ncand = np.searchsorted(skey[order], ekey, side="right") - lo
    if len(ncand) and (ncand.min() < 1 or ncand.max() > 2):
        raise ValueError("the parts' outlines do not close on the pixel grid")
    cand = np.stack([order[np.minimum(lo, len(order) - 1)], order[np.minimum(lo + 1, len(order) - 1)]], axis=1)
    corner = np.full(len(ekey), -1, np.int64)
    at = np.flatnonzero(ncand == 2)
    corners, corner[at] = np.unique(ekey[at], return_inverse=True)
    xs, ys, starts, first, area2, closed = _trace(ax_ay[:, 0], ax_ay[:, 1], bx_by[:, 0], bx_by[:, 1], cand, ncand,
                                                   corner, len(corners))
    if not closed:
        raise ValueError("the parts' outlines do not close on the pixel grid")
    nring = len(first)
    sizes = np.diff(starts)
    xy = np.column_stack([xs + offset[0], ys + offset[1]]).astype(np.float64)
    del xs, ys
    if transform is not None:
        xy = _apply(transform, xy)
    rings = shapely.linearrings(xy, indices=np.repeat(np.arange(nring), sizes))
    del xy
    shell = np.flatnonzero(area2 > 0)
    hole = np.flatnonzero(area2 < 0)
    parent = np.full(nring, -1, np.int64)
    parent[shell] = shell
    if hole.size:
        # a point inside each hole (a quarter pixel right of its first edge's middle), in the smallest
        # shell around it: its own (a shell in a hole of another shell is smaller than that one)
        e = first[hole]
        d = np.column_stack([bx_by[e, 0] - ax_ay[e, 0], bx_by[e, 1] - ax_ay[e, 1]]).astype(np.float64)
        mid = ax_ay[e] + offset + 0.5 * d + 0.25 * np.sign(np.column_stack([d[:, 1], -d[:, 0]]))
        if transform is not None:
            mid = _apply(transform, mid)
        probes = shapely.points(mid)
        shells = shapely.polygons(rings[shell])
        s_i, h_i = shapely.STRtree(probes).query(shells, predicate="contains")
        by_size = np.lexsort((area2[shell][s_i], h_i))
        h_sorted, s_sorted = h_i[by_size], s_i[by_size]
        firsts = np.unique(h_sorted, return_index=True)[1]
        if len(firsts) != hole.size:
            raise ValueError("a hole of the joined outlines lies in no shell")
        parent[hole[h_sorted[firsts]]] = shell[s_sorted[firsts]]
    # rings grouped by polygon, its shell first
    ring_order = np.lexsort((area2 < 0, parent))
    poly_of_ring = np.searchsorted(shell, parent[ring_order])
    polygons = shapely.polygons(rings[ring_order], indices=poly_of_ring)
    poly_group = group[part[first[shell]]]
    out = np.empty(ngroups, object)
    counts = np.bincount(poly_group, minlength=ngroups)
    single = counts[poly_group] == 1
    out[poly_group[single]] = polygons[single]
    multi = np.flatnonzero(~single)
    if multi.size:
        g = poly_group[multi]
        by_group = np.argsort(g, kind="stable")
        ids, index = np.unique(g[by_group], return_inverse=True)
        out[ids] = shapely.multipolygons(polygons[multi][by_group], indices=index)
    return out
