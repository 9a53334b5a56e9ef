"""Change detection between two epochs of imagery, windowed, clipped to a site's zones.

Pipeline (two passes over the image, memory bounded by the block size):

1. grid: the after image is warped onto the before image's grid (:mod:`.grid`);
2. sample: ``sample_blocks`` windows spread over the grid are read;
3. co-registration on the most textured samples, the shift folded into the warp, the residual
   checked (:mod:`.coregister`, refuses over 0.3 px);
4. radiometric normalisation fitted on the samples' pseudo-invariant pixels (:mod:`.radiometry`);
5. score: bidirectional neighbourhood-minimum change-vector magnitude over the bands plus NDVI and
   NDWI (4 bands R, G, B, NIR) after a 3 x 3 binomial prefilter of both dates, each feature weighted
   by the inverse variance of its difference between the dates, estimated robustly (from the lower
   quartile of |difference|) on the samples (:func:`features`, :func:`score_kernel`); when the
   scene changed as a whole (a season: the noise of the differences several times that of the same
   differences without their local mean), the score of the features without their local mean
   (``highpass``) joins it, pixel by pixel the larger of the two in the plain score's units;
6. threshold: estimated from the samples' scores (Li's minimum cross-entropy by default), i.e. from the data;
7. detect, block by block with an overlap margin: threshold, morphological closing, minimum
   mapping unit, per-label sums over the patches and their rings of surroundings in passes over the
   label image (:func:`label_stats`), polygonise (one rasterio.features.shapes call a block);
   patches cut by block edges are joined at the end on the pixel grid (:mod:`.outlines`, which also
   redraws GDAL's outlines that touch themselves at a corner as valid polygons); class, confidence
   and area in m2 computed on arrays of all patches at once.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, Callable, Iterable, Sequence

import numba
import numpy as np
import shapely
from pyproj import CRS, Transformer
from rasterio import features as rfeatures
from rasterio.windows import Window
from scipy import ndimage
from scipy.special import ndtri
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from skimage import filters
from tqdm import tqdm

from urbangis.layers.geodesy import zone_srid

from . import coregister, outlines, radiometry
from .coregister import MAX_RESIDUAL_PX
from .grid import Grid, grid_of, open_on_grid

log = logging.getLogger("urbangis.heritage")
CLASSES = ("new construction", "demolition", "alteration", "vegetation loss", "vegetation gain", "water change",
           "other")


@dataclass(frozen=True)
class Params:
    """Detection parameters and their defaults (docs/heritage.md explains each)."""

    block: int = 1024  # block side in pixels: memory is O(block^2), not O(image)
    margin: int = 16  # overlap read around a block (raised to highpass / 2 + 12 and mmu_px when smaller)
    mmu_px: int = 9  # minimum mapping unit in pixels (3 x 3)
    radius: int = 1  # neighbourhood of the bidirectional minimum distance (tolerated misregistration, px)
    threshold: str | float = "li"  # "li" (minimum cross-entropy), "otsu", "triangle" or a fixed score
    min_threshold: float = 3.0  # floor of the data-driven threshold, in noise standard deviations
    noise_quantile: float = 0.25  # quantile of |difference| the noise level is read from (0.5: the MAD)
    sample_blocks: int = 16  # windows read in the first pass (co-registration, radiometry, threshold)
    sample_size: int = 384  # side of a sample window
    coregister: bool = True
    max_residual_px: float = MAX_RESIDUAL_PX
    bands: str = "RGBN"  # band order; NDVI and NDWI need R, G and N
    index_soft: float = 48.0  # DN added to the NDVI/NDWI denominators (SAVI-like) against dark-pixel noise
    highpass: int = 11  # side of the local mean of the detail score (0: no detail score; see docs)
    detail_when: float = 2.0  # plain / detail noise from which the detail score joins the plain one (0: always)
    smooth: int = 1  # radius of the binomial prefilter of both dates (equalises resampling blur); 0: none
    water_ndwi: float = 0.05  # NDWI (soft) above which a surface counts as water
    index_change: float = 0.08  # NDVI/NDWI (soft) change that counts as vegetation/water change
    object_contrast: float = 0.15  # patch-vs-surroundings distance (band SDs) that makes an object
    rectilinear: float = 0.74  # area / minimum rotated rectangle: at least this is building-shaped
    grey_saturation: float = 0.08  # (max - min) / mean of R, G, B: below this a surface is grey (roof-like)
    ring_px: int = 2  # width of the surroundings ring


@dataclass
class Patch:
    """One detected change: geometry in the grid's CRS, class, area in m2, confidence in 0..1."""

    geometry: BaseGeometry
    cls: str
    area_m2: float
    confidence: float
    pixels: int
    mean_score: float
    crs: str = ""


@dataclass
class _Pieces:
    """Parts of patches as columns (one row a part): what a block reports, and what runs are merged from.

    ``n``, ``score``, ``f0``/``f1`` are sums over the part's pixels in its block's core; ``ring_*`` the
    same over its ring of surroundings in that core; ``cut``: the patch goes on outside the core."""

    geometry: np.ndarray  # shapely geometries, object array
    n: np.ndarray
    score: np.ndarray
    f0: np.ndarray  # parts x K, sums of the features, before
    f1: np.ndarray
    ring_n: np.ndarray
    ring0: np.ndarray
    ring1: np.ndarray
    cut: np.ndarray

    def __len__(self) -> int:
        return len(self.n)

    def take(self, idx: np.ndarray) -> "_Pieces":
        return _Pieces(self.geometry[idx], self.n[idx], self.score[idx], self.f0[idx], self.f1[idx], self.ring_n[idx],
                       self.ring0[idx], self.ring1[idx], self.cut[idx])

    @staticmethod
    def empty(k: int) -> "_Pieces":
        z = np.zeros(0)
        return _Pieces(np.empty(0, object), np.zeros(0, np.int64), z, np.zeros((0, k)), np.zeros((0, k)),
                       np.zeros(0, np.int64), np.zeros((0, k)), np.zeros((0, k)), np.zeros(0, bool))

    @staticmethod
    def concat(parts: "Sequence[_Pieces]") -> "_Pieces":
        return _Pieces(*(np.concatenate([getattr(p, f) for p in parts]) for f in (
            "geometry", "n", "score", "f0", "f1", "ring_n", "ring0", "ring1", "cut")))


@dataclass
class Model:
    """What the first pass learnt: shift, residual, radiometric fit, feature weights, threshold."""

    shift: tuple[float, float]
    residual_px: float
    norm: radiometry.Normalisation
    weight: np.ndarray
    threshold: float
    band_sd: np.ndarray
    red: int = -1
    green: int = -1
    nir: int = -1
    index_soft: float = 48.0
    smooth: int = 1
    highpass: int = 0
    sample_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    # with ``highpass``: the weights and threshold of the detail features (features minus their
    # local mean), whose score joins the plain one (see process_block)
    detail_weight: np.ndarray = field(default_factory=lambda: np.ones(1, np.float32))
    detail_threshold: float = 0.0
    scene_change: float = 1.0  # median over the features of plain / detail noise (see learn)


