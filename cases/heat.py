"""Raster heat tiles of cases (热力图, and the glow ramp of 荧光图): a kernel density of the filtered
cases, 256 x 256 PNG, seamless across tile edges.

The density: every case counts into the pixel it lies in; the counts are smoothed with a Gaussian
of sigma = ``SIGMA_PX`` pixels at every zoom (the bandwidth is 10 pixels of the zoom: 1.1 km at
z10, 69 m at z14 in Urumqi); the smoothed count per pixel is read as cases per km² (the pixel's
ground area at its row's latitude), and coloured by 1 - exp(-density / scale), scale default
``SCALE`` cases per km² (``scale=`` takes another). Cases up to 3 sigma outside the tile are
counted too, so a tile's edge pixels see what lies beyond them and neighbouring tiles meet.
"""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from urbangis.layers.errors import Invalid

from . import kernels
from .aggregate import PX, Grid, tile_grid
from .mapindex import Compiled, MapIndex

SIGMA_PX = 10.0
MARGIN = int(3 * SIGMA_PX)
SCALE = 500.0  # cases per km² at which the ramp is two-thirds of the way up
EARTH = 40_075_016.686  # metres around the equator
RAMPS = {
    # (position 0-1, r, g, b, alpha)
    "heat": [(0.0, 0, 0, 255, 0), (0.15, 0, 90, 255, 120), (0.35, 0, 220, 220, 170), (0.55, 120, 230, 0, 200),
             (0.75, 255, 220, 0, 225), (1.0, 230, 0, 0, 245)],
    "glow": [(0.0, 20, 0, 40, 0), (0.2, 90, 0, 140, 110), (0.45, 220, 0, 200, 180), (0.7, 255, 120, 40, 220),
             (0.9, 255, 230, 120, 245), (1.0, 255, 255, 230, 255)],
}


def _lut(name: str) -> np.ndarray:
    stops = RAMPS[name]
    pos = np.array([s[0] for s in stops])
    grid = np.linspace(0, 1, 256)
    return np.stack([np.interp(grid, pos, [s[k] for s in stops]) for k in range(1, 5)], axis=1).astype(np.uint8)


LUTS = {name: _lut(name) for name in RAMPS}
_KERNEL = np.exp(-0.5 * (np.arange(-MARGIN, MARGIN + 1) / SIGMA_PX) ** 2)
_KERNEL /= _KERNEL.sum()


def _smooth(counts: np.ndarray) -> np.ndarray:
    """A separable Gaussian of sigma SIGMA_PX over ``counts`` (the margin is cut off after)."""
    out = np.zeros_like(counts, dtype=np.float64)
    for k, w in enumerate(_KERNEL):
        d = k - MARGIN
        out[:, max(0, d):counts.shape[1] + min(0, d)] += w * counts[:, max(0, -d):counts.shape[1] - max(0, d)]
    rows = np.zeros_like(out)
    for k, w in enumerate(_KERNEL):
        d = k - MARGIN
        rows[max(0, d):out.shape[0] + min(0, d), :] += w * out[max(0, -d):out.shape[0] - max(0, d), :]
    return rows


def _counts(ix: MapIndex, g: Grid, f: Compiled) -> np.ndarray:
    """Cases per pixel of the tile and its margin (one pixel = 2**(shift-8) units)."""
    shift = g.shift - 8
    span = PX + 2 * MARGIN
    nb = 1 << math.ceil(math.log2(span))  # the kernel counts a power-of-two square; the rest is cut
    ox = (g.ox - (MARGIN << shift)) % (1 << 32)
    oy = (g.oy - (MARGIN << shift)) % (1 << 32)
    total = np.zeros(nb * nb, np.int64)
    for xs, ys, idx, a, b, cols in _margin_runs(ix, g, f):  # the margin lies in the tile's 8 neighbours
        if b > a:
            total += kernels.pixel_counts(xs, ys, idx, a, b, *f.args(cols), np.uint32(ox), np.uint32(oy), shift, nb)
    return total.reshape(nb, nb)[:span, :span]


def _margin_runs(ix: MapIndex, g: Grid, f: Compiled):
    """The main rows of the 3 x 3 tiles around the tile (its margin lies in them), then the tail."""
    main = ix.main
    z = (32 if not g.plate else 31) - g.shift
    tx, ty = g.ox >> g.shift, g.oy >> g.shift
    width = (1 << z) * (2 if g.plate else 1)
    height = 1 << z
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            x, y = (tx + dx) % width, ty + dy
            if not 0 <= y < height:
                continue
            if g.plate:
                a, b = ix.plate_run(z, x, y)
                yield main.xc, main.yc, ix.order_c, a, b, main
            else:
                a, b = ix.mercator_run(z, x, y)
                yield main.xm, main.ym, np.zeros(0, np.int64), a, b, main
    if f.tail_n:
        tail = f.tail
        yield (tail.xc if g.plate else tail.xm), (tail.yc if g.plate else tail.ym), np.zeros(0, np.int64), 0, \
            f.tail_n, tail


def _km2_per_pixel(g: Grid) -> np.ndarray:
    """Ground area of one pixel in km², per pixel row (at the row's middle latitude: rows of two
    tiles meeting at an edge see the same areas, so the tiles meet without a seam)."""
    z = (32 if not g.plate else 31) - g.shift
    mid = (g.oy + (np.arange(PX) + 0.5) * float(1 << (g.shift - 8))) / 2.0 ** 32
    if g.plate:
        lat = 90.0 - mid * 2 * 180.0
        deg = 360.0 / (2 ** (z + 1) * PX)
        return (deg * 111.32) * (deg * 111.32 * np.cos(np.radians(lat)))
    lat = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * mid))))
    metres = EARTH * np.cos(np.radians(lat)) / (2 ** z * PX)
    return (metres / 1000.0) ** 2


def heat_tile(ix: MapIndex, tms_id: str, z: int, x: int, y: int, f: Compiled, ramp: str = "heat",
              scale: float = SCALE) -> bytes:
    """A heat (or glow) tile as PNG bytes."""
    if ramp not in RAMPS:
        raise Invalid(f"ramp: {ramp!r} is not one of {', '.join(RAMPS)}", parameter="ramp", value=ramp)
    if not 0 < scale < 1e9:
        raise Invalid(f"scale: {scale} must be a positive number of cases per km²", parameter="scale", value=scale)
    g = tile_grid(tms_id, z, x, y)
    counts = _counts(ix, g, f)
    density = _smooth(counts.astype(np.float64))[MARGIN:MARGIN + PX, MARGIN:MARGIN + PX] / _km2_per_pixel(g)[:, None]
    level = np.clip(np.rint(255 * (1 - np.exp(-density / scale))), 0, 255).astype(np.uint8)
    rgba = LUTS[ramp][level]
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG", compress_level=1)
    return buf.getvalue()
