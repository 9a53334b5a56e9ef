"""The loops of the case maps, compiled by numba: one pass over a tile's cases (or all of them)
testing every filter and counting into bins, hexagons or groups; and the similar-case alert's
scan of the cases of a few classes within hours of a report (:func:`within_radius`).

Why compiled loops, written here: numpy's answer to "count the cases passing six filters per
64-pixel bin of this tile" makes a temporary array per filter and per step, 0.6 s for ten million
cases; a fused loop reads each case once, 40 ms on one core, 20 on two. PostgreSQL's answer (the
peer of bench/case_maps.py) reads the rows from the heap and takes seconds. No library offers
this pass over our own columns; numba compiles it (cached on disk after the first run).

Every kernel takes the filter as the same arguments (see :class:`cases.mapindex.Compiled`): a
time interval in the index's int32 seconds, and boolean tables indexed by class id, stage, source
id, the id of the case's area at the filtered level and its responsibility grid id.

The kernels repeat one frame (split rows a..b over THREADS, skip a row `_ok` refuses, count into
a per-thread row, sum the rows): numba compiles a `prange` loop with its body in place, where a
body passed in as a function would be called through a pointer for each of ten million rows.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

THREADS = 2  # the machines this runs on have two cores; a pass is split in as many parts


# bits of ``use``: the filters a pass tests (a column no filter needs is not read at all: the pass
# over ten million cases is bound by the memory it reads)
USE_TIME, USE_CLASS, USE_STAGE, USE_SOURCE, USE_AREA, USE_GRID = 1, 2, 4, 8, 16, 32


@njit(cache=True, nogil=True, inline="always")
def _ok(i, t, cls, st, src, area, rg, t0, t1, cls_ok, st_ok, src_ok, area_ok, rg_ok, use):
    if use == 0:
        return True
    if use & 1:
        ti = t[i]
        if ti < t0 or ti > t1:
            return False
    if use & 2 and not cls_ok[cls[i]]:
        return False
    if use & 4 and not st_ok[st[i]]:
        return False
    if use & 8 and not src_ok[src[i]]:
        return False
    if use & 16 and not area_ok[area[i]]:
        return False
    return not (use & 32 and not rg_ok[rg[i]])


@njit(cache=True, nogil=True, parallel=True)
def square_bins(x, y, idx, a, b, mix, nmix, t, cls, st, src, area, rg,
                t0, t1, cls_ok, st_ok, src_ok, area_ok, rg_ok, use, ox, oy, shift, nb):
    """Counts of the filtered cases per bin of an ``nb`` x ``nb`` grid whose bins are 2**shift
    units wide from (ox, oy): rows ``a``..``b`` of the columns (through ``idx`` when it is not
    empty); also the sums of their positions within their bin (for a cluster's middle) and the
    counts per ``mix`` group (the class mix). Rows outside the grid are not counted."""
    n_b = nb * nb
    counts = np.zeros((THREADS, n_b), np.int64)
    sx = np.zeros((THREADS, n_b), np.float64)
    sy = np.zeros((THREADS, n_b), np.float64)
    groups = np.zeros((THREADS, n_b * nmix), np.int64)
    step = (b - a + THREADS - 1) // THREADS
    indexed = idx.shape[0] > 0
    for k in prange(THREADS):
        lo = a + k * step
        hi = min(b, lo + step)
        for j in range(lo, hi):
            i = idx[j] if indexed else j
            if not _ok(i, t, cls, st, src, area, rg, t0, t1, cls_ok, st_ok, src_ok, area_ok, rg_ok, use):
                continue
            dx = np.uint32(x[i] - ox)  # wraps to a huge number left of the grid: outside
            dy = np.uint32(y[i] - oy)
            bx = dx >> shift
            by = dy >> shift
            if bx >= nb or by >= nb:
                continue
            cell = by * nb + bx
            counts[k, cell] += 1
            sx[k, cell] += dx - (bx << shift)
            sy[k, cell] += dy - (by << shift)
            groups[k, cell * nmix + mix[i]] += 1
    return counts.sum(axis=0), sx.sum(axis=0), sy.sum(axis=0), groups.sum(axis=0)


@njit(cache=True, nogil=True, parallel=True)
def pixel_counts(x, y, idx, a, b, t, cls, st, src, area, rg,
                 t0, t1, cls_ok, st_ok, src_ok, area_ok, rg_ok, use, ox, oy, shift, nb):
    """Counts of the filtered cases per cell of an ``nb`` x ``nb`` grid of 2**shift units from
    (ox, oy), cells in rows (the heat tiles' pixels)."""
    counts = np.zeros((THREADS, nb * nb), np.int64)
    step = (b - a + THREADS - 1) // THREADS
    indexed = idx.shape[0] > 0
    for k in prange(THREADS):
        lo = a + k * step
        hi = min(b, lo + step)
        for j in range(lo, hi):
            i = idx[j] if indexed else j
            if not _ok(i, t, cls, st, src, area, rg, t0, t1, cls_ok, st_ok, src_ok, area_ok, rg_ok, use):
                continue
            bx = np.uint32(x[i] - ox) >> shift
            by = np.uint32(y[i] - oy) >> shift
            if bx < nb and by < nb:
                counts[k, by * nb + bx] += 1
    return counts.sum(axis=0)


@njit(cache=True, nogil=True, parallel=True)
def hex_bins(x, y, idx, a, b, t, cls, st, src, area, rg,
             t0, t1, cls_ok, st_ok, src_ok, area_ok, rg_ok, use, ox, oy, tile_shift, size, q0, r0, nq, nr):
    """Counts of the filtered cases of one tile (2**tile_shift units from (ox, oy), 256 pixels)
    per pointy-top hexagon of ``size`` pixels (centre to corner), hexagons numbered globally in
    axial coordinates (q, r) of the tile's pixel space shifted by (q0, r0); only cases inside the
    tile are counted, so a tile's hexagons add up to its cases."""
    counts = np.zeros((THREADS, nr, nq), np.int64)
    unit = np.float64(1 << (tile_shift - 8))  # index units per pixel
    indexed = idx.shape[0] > 0
    # axial coordinates straight from index units: the constant factors folded once, and rint
    # rather than np.round (which scales by 10**decimals): a third of the pass over ten million
    # cases, the same counts
    kq = np.sqrt(3.0) / 3 / (unit * size)
    kp = 1.0 / 3 / (unit * size)
    kr = 2.0 / 3 / (unit * size)
    step = (b - a + THREADS - 1) // THREADS
    for k in prange(THREADS):
        lo = a + k * step
        hi = min(b, lo + step)
        for j in range(lo, hi):
            i = idx[j] if indexed else j
            if not _ok(i, t, cls, st, src, area, rg, t0, t1, cls_ok, st_ok, src_ok, area_ok, rg_ok, use):
                continue
            dx = np.uint32(x[i] - ox)
            dy = np.uint32(y[i] - oy)
            if (dx >> tile_shift) != 0 or (dy >> tile_shift) != 0:
                continue
            qf = kq * np.float64(dx) - kp * np.float64(dy)
            rf = kr * np.float64(dy)
            sf = -qf - rf
            q = np.rint(qf)
            r = np.rint(rf)
            s = np.rint(sf)
            dq, dr, ds = abs(q - qf), abs(r - rf), abs(s - sf)
            if dq > dr and dq > ds:
                q = -r - s
            elif dr > ds:
                r = -q - s
            qi = int(q) - q0
            ri = int(r) - r0
            if 0 <= qi < nq and 0 <= ri < nr:
                counts[k, ri, qi] += 1
    return counts.sum(axis=0)


@njit(cache=True, nogil=True, parallel=True)
def group_counts(group, ngroups, closed, deadline, nst, idx, a, b, t, cls, st, src, area, rg,
                 t0, t1, cls_ok, st_ok, src_ok, area_ok, rg_ok, use):
    """Per group (an id per case: a district, a unit grid ...; 0 = none) the filtered cases per
    stage, and of those closed, how many within their class's deadline (seconds)."""
    per = np.zeros((THREADS, ngroups, nst), np.int64)
    on_time = np.zeros((THREADS, ngroups), np.int64)
    step = (b - a + THREADS - 1) // THREADS
    indexed = idx.shape[0] > 0
    for k in prange(THREADS):
        lo = a + k * step
        hi = min(b, lo + step)
        for j in range(lo, hi):
            i = idx[j] if indexed else j
            if not _ok(i, t, cls, st, src, area, rg, t0, t1, cls_ok, st_ok, src_ok, area_ok, rg_ok, use):
                continue
            g = group[i]
            per[k, g, st[i]] += 1
            c = closed[i]
            if c != -2147483648 and c - t[i] <= deadline[cls[i]]:
                on_time[k, g] += 1
    return per.sum(axis=0), on_time.sum(axis=0)


@njit(cache=True, nogil=True)
def pair_counts(origin, destination, n, idx, a, b, t, cls, st, src, area, rg,
                t0, t1, cls_ok, st_ok, src_ok, area_ok, rg_ok, use):
    """The filtered cases per (origin, destination) pair of ids (0 = none: not counted)."""
    out = np.zeros((n, n), np.int64)
    indexed = idx.shape[0] > 0
    for j in range(a, b):
        i = idx[j] if indexed else j
        if not _ok(i, t, cls, st, src, area, rg, t0, t1, cls_ok, st_ok, src_ok, area_ok, rg_ok, use):
            continue
        o, d = origin[i], destination[i]
        if o != 0 and d != 0:
            out[o, d] += 1
    return out


@njit(cache=True, nogil=True)
def morton(x, y):
    """Interleave the bits of two uint32 arrays: the Z-order key (x bits even, y bits odd)."""
    n = x.shape[0]
    out = np.empty(n, np.uint64)
    for i in range(n):
        out[i] = _spread(np.uint64(x[i])) | (_spread(np.uint64(y[i])) << np.uint64(1))
    return out


@njit(cache=True, nogil=True, inline="always")
def _spread(v):
    v = (v | (v << np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x3333333333333333)
    v = (v | (v << np.uint64(1))) & np.uint64(0x5555555555555555)
    return v


@njit(cache=True, nogil=True, inline="always")
def _metres(dlon, dlat, mx, my):
    return math.sqrt((dlon * mx) ** 2 + (dlat * my) ** 2)


@njit(cache=True, nogil=True)
def within_radius(lon, lat, starts, ends, x, y, mx, my, radius):
    """The rows within ``radius`` metres of (x, y) among rows ``starts[k]`` .. ``ends[k] - 1`` of
    every k: (rows, their k, metres). Distances on
    the local plane of ``mx``, ``my`` metres per degree (exact to millimetres over a few hundred
    metres). Why compiled: a report's candidates are the thousands of cases of its major class
    in the time window; numpy's ten steps over them cost the alert half a millisecond, most of
    an intake's time in the server."""
    n = 0
    for k in range(starts.shape[0]):
        n += ends[k] - starts[k]
    rows = np.empty(n, np.int64)
    seg = np.empty(n, np.int64)
    dist = np.empty(n, np.float64)
    m = 0
    for k in range(starts.shape[0]):
        for i in range(starts[k], ends[k]):
            d = _metres(lon[i] - x, lat[i] - y, mx, my)
            if d <= radius:
                rows[m] = i
                seg[m] = k
                dist[m] = d
                m += 1
    return rows[:m], seg[:m], dist[:m]


@njit(cache=True, nogil=True)
def recent_within_radius(lon, lat, t, cls, n, wanted, start, end, x, y, mx, my, radius):
    """As :func:`within_radius` over the first ``n`` rows of columns in arrival order (the cases
    stored since the index was read), taking those of a class in ``wanted`` reported within
    [``start``, ``end``]: (rows, metres)."""
    rows = np.empty(n, np.int64)
    dist = np.empty(n, np.float64)
    m = 0
    for i in range(n):
        if t[i] < start or t[i] > end:
            continue
        hit = False
        for c in wanted:
            if cls[i] == c:
                hit = True
                break
        if not hit:
            continue
        d = _metres(lon[i] - x, lat[i] - y, mx, my)
        if d <= radius:
            rows[m] = i
            dist[m] = d
            m += 1
    return rows[:m], dist[:m]