# ---------------------------------------------------------------- per-pixel kernels
# Written by hand (numba) because no library fuses these steps: numpy would allocate a temporary image
# per operation (a dozen per block) and the bidirectional neighbourhood-minimum distance has no
# vectorised form; fused, a block costs one pass over its pixels.

EPS = np.float32(1e-6)


@numba.njit(cache=True, nogil=True)
def validity(before, after, ok0, ok1, valid):  # pragma: no cover - compiled
    """Per pixel: no band is 0 (GDAL's per-band nodata) in the before, the after, both. Row by row and
    band by band, branch-free: loops the compiler vectorises."""
    nb, h, w = before.shape
    for y in range(h):
        for x in range(w):
            ok0[y, x] = True
            ok1[y, x] = True
        for b in range(nb):
            for x in range(w):
                ok0[y, x] &= before[b, y, x] > 0
                ok1[y, x] &= after[b, y, x] > 0
        for x in range(w):
            valid[y, x] = ok0[y, x] & ok1[y, x]


@numba.njit(cache=True, nogil=True)
def _rows(plane, ok, taps, out):  # pragma: no cover - compiled
    """The filter along rows, over valid pixels only (``ok`` None-like when all are valid)."""
    h, w = plane.shape
    r = len(taps) // 2
    for y in range(h):
        for x in range(w):
            if r <= x < w - r:  # the interior: no clamping, and no test when the block is all valid
                s = np.float32(0.0)
                if ok.shape[0] == 0:
                    for d in range(-r, r + 1):
                        s += taps[d + r] * plane[y, x + d]
                else:
                    for d in range(-r, r + 1):
                        s += taps[d + r] * plane[y, x + d] * ok[y, x + d]
                out[y, x] = s
                continue
            s = np.float32(0.0)
            for d in range(-r, r + 1):
                xx = min(max(x + d, 0), w - 1)
                if ok.shape[0] == 0 or ok[y, xx]:
                    s += taps[d + r] * plane[y, xx]
            out[y, x] = s


@numba.njit(cache=True, nogil=True)
def _cols(plane, taps, out):  # pragma: no cover - compiled
    """The filter along columns."""
    h, w = plane.shape
    r = len(taps) // 2
    for y in range(h):
        if r <= y < h - r:
            for x in range(w):
                s = np.float32(0.0)
                for d in range(-r, r + 1):
                    s += taps[d + r] * plane[y + d, x]
                out[y, x] = s
            continue
        for x in range(w):
            s = np.float32(0.0)
            for d in range(-r, r + 1):
                s += taps[d + r] * plane[min(max(y + d, 0), h - 1), x]
            out[y, x] = s


@numba.njit(cache=True, nogil=True)
def _rows3(plane, ok, taps, out):  # pragma: no cover - compiled
    """:func:`_rows` for three taps and a mask: the same sums in the same order, the interior without
    a branch so that the compiler vectorises it (4x faster on blocks with nodata, at an image edge)."""
    h, w = plane.shape
    t0, t1, t2 = taps[0], taps[1], taps[2]
    for y in range(h):
        for x in range(1, w - 1):
            s = np.float32(0.0)
            s += t0 * plane[y, x - 1] * ok[y, x - 1]
            s += t1 * plane[y, x] * ok[y, x]
            s += t2 * plane[y, x + 1] * ok[y, x + 1]
            out[y, x] = s
        for x in (0, w - 1):
            s = np.float32(0.0)
            for d in range(-1, 2):
                xx = min(max(x + d, 0), w - 1)
                if ok[y, xx]:
                    s += taps[d + 1] * plane[y, xx]
            out[y, x] = s


@numba.njit(cache=True, nogil=True)
def _cols3(plane, taps, out):  # pragma: no cover - compiled
    """:func:`_cols` for three taps, the interior rows without a branch."""
    h, w = plane.shape
    t0, t1, t2 = taps[0], taps[1], taps[2]
    for y in range(1, h - 1):
        for x in range(w):
            s = np.float32(0.0)
            s += t0 * plane[y - 1, x]
            s += t1 * plane[y, x]
            s += t2 * plane[y + 1, x]
            out[y, x] = s
    for y in (0, h - 1):
        for x in range(w):
            s = np.float32(0.0)
            for d in range(-1, 2):
                s += taps[d + 1] * plane[min(max(y + d, 0), h - 1), x]
            out[y, x] = s


@numba.njit(cache=True, nogil=True)
def _binomial3(img, gain, offset, f, tmp):  # pragma: no cover - compiled
    """The common case of :func:`smooth`: [1 2 1] / 4 both ways, every pixel valid; the column pass
    writes ``f`` (times ``gain`` plus ``offset``) directly; loops simple enough to vectorise."""
    nb, h, w = img.shape
    for b in range(nb):
        p = img[b]
        for y in range(h):
            tmp[y, 0] = (np.float32(3) * p[y, 0] + p[y, 1]) * np.float32(0.25)
            for x in range(1, w - 1):
                tmp[y, x] = (np.float32(p[y, x - 1]) + np.float32(2) * p[y, x] + p[y, x + 1]) * np.float32(0.25)
            tmp[y, w - 1] = (np.float32(3) * p[y, w - 1] + p[y, w - 2]) * np.float32(0.25)
        g, o = gain[b], offset[b]
        for x in range(w):
            f[0, x, b] = (np.float32(3) * tmp[0, x] + tmp[1, x]) * np.float32(0.25) * g + o
            f[h - 1, x, b] = (np.float32(3) * tmp[h - 1, x] + tmp[h - 2, x]) * np.float32(0.25) * g + o
        for y in range(1, h - 1):
            for x in range(w):
                f[y, x, b] = (tmp[y - 1, x] + np.float32(2) * tmp[y, x] + tmp[y + 1, x]) * np.float32(0.25) * g + o


@numba.njit(cache=True, nogil=True)
def smooth(img, ok, taps, gain, offset, f, scratch):  # pragma: no cover - compiled
    """``f[y, x, b]`` = ``img[b]`` through the separable filter ``taps``, weights over valid (``ok``)
    pixels only, so that nodata does not bleed into its neighbours, times ``gain[b]`` plus
    ``offset[b]``. Plane by plane: contiguous. ``scratch``: 4 x rows x cols float32 working planes
    (given, not allocated: fresh planes cost page faults every block)."""
    nb, h, w = img.shape
    tmp, norm, out, ones = scratch[0], scratch[1], scratch[2], scratch[3]
    if len(taps) == 3 and ok.all():
        _binomial3(img, gain, offset, f, tmp)
        return
    ones[:] = 1.0
    mask = np.empty((0, 0), np.bool_) if ok.all() else ok
    three = len(taps) == 3 and mask.shape[0] > 0
    if three:
        _rows3(ones, mask, taps, tmp)
        _cols3(tmp, taps, norm)
    else:
        _rows(ones, mask, taps, tmp)
        _cols(tmp, taps, norm)
    for b in range(nb):
        if three:
            _rows3(img[b], mask, taps, tmp)
            _cols3(tmp, taps, out)
        else:
            _rows(img[b], mask, taps, tmp)
            _cols(tmp, taps, out)
        for y in range(h):
            for x in range(w):
                f[y, x, b] = out[y, x] / max(norm[y, x], np.float32(1e-6)) * gain[b] + offset[b]


@numba.njit(cache=True, nogil=True)
def features(before, after, gain, offset, red, green, nir, soft, taps, f0, f1, valid, scratch):  # pragma: no cover
    """Per pixel, rows x cols x K: the bands (after radiometrically normalised), then NDVI and NDWI
    (McFeeters, green vs NIR) when ``nir`` >= 0. ``valid``: no band of either date is 0, GDAL's
    per-band nodata (a warp's resampling undershoot next to dark water also lands on 0).

    The indices' denominators get ``soft`` DN added (as SAVI's L does): in dark pixels (water,
    shadow) a plain ratio turns sensor noise into index changes of 0.2 and more. ``taps``: a
    normalised 1-D filter (odd length; [1.0] for none) both dates go through first, so that the after
    image's resampling blur (it was warped, the before was not) does not light up every sharp edge."""
    nb, h, w = before.shape
    ok0 = np.empty((h, w), np.bool_)
    ok1 = np.empty((h, w), np.bool_)
    validity(before, after, ok0, ok1, valid)
    smooth(before, ok0, taps, np.ones(nb, np.float32), np.zeros(nb, np.float32), f0, scratch)
    smooth(after, ok1, taps, gain, offset, f1, scratch)
    if nir >= 0:
        _indices(f0, red, green, nir, nb, soft)
        _indices(f1, red, green, nir, nb, soft)


@numba.njit(cache=True, nogil=True)
def _indices(f, red, green, nir, nb, soft):  # pragma: no cover - compiled
    """NDVI and NDWI (soft denominators) into channels nb and nb + 1."""
    h, w, _ = f.shape
    for y in range(h):
        for x in range(w):
            rd, gr, ni = f[y, x, red], f[y, x, green], f[y, x, nir]
            f[y, x, nb] = (ni - rd) / (abs(ni + rd) + soft)
            f[y, x, nb + 1] = (gr - ni) / (abs(gr + ni) + soft)


@numba.njit(cache=True, nogil=True)
def score_kernel(f0, f1, weight, valid, radius, below, out):  # pragma: no cover - compiled
    """Bidirectional neighbourhood-minimum change-vector magnitude.

    For a pixel p: d(after p, nearest before q within ``radius``) and d(before p, nearest after q),
    the larger of the two, as an RMS over the K weighted features. A new or removed object keeps its
    full difference (no pixel of the other date within the radius looks like it); an edge displaced
    by a residual misregistration of up to ``radius`` px does not. A pixel whose own difference is
    under ``below`` (the threshold) scores that difference: its minimum could only be lower, and
    most pixels are unchanged, so the neighbourhood is searched for few of them.
    """
    h, w, k = f0.shape
    c0 = np.empty(k, np.float32)  # the pixel's own features, kept out of the neighbour loop
    c1 = np.empty(k, np.float32)
    lim = below * below * k
    for y in range(h):
        for x in range(w):
            if not valid[y, x]:
                out[y, x] = 0.0
                continue
            d = 0.0
            for i in range(k):
                c0[i] = f0[y, x, i]
                c1[i] = f1[y, x, i]
                a = c1[i] - c0[i]
                d += weight[i] * a * a
            if d < lim:
                out[y, x] = np.sqrt(d / k)
                continue
            best01 = d  # the pixel itself, both ways: its own difference
            best10 = d
            for yy in range(max(0, y - radius), min(h, y + radius + 1)):
                for xx in range(max(0, x - radius), min(w, x + radius + 1)):
                    if (yy == y and xx == x) or not valid[yy, xx]:
                        continue
                    d01 = 0.0
                    d10 = 0.0
                    for i in range(k):
                        a = c1[i] - f0[yy, xx, i]
                        b = c0[i] - f1[yy, xx, i]
                        d01 += weight[i] * a * a
                        d10 += weight[i] * b * b
                    best01 = min(best01, d01)
                    best10 = min(best10, d10)
            out[y, x] = np.sqrt(max(best01, best10) / k)


# ---------------------------------------------------------------- per block

def _taps(radius: int) -> np.ndarray:
    """The binomial filter of ``radius``: [1], [1 2 1]/4, [1 4 6 4 1]/16 ..."""
    taps = np.array([math.comb(2 * radius, i) for i in range(2 * radius + 1)], np.float32)
    return taps / taps.sum()


def _buffer(buffers: dict | None, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A C-contiguous array of ``shape`` on the start of a flat buffer kept in ``buffers`` (grown when
    too small): blocks of any size reuse the same memory, which stays that of the largest block."""
    size = math.prod(shape)
    buf = buffers.get(name) if buffers is not None else None
    if buf is None or buf.size < size or buf.dtype != np.dtype(dtype):
        buf = np.empty(size, dtype)
        if buffers is not None:
            buffers[name] = buf
    return buf[:size].reshape(shape)


def block_features(before: np.ndarray, after: np.ndarray, model: Model,
                   buffers: dict | None = None) -> tuple[np.ndarray, ...]:
    """Features of both dates (rows x cols x K) and validity of a block of uint8 bands.

    ``buffers``: a dict the arrays are kept in and reused from (:func:`_buffer`): fresh 76-byte-per-pixel
    arrays cost page faults every block (6-20 ms a 1056 x 1056 block on this machine)."""
    nb, h, w = before.shape
    k = nb + (2 if model.nir >= 0 else 0)
    f0 = _buffer(buffers, "f0", (h, w, k), np.float32)
    f1 = _buffer(buffers, "f1", (h, w, k), np.float32)
    valid = _buffer(buffers, "valid", (h, w), np.bool_)
    scratch = _buffer(buffers, "scratch", (4, h, w), np.float32)
    gain = np.asarray(model.norm.gain, np.float32)
    offset = np.asarray(model.norm.offset, np.float32)
    features(np.ascontiguousarray(before), np.ascontiguousarray(after), gain, offset, model.red,
                      model.green, model.nir, np.float32(model.index_soft), _taps(model.smooth), f0, f1, valid, scratch)
    return f0, f1, valid


def detail(f: np.ndarray, size: int, buffers: dict | None = None, name: str = "detail") -> np.ndarray:
    """Features minus their local mean over ``size`` x ``size`` px (0: unchanged): what a building-
    sized object changes survives, a field's or a season's slow change across the scene does not.
    The mean is that of scipy's ``uniform_filter(f, (size, size, 1), mode="nearest")``, by running
    sums in numba into kept buffers: 10.6-11.8 s against scipy's 11.9-12.4 s for a 4000 x 4000
    real pair, the same patches (scipy also allocates two block-sized images per call)."""
    if size <= 0:
        return f
    h, w, k = f.shape
    out = _buffer(buffers, name, f.shape, np.float32)
    rows = _buffer(buffers, "detail_rows", (h, w, k), np.float32)
    _box_detail(np.ascontiguousarray(f, dtype=np.float32), size, rows, out)
    return out


@numba.njit(cache=True, nogil=True)
def _box_detail(f, size, rows, out):  # pragma: no cover - compiled
    h, w, k = f.shape
    lo = size // 2  # scipy's centring: size // 2 before, the rest after
    hi = size - 1 - lo
    inv = 1.0 / size
    acc = np.zeros(k, np.float64)
    for r in range(h):  # along each row: mean over columns c - lo .. c + hi, indices clamped
        acc[:] = 0.0
        for j in range(-lo, hi + 1):
            jj = min(max(j, 0), w - 1)
            for b in range(k):
                acc[b] += f[r, jj, b]
        for c in range(w):
            for b in range(k):
                rows[r, c, b] = acc[b] * inv
            add = min(c + hi + 1, w - 1)
            sub = min(max(c - lo, 0), w - 1)
            for b in range(k):
                acc[b] += f[r, add, b] - f[r, sub, b]
    col = np.zeros((w, k), np.float64)
    for i in range(-lo, hi + 1):  # then down each column over the row means, likewise
        ii = min(max(i, 0), h - 1)
        for c in range(w):
            for b in range(k):
                col[c, b] += rows[ii, c, b]
    for r in range(h):
        add = min(r + hi + 1, h - 1)
        sub = min(max(r - lo, 0), h - 1)
        for c in range(w):
            for b in range(k):
                out[r, c, b] = f[r, c, b] - col[c, b] * inv
                col[c, b] += rows[add, c, b] - rows[sub, c, b]


def block_score(f0: np.ndarray, f1: np.ndarray, valid: np.ndarray, weight: np.ndarray, radius: int,
                below: float = 0.0, buffers: dict | None = None, name: str = "score") -> np.ndarray:
    """The change score of a block (see :func:`score_kernel`); pixels whose own
    difference is under ``below`` keep it as their score (the neighbourhood minimum can only be lower)."""
    out = _buffer(buffers, name, valid.shape, np.float32)
    score_kernel(f0, f1, weight.astype(np.float32), valid, radius, np.float32(below), out)
    return out


@numba.njit(cache=True, nogil=True)
def _core_sums(labels, count, f0, f1, score, r0, c0, r1, c1, mmu, core):  # pragma: no cover - compiled
    """The per-label sums of :func:`label_stats` and the kept labels' pixels grouped by label."""
    h, w = labels.shape
    k = f0.shape[2]
    size = np.zeros(count + 1, np.int64)
    n = np.zeros(count + 1, np.int64)
    ssum = np.zeros(count + 1, np.float64)
    s0 = np.zeros((count + 1, k), np.float64)
    s1 = np.zeros((count + 1, k), np.float64)
    cut = np.zeros(count + 1, np.bool_)
    for y in range(h):
        inside_y = r0 <= y < r1
        for x in range(w):
            lab = labels[y, x]
            if lab == 0:
                continue
            size[lab] += 1
            if inside_y and c0 <= x < c1:
                n[lab] += 1
                ssum[lab] += score[y, x]
                for i in range(k):
                    s0[lab, i] += f0[y, x, i]
                    s1[lab, i] += f1[y, x, i]
            else:
                cut[lab] = True
    keep = np.zeros(count + 1, np.bool_)
    start = np.zeros(count + 2, np.int64)
    for lab in range(1, count + 1):
        keep[lab] = size[lab] >= mmu and n[lab] > 0
        start[lab + 1] = start[lab] + (size[lab] if keep[lab] else 0)
    pos = start.copy()
    pix = np.empty(start[count + 1], np.int64)
    core[:] = 0
    for y in range(h):
        for x in range(w):
            lab = labels[y, x]
            if lab != 0 and keep[lab]:
                pix[pos[lab]] = y * w + x
                pos[lab] += 1
                if r0 <= y < r1 and c0 <= x < c1:
                    core[y, x] = lab
    return keep, cut, n, ssum, s0, s1, start, pix, core


@numba.njit(cache=True, nogil=True)
def _rings(count, f0, f1, mask, r0, c0, r1, c1, ring_px, start, pix, stamp):  # pragma: no cover - compiled
    """The ring sums of :func:`label_stats`: each kept label's pixels stamp their ring once."""
    h, w = mask.shape
    k = f0.shape[2]
    ring_n = np.zeros(count + 1, np.int64)
    ring0 = np.zeros((count + 1, k), np.float64)
    ring1 = np.zeros((count + 1, k), np.float64)
    stamp[:] = 0
    for lab in range(1, count + 1):
        for j in range(start[lab], start[lab + 1]):
            y, x = pix[j] // w, pix[j] % w
            for dy in range(-ring_px, ring_px + 1):
                yy = y + dy
                if yy < r0 or yy >= r1:
                    continue
                rx = ring_px - abs(dy)
                for xx in range(max(x - rx, c0), min(x + rx + 1, c1)):
                    if mask[yy, xx] or stamp[yy, xx] == lab:
                        continue
                    stamp[yy, xx] = lab
                    ring_n[lab] += 1
                    for i in range(k):
                        ring0[lab, i] += f0[yy, xx, i]
                        ring1[lab, i] += f1[yy, xx, i]
    return ring_n, ring0, ring1


@numba.njit(cache=True, nogil=True)
def label_stats(labels, count, f0, f1, score, mask, r0, c0, r1, c1, ring_px, mmu, core, stamp):  # pragma: no cover
    """Per label of a block, in passes over the label image (not one slice per label): which labels are
    kept (at least ``mmu`` pixels, some of them in the core r0:r1, c0:c1) and whether they go on
    outside the core; sums over their pixels in the core (count, score, features of both dates); and
    the same over their ring of surroundings in the core: the pixels outside ``mask`` within L1
    distance ``ring_px`` of the whole label (what ``ndimage.binary_dilation`` with the cross gives,
    ``ring_px`` times). Also the image of the kept labels' core pixels, for polygonising, into ``core``
    (``stamp``: a working plane; both the block's size and the labels' type, given to be reused).

    Hand-written: scipy's per-label reductions (``ndimage.sum_labels``) take one pass per channel and
    have no per-label dilation; rings of neighbouring patches overlap, so one dilated label image
    cannot hold them. Here each kept label's pixels (grouped by a counting sort) stamp their ring once."""
    keep, cut, n, ssum, s0, s1, start, pix, core = _core_sums(labels, count, f0, f1, score, r0, c0, r1, c1, mmu,
                                                              core)
    ring_n, ring0, ring1 = _rings(count, f0, f1, mask, r0, c0, r1, c1, ring_px, start, pix, stamp)
    return keep, cut, n, ssum, s0, s1, ring_n, ring0, ring1, core


def _close3(m: np.ndarray) -> np.ndarray:
    """``ndimage.binary_closing(m, np.ones((3, 3)))`` (outside the block counts as 0 for both steps), as
    separable 3 x 1 and 1 x 3 maxima and minima by array slicing: 6x faster than scipy's generic
    binary morphology on a block, the same pixels."""
    d = m.copy()
    d[:, 1:] |= m[:, :-1]
    d[:, :-1] |= m[:, 1:]
    e = d.copy()
    e[1:] |= d[:-1]
    e[:-1] |= d[1:]
    d = e.copy()
    d[:, 1:] &= e[:, :-1]
    d[:, :-1] &= e[:, 1:]
    d[:, 0] = d[:, -1] = False
    e = d.copy()
    e[1:] &= d[:-1]
    e[:-1] &= d[1:]
    e[0] = e[-1] = False
    return e


def process_block(before: np.ndarray, after: np.ndarray, model: Model, params: Params, transform: Any,
                  core: tuple[int, int, int, int], buffers: dict | None = None) -> _Pieces:
    """Patches of one block read with a margin; ``core`` (r0, c0, r1, c1) is the block without it.

    Every block reports the part of a patch inside its core; parts of one patch in several blocks are
    joined at the end (exact: the margin holds the whole neighbourhood of the core). ``buffers``: see
    :func:`block_features`."""
    f0, f1, valid = block_features(before, after, model, buffers)
    score = block_score(f0, f1, valid, model.weight, params.radius, model.threshold, buffers)
    if model.highpass > 0:
        # the detail score in the plain one's units, the larger of the two kept: an object the size
        # of a building stands out of a field whose season changed it all (the plain score alone
        # drowns it), and an object larger than the local mean's window keeps its whole extent
        # (the detail score alone keeps its edges)
        d0, d1 = detail(f0, model.highpass, buffers, "detail0"), detail(f1, model.highpass, buffers, "detail1")
        fine = block_score(d0, d1, valid, model.detail_weight, params.radius, model.detail_threshold, buffers,
                           name="detail_score")
        fine *= np.float32(model.threshold / model.detail_threshold)
        np.maximum(score, fine, out=score)
    mask = _close3(score > model.threshold) & valid
    labels = _buffer(buffers, "labels", mask.shape, np.int32)
    count = ndimage.label(mask, structure=np.ones((3, 3), bool), output=labels)
    if count == 0:
        return _Pieces.empty(f0.shape[2])
    planes = [_buffer(buffers, name, labels.shape, labels.dtype) for name in ("core", "stamp")]
    keep, cut, n, ssum, s0, s1, ring_n, ring0, ring1, image = label_stats(
        labels, count, f0, f1, score, mask, core[0], core[1], core[2], core[3], params.ring_px, params.mmu_px, *planes)
    kept = np.flatnonzero(keep)
    if kept.size == 0:
        return _Pieces.empty(f0.shape[2])
    geoms = _polygons(image, kept, transform)
    return _Pieces(geoms, n[kept], ssum[kept], s0[kept], s1[kept], ring_n[kept], ring0[kept], ring1[kept], cut[kept])


def _polygons(image: np.ndarray, kept: np.ndarray, transform: Any) -> np.ndarray:
    """The outline of each label of ``kept`` (ascending) in ``image`` (0 elsewhere): one
    ``rasterio.features.shapes`` pass over the block; its rings become shapely geometries in one
    vectorised call (``shapely.linearrings`` / ``polygons`` with indices), the polygons of one label
    (a part cut by the core's edge, or touching at a corner only) are joined."""
    vals: list[int] = []
    nrings: list[int] = []
    sizes: list[int] = []
    coords: list[tuple[float, float]] = []
    for g, v in rfeatures.shapes(image, mask=image > 0, transform=transform, connectivity=8):
        rings = g["coordinates"]
        vals.append(int(v))
        nrings.append(len(rings))
        for r in rings:
            sizes.append(len(r))
            coords.extend(r)
    rings_arr = shapely.linearrings(np.asarray(coords, np.float64), indices=np.repeat(np.arange(len(sizes)), sizes))
    polys = shapely.polygons(rings_arr, indices=np.repeat(np.arange(len(vals)), nrings))
    v = np.asarray(vals)
    order = np.argsort(v, kind="stable")
    v, polys = v[order], polys[order]
    first = np.searchsorted(v, kept, side="left")
    last = np.searchsorted(v, kept, side="right")
    out = polys[first].copy()
    for i in np.flatnonzero(last - first > 1):
        out[i] = shapely.union_all(polys[first[i]:last[i]])
    return out


# ---------------------------------------------------------------- classes, confidence, area

def classify(pieces: _Pieces, model: Model, params: Params) -> np.ndarray:
    """The class of each patch from its mean before/after features and those of its surroundings
    (vectorised over the patches: arrays of per-patch features, rules as masks, first rule wins).

    An object *appears* when the patch stands out from its ring of surroundings after but not before
    (contrast in band standard deviations over ``object_contrast`` and twice the other date's), and
    *vanishes* the other way round; NDVI says whether vegetation came or went. Built-up that vanishes
    is demolition; what appears is new construction when rectilinear or grey (roofs), vegetation
    loss or gain when NDVI says so; an object in both dates that changed is an alteration.
    """
    count = len(pieces)
    m0, m1 = pieces.f0 / pieces.n[:, None], pieces.f1 / pieces.n[:, None]
    nb = len(model.band_sd)
    water = np.zeros(count, bool)
    dndvi = np.zeros(count)
    if model.nir >= 0:
        ndwi0, ndwi1 = m0[:, nb + 1], m1[:, nb + 1]
        water = (np.maximum(ndwi0, ndwi1) > params.water_ndwi) & (np.abs(ndwi1 - ndwi0) > params.index_change)
        dndvi = m1[:, nb] - m0[:, nb]
    veg = np.where(dndvi > params.index_change, "vegetation gain",
                   np.where(dndvi < -params.index_change, "vegetation loss", "other")).astype(object)
    c0, c1 = _contrasts(pieces, m0, m1, model)
    t = params.object_contrast
    vanish = (c0 > t) & (c0 > 2 * c1)
    appear = (c1 > t) & (c1 > 2 * c0) & ~vanish
    out = veg.copy()
    built = appear & (veg != "vegetation gain")
    if built.any():
        geoms = pieces.geometry[built]
        rect = shapely.area(geoms) / np.maximum(shapely.area(shapely.minimum_rotated_rectangle(geoms)), 1e-12)
        rgb = m1[built][:, :3] if nb >= 3 else m1[built][:, :nb]
        grey = (rgb.max(axis=1) - rgb.min(axis=1)) / np.maximum(rgb.mean(axis=1), 1e-6) < params.grey_saturation
        new = (rect >= params.rectilinear) | grey | (veg[built] == "other")
        out[built] = np.where(new, "new construction", veg[built])
    out[(c0 > t) & (c1 > t) & (veg == "other") & ~vanish & ~appear] = "alteration"
    out[vanish] = "demolition"
    out[water] = "water change"
    return out


def _contrasts(pieces: _Pieces, m0: np.ndarray, m1: np.ndarray, model: Model) -> tuple[np.ndarray, np.ndarray]:
    """How far each patch's mean is from its surroundings' (RMS over bands, in band SDs), per date;
    0 without surroundings."""
    nb = len(model.band_sd)
    rn = np.maximum(pieces.ring_n, 1)[:, None]
    r0, r1 = pieces.ring0 / rn, pieces.ring1 / rn
    sd = np.asarray(model.band_sd)
    c0 = np.sqrt(np.mean(((m0[:, :nb] - r0[:, :nb]) / sd) ** 2, axis=1))
    c1 = np.sqrt(np.mean(((m1[:, :nb] - r1[:, :nb]) / sd) ** 2, axis=1))
    none = pieces.ring_n == 0
    return np.where(none, 0.0, c0), np.where(none, 0.0, c1)


def confidence(mean_score: float, threshold: float) -> float:
    """0 at the threshold, towards 1 as the patch's mean score grows: 1 - threshold / mean score."""
    return float(min(max(1.0 - threshold / mean_score, 0.0), 1.0)) if mean_score > 0 else 0.0


@lru_cache(maxsize=None)
def _epsg(code: int) -> CRS:
    return CRS.from_epsg(code)


def _metric_code(lon: float, lat: float) -> int:
    if 73 <= lon <= 136 and 3 <= lat <= 54:
        return zone_srid(lon)
    zone = min(int((lon + 180) // 6) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def metric_crs(lon: float, lat: float) -> CRS:
    """Where areas are measured: the CGCS2000 3-degree Gauss-Kruger zone of the place in China
    (layers/geodesy.py); elsewhere (e.g. the NAIP test tile in the USA) the WGS 84 UTM zone of the
    feature's centre, the same kind of conformal transverse-Mercator zone."""
    return _epsg(_metric_code(lon, lat))


@lru_cache(maxsize=64)
def _transformer(src: CRS | str, dst: CRS | str) -> Transformer:
    """Transformers are slow to build (milliseconds): one per pair of CRSs."""
    return Transformer.from_crs(src, dst, always_xy=True)


def areas_m2(geoms: np.ndarray, crs: CRS) -> np.ndarray:
    """Area of each of ``geoms`` (in ``crs``) measured in the metric zone of its centre: the centres
    to lon/lat in one transform, then one transform per zone over all its geometries' coordinates."""
    out = np.zeros(len(geoms))
    if len(geoms) == 0:
        return out
    xy = shapely.get_coordinates(shapely.centroid(geoms))
    lon, lat = _transformer(crs, "OGC:CRS84").transform(xy[:, 0], xy[:, 1])
    codes = np.array([_metric_code(float(a), float(b)) for a, b in zip(lon, lat)])
    for code in np.unique(codes):
        idx = np.flatnonzero(codes == code)
        to_m = _transformer(crs, _epsg(int(code)))
        out[idx] = shapely.area(shapely.transform(geoms[idx], partial(_project, to_m)))
    return out


def _project(t: Transformer, xy: np.ndarray) -> np.ndarray:
    """Coordinates (n x 2) through ``t``, in place on contiguous copies (no buffers for pyproj to copy)."""
    x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
    t.transform(x, y, inplace=True)
    out = np.empty_like(xy)
    out[:, 0], out[:, 1] = x, y
    return out


def area_m2(geom: BaseGeometry, crs: CRS) -> float:
    """Area of ``geom`` (in ``crs``) measured in the metric zone of its centre."""
    return float(areas_m2(np.array([geom], dtype=object), crs)[0])


# ---------------------------------------------------------------- the first pass

def sample_windows(grid: Grid, params: Params, bounds: tuple[int, int, int, int] | None = None) -> list[Window]:
    """Up to ``sample_blocks`` windows on a regular lattice over the grid (or the pixel box ``bounds``)."""
    r0, c0, r1, c1 = bounds or (0, 0, grid.height, grid.width)
    size = min(params.sample_size, r1 - r0, c1 - c0)
    n = max(1, int(math.ceil(math.sqrt(params.sample_blocks))))
    rows = np.linspace(r0, r1 - size, n).round().astype(int)
    cols = np.linspace(c0, c1 - size, n).round().astype(int)
    wins = {(int(r), int(c)) for r in rows for c in cols}
    return [Window(c, r, size, size) for r, c in sorted(wins)][:max(params.sample_blocks, 1)]


def _band_indices(count: int, bands: str) -> tuple[int, int, int]:
    if count >= 4 and all(b in bands for b in "RGN"):
        return bands.index("R"), bands.index("G"), bands.index("N")
    return -1, -1, -1


def _estimate_threshold(scores: np.ndarray, params: Params) -> float:
    if not isinstance(params.threshold, str):
        return float(params.threshold)
    s = scores[scores > 0]
    clip = np.quantile(s, 0.999)  # a few extreme pixels would stretch the histogram
    s = np.minimum(s, clip)
    methods: dict[str, Callable[[np.ndarray], float]] = {"li": filters.threshold_li, "otsu": filters.threshold_otsu,
               "triangle": lambda v: filters.threshold_triangle(v, nbins=512)}
    t = methods[params.threshold](s)
    return float(max(t, params.min_threshold))


def learn(before_path: str, after_path: str, grid: Grid, params: Params,
          bounds: tuple[int, int, int, int] | None = None) -> Model:
    """The first pass: co-registration, radiometric fit, feature weights and threshold from samples."""
    wins = sample_windows(grid, params, bounds)
    with open_on_grid(before_path, grid) as bsrc:
        befores = [bsrc.read(w) for w in wins]
        count = bsrc.count
    shift, residual = (0.0, 0.0), 0.0
    red, green, nir = _band_indices(count, params.bands)
    reg_band = nir if nir >= 0 else None
    if params.coregister:
        with open_on_grid(after_path, grid) as asrc:
            afters = [asrc.read(w) for w in wins]
        pick = coregister.pick_textured(befores, max(3, min(12, len(wins))))
        reg = coregister.estimate_shift([befores[i] for i in pick], [afters[i] for i in pick], band=reg_band)
        shift = reg.shift
        with open_on_grid(after_path, grid, shift_px=shift) as asrc:
            afters = [asrc.read(w) for w in wins]
        # the residual is measured inside the windows: their borders hold the resampling's edge
        inner = [(befores[i][:, 8:-8, 8:-8], afters[i][:, 8:-8, 8:-8]) for i in pick]
        after_reg = coregister.estimate_shift([x[0] for x in inner], [x[1] for x in inner], band=reg_band)
        residual = coregister.check_residual(after_reg, params.max_residual_px)
    else:
        with open_on_grid(after_path, grid) as asrc:
            afters = [asrc.read(w) for w in wins]
    b = np.concatenate([x.reshape(count, -1) for x in befores], axis=1)
    a = np.concatenate([x.reshape(count, -1) for x in afters], axis=1)
    valid = (b.sum(axis=0) > 0) & (a.sum(axis=0) > 0)
    norm = radiometry.fit(b, a, valid=valid)
    model = Model(shift, residual, norm, np.ones(1), 0.0, b[:, valid].std(axis=1) + 1e-6, red, green, nir,
                  params.index_soft, params.smooth, params.highpass)
    feats = [block_features(bb, aa, model) for bb, aa in zip(befores, afters)]
    model.weight, model.threshold, model.sample_scores = _scale(feats, params)
    if model.highpass > 0:
        fine = [(detail(f0, model.highpass), detail(f1, model.highpass), v) for f0, f1, v in feats]
        model.detail_weight, model.detail_threshold, _ = _scale(fine, params)
        # the scene changed as a whole (a season, another sensor) when the differences' noise is
        # several times larger than that of the same differences without their local mean (4.5x on
        # the NAIP pair 2009 -> 2020; 1.00-1.03x on every semi-synthetic pair): only then is the
        # detail score asked, otherwise it adds only the halos a local mean leaves around objects
        model.scene_change = float(np.median(np.sqrt(model.detail_weight / model.weight)))
        if model.scene_change < params.detail_when:
            model.highpass = 0
        log.info("plain / detail noise %.2f: %s", model.scene_change,
                 "the scene changed as a whole, the detail score joins the plain one" if model.highpass
                 else "the plain score alone")
    log.info("co-registration shift (%.2f, %.2f) px, residual %.2f px; threshold %.2f", *model.shift,
             model.residual_px, model.threshold)
    return model


def _scale(feats: Sequence[tuple[np.ndarray, ...]], params: Params) -> tuple[np.ndarray, float, np.ndarray]:
    """Feature weights (1 / noise variance), threshold and the scores of the samples ``feats``
    ((f0, f1, valid) per window)."""
    d = np.concatenate([(f1 - f0)[v] for f0, f1, v in feats])
    d = d[np.random.default_rng(0).choice(len(d), min(len(d), 200_000), replace=False)]  # enough for quantiles
    # the spread of unchanged pixels from a low quantile of |difference|: with the median (MAD) a
    # season's change over half the scene (the NAIP pair) would count as noise
    q = params.noise_quantile
    sigma = np.quantile(np.abs(d - np.median(d, axis=0)), q, axis=0) / float(ndtri(0.5 + q / 2)) + 1e-6
    weight = (1.0 / sigma ** 2).astype(np.float32)
    scores = np.concatenate([block_score(f0, f1, v, weight, params.radius)[v] for f0, f1, v in feats])
    return weight, _estimate_threshold(scores, params), scores


# ---------------------------------------------------------------- zones

def _zones_in_grid(zones: Sequence[BaseGeometry] | BaseGeometry | None, zones_crs: str | None,
                   grid: Grid) -> BaseGeometry | None:
    if zones is None:
        return None
    geom = shapely.union_all(list(zones)) if isinstance(zones, (list, tuple)) else zones
    if zones_crs is not None and CRS.from_user_input(zones_crs) != CRS.from_user_input(grid.crs):
        t = Transformer.from_crs(zones_crs, grid.crs, always_xy=True)
        geom = shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    return geom


def _pixel_bounds(geom: BaseGeometry, grid: Grid, pad: int) -> tuple[int, int, int, int]:
    inv = ~grid.transform
    xs, ys = zip(*(inv * (x, y) for x in geom.bounds[0::2] for y in geom.bounds[1::2]))
    r0, r1 = max(int(math.floor(min(ys))) - pad, 0), min(int(math.ceil(max(ys))) + pad, grid.height)
    c0, c1 = max(int(math.floor(min(xs))) - pad, 0), min(int(math.ceil(max(xs))) + pad, grid.width)
    return r0, c0, r1, c1


# ---------------------------------------------------------------- the second pass

def _blocks(bounds: tuple[int, int, int, int], block: int) -> Iterable[tuple[int, int, int, int]]:
    r0, c0, r1, c1 = bounds
    for r in range(r0, r1, block):
        for c in range(c0, c1, block):
            yield r, c, min(r + block, r1), min(c + block, c1)


def _merge_cut(pieces: _Pieces, transform: Any, block: int, origin: tuple[int, int]) -> _Pieces:
    """Join the parts of patches that block edges cut (they touch along the edge, or at a corner):
    the parts that belong together (:func:`.outlines.components`), sums added per patch, the
    outlines of a component's parts joined on the pixel grid (:mod:`.outlines`; ``transform``: the
    grid's, ``block`` and ``origin`` (row, col): where the block lines are). Outlines GDAL gave as a
    ring passing twice through a corner (a patch touching itself there: not a valid polygon for GEOS
    or PostGIS) are redrawn on the pixel grid too."""
    whole = pieces.take(np.flatnonzero(~pieces.cut))
    bad = np.flatnonzero(~shapely.is_valid(whole.geometry))
    if bad.size:
        whole.geometry[bad] = _on_pixels(whole.geometry[bad], np.arange(bad.size), transform, block, origin)
    cut = np.flatnonzero(pieces.cut)
    if cut.size == 0:
        return whole
    parts = pieces.take(cut)
    comp = outlines.components(parts.geometry, block, origin, transform)
    # components in the order of their first part, as the parts came
    _, first, group = np.unique(comp, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    group = rank[group]
    ng = len(first)

    def add(a: np.ndarray) -> np.ndarray:
        out = np.zeros((ng,) + a.shape[1:], a.dtype)
        np.add.at(out, group, a)
        return out
    geoms = np.empty(ng, object)
    alone = np.flatnonzero(np.bincount(group, minlength=ng)[group] == 1)
    valid = shapely.is_valid(parts.geometry[alone])
    geoms[group[alone[valid]]] = parts.geometry[alone[valid]]
    joined = np.setdiff1d(np.arange(len(parts)), alone[valid])
    if joined.size:
        ids, sub = np.unique(group[joined], return_inverse=True)
        geoms[ids] = _on_pixels(parts.geometry[joined], sub, transform, block, origin)
    merged = _Pieces(geoms, add(parts.n), add(parts.score), add(parts.f0), add(parts.f1), add(parts.ring_n),
                     add(parts.ring0), add(parts.ring1), np.ones(ng, bool))
    return _Pieces.concat([whole, merged])


# vertices joined at once (see _on_pixels): ~150 MB of working arrays
JOIN_BATCH = 1_000_000


def _on_pixels(geoms: np.ndarray, group: np.ndarray, transform: Any, block: int,
               origin: tuple[int, int]) -> np.ndarray:
    """:func:`.outlines.join` of ``geoms`` (in the grid's CRS), in batches of at most
    :data:`JOIN_BATCH` vertices (a larger group alone): its working arrays take ~150 bytes a vertex."""
    ng = int(group.max()) + 1
    size = np.bincount(group, weights=shapely.get_num_coordinates(geoms), minlength=ng)
    batch = np.zeros(ng, np.int64)
    total = 0.0
    for g in range(ng):  # consecutive groups, a new batch when the next would overflow it
        if total and total + size[g] > JOIN_BATCH:
            batch[g], total = batch[g - 1] + 1, 0.0
        elif g:
            batch[g] = batch[g - 1]
        total += size[g]
    out = np.empty(ng, object)
    of_part = batch[group]
    for b in range(int(batch[-1]) + 1):
        mine = np.flatnonzero(of_part == b)
        ids, sub = np.unique(group[mine], return_inverse=True)
        out[ids] = outlines.join(geoms[mine], sub, block, origin, transform)
    return out


def detect(before_path: str, after_path: str, zones: Sequence[BaseGeometry] | BaseGeometry | None = None,
           zones_crs: str | None = "OGC:CRS84", progress: bool = True, params: Params | None = None,
           grid: Grid | None = None, model: Model | None = None) -> list[Patch]:
    """Changes from ``before_path`` to ``after_path`` as classified patches, optionally within ``zones``.

    ``zones`` are polygons in ``zones_crs`` (lon/lat CRS84 by default; None: the grid's CRS). The
    output grid is the before image's unless ``grid`` is given. Raises
    :class:`urbangis.heritage.coregister.Misregistered` when co-registration leaves over 0.3 px.
    """
    params = params or Params()
    _bound_gdal_cache()
    grid = grid or grid_of(before_path)
    zone_geom = _zones_in_grid(zones, zones_crs, grid)
    bounds = _pixel_bounds(zone_geom, grid, params.margin) if zone_geom is not None else (0, 0, grid.height,
                                                                                          grid.width)
    if bounds[0] >= bounds[2] or bounds[1] >= bounds[3]:
        return []
    model = model or learn(before_path, after_path, grid, params, bounds)
    pieces: list[_Pieces] = []
    m = max(params.margin, model.highpass // 2 + 12 if model.highpass else 0, params.mmu_px)  # keeps blocks exact
    blocks = list(_blocks(bounds, params.block))
    buffers: dict = {}
    with open_on_grid(before_path, grid) as bsrc, open_on_grid(after_path, grid, shift_px=model.shift) as asrc:
        for r0, c0, r1, c1 in tqdm(blocks, disable=not progress, desc="change detection", unit="block"):
            win = Window(c0 - m, r0 - m, c1 - c0 + 2 * m, r1 - r0 + 2 * m)
            if zone_geom is not None and not zone_geom.intersects(_window_box(grid, win)):
                continue
            before, after = bsrc.read(win), asrc.read(win)
            pieces.append(process_block(before, after, model, params, grid.window_transform(win),
                                        (m, m, m + r1 - r0, m + c1 - c0), buffers))
    k = len(model.weight)
    found = _Pieces.concat(pieces) if pieces else _Pieces.empty(k)
    joined = _merge_cut(found, grid.transform, params.block, bounds[:2])
    return _finish(joined, model, params, grid, zone_geom)


# GDAL's block cache (decoded tiles of both images) when the caller did not set GDAL_CACHEMAX: its
# default is 5 % of RAM (1.2 GB here, more on a larger server) and a pass over two images fills it.
# 256 MB holds the two rows of internal tiles a block's margin reads again for images up to about
# 25,000 px wide (a 64 MB cache re-decodes them: 14.5 s against 12.7 s on the 8,000 px pair).
GDAL_CACHE_MB = 256


def _bound_gdal_cache() -> None:
    """GDAL_CACHEMAX set to :data:`GDAL_CACHE_MB` unless given. GDAL reads it once, at the first
    block read of the process: in a process that read rasters before, this changes nothing."""
    os.environ.setdefault("GDAL_CACHEMAX", str(GDAL_CACHE_MB))


def _window_box(grid: Grid, win: Window) -> BaseGeometry:
    t = grid.window_transform(win)
    x0, y0 = t * (0, 0)
    x1, y1 = t * (win.width, win.height)
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _finish(pieces: _Pieces, model: Model, params: Params, grid: Grid,
            zone_geom: BaseGeometry | None) -> list[Patch]:
    crs = CRS.from_user_input(grid.crs)
    geoms = pieces.geometry
    if len(pieces) and zone_geom is not None:
        shapely.prepare(zone_geom)
        geoms = shapely.intersection(geoms, zone_geom)
        inside = np.flatnonzero(~shapely.is_empty(geoms) & (shapely.area(geoms) > 0))
        pieces, geoms = pieces.take(inside), geoms[inside]
    if len(pieces) == 0:
        return []
    pieces.geometry = geoms
    classes = classify(pieces, model, params)
    areas = areas_m2(geoms, crs)
    mean = pieces.score / pieces.n
    conf = np.clip(1.0 - model.threshold / np.where(mean > 0, mean, 1.0), 0.0, 1.0)
    conf[mean <= 0] = 0.0
    crs_s = crs.to_string()
    b = shapely.bounds(geoms)
    order = np.lexsort((b[:, 0], -b[:, 3]))
    return [Patch(geoms[i], str(classes[i]), float(areas[i]), float(conf[i]), int(pieces.n[i]), float(mean[i]), crs_s)
            for i in order]


def to_geojson(patches: Sequence[Patch]) -> dict:
    """A GeoJSON FeatureCollection in CRS84 (lon/lat) with ``class``, ``area_m2`` and ``confidence``."""
    feats = []
    for p in patches:
        t = _transformer(CRS.from_user_input(p.crs), "OGC:CRS84")
        g = shapely.transform(p.geometry, lambda xy, t=t: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        feats.append({"type": "Feature", "geometry": mapping(g),
                      "properties": {"class": p.cls, "area_m2": round(p.area_m2, 2),
                                     "confidence": round(p.confidence, 3), "pixels": p.pixels}})
    return {"type": "FeatureCollection", "features": feats}
