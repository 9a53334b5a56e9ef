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
   quartile of |difference|) on the samples (:func:`features`, :func:`score_kernel`); optionally
   (``highpass``) the features' local mean is taken off first, against scene-wide seasonal change;
6. threshold: estimated from the samples' scores (Li's minimum cross-entropy by default), i.e. from the data;
7. detect, block by block with an overlap margin: threshold, morphological closing, minimum
   mapping unit, polygonise (rasterio.features.shapes), classify, confidence, area in m2;
   patches cut by block edges are merged at the end.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Sequence

import numba
import numpy as np
import shapely
from pyproj import CRS, Transformer
from rasterio import features as rfeatures
from rasterio.windows import Window
from scipy import ndimage
from scipy.special import ndtri
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from skimage import filters
from tqdm import tqdm

from urbangis.layers.geodesy import zone_srid

from . import coregister, radiometry
from .coregister import MAX_RESIDUAL_PX
from .grid import Grid, grid_of, open_on_grid

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
    highpass: int = 0  # side of the local mean taken off the features before scoring (0: none; see docs)
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
class _Piece:
    geometry: BaseGeometry
    n: int
    score: float  # sum of scores
    f0: np.ndarray  # sums of features, before
    f1: np.ndarray
    ring_n: int
    ring0: np.ndarray
    ring1: np.ndarray
    cut: bool = False

    def merge(self, other: "_Piece") -> None:
        self.geometry = self.geometry.union(other.geometry)
        self.n += other.n
        self.score += other.score
        self.f0 = self.f0 + other.f0
        self.f1 = self.f1 + other.f1
        self.ring_n += other.ring_n
        self.ring0 = self.ring0 + other.ring0
        self.ring1 = self.ring1 + other.ring1


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


# ---------------------------------------------------------------- per-pixel kernels
# Written by hand (numba) because no library fuses these steps: numpy would allocate a temporary image
# per operation (a dozen per block) and the bidirectional neighbourhood-minimum distance has no
# vectorised form; fused, a block costs one pass over its pixels.

EPS = np.float32(1e-6)


@numba.njit(cache=True, nogil=True)
def validity(before, after, ok0, ok1, valid):  # pragma: no cover - compiled
    """Per pixel: no band is 0 (GDAL's per-band nodata) in the before, the after, both."""
    nb, h, w = before.shape
    for y in range(h):
        for x in range(w):
            a = True
            c = True
            for b in range(nb):
                a = a and before[b, y, x] > 0
                c = c and after[b, y, x] > 0
            ok0[y, x] = a
            ok1[y, x] = c
            valid[y, x] = a and c


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
def _binomial3(img, f):  # pragma: no cover - compiled
    """The common case of :func:`smooth`: [1 2 1] / 4 both ways, every pixel valid; loops simple
    enough for the compiler to vectorise."""
    nb, h, w = img.shape
    tmp = np.empty((h, w), np.float32)
    out = np.empty((h, w), np.float32)
    for b in range(nb):
        p = img[b]
        for y in range(h):
            tmp[y, 0] = (np.float32(3) * p[y, 0] + p[y, 1]) * np.float32(0.25)
            for x in range(1, w - 1):
                tmp[y, x] = (np.float32(p[y, x - 1]) + np.float32(2) * p[y, x] + p[y, x + 1]) * np.float32(0.25)
            tmp[y, w - 1] = (np.float32(3) * p[y, w - 1] + p[y, w - 2]) * np.float32(0.25)
        for x in range(w):
            out[0, x] = (np.float32(3) * tmp[0, x] + tmp[1, x]) * np.float32(0.25)
            out[h - 1, x] = (np.float32(3) * tmp[h - 1, x] + tmp[h - 2, x]) * np.float32(0.25)
        for y in range(1, h - 1):
            for x in range(w):
                out[y, x] = (tmp[y - 1, x] + np.float32(2) * tmp[y, x] + tmp[y + 1, x]) * np.float32(0.25)
        for y in range(h):
            for x in range(w):
                f[y, x, b] = out[y, x]


@numba.njit(cache=True, nogil=True)
def smooth(img, ok, taps, f):  # pragma: no cover - compiled
    """``f[y, x, b]`` = ``img[b]`` through the separable filter ``taps``, weights over valid (``ok``)
    pixels only, so that nodata does not bleed into its neighbours. Plane by plane: contiguous."""
    nb, h, w = img.shape
    tmp = np.empty((h, w), np.float32)
    norm = np.empty((h, w), np.float32)
    if len(taps) == 3 and ok.all():
        _binomial3(img, f)
        return
    mask = np.empty((0, 0), np.bool_) if ok.all() else ok
    _rows(np.ones((h, w), np.float32), mask, taps, tmp)
    _cols(tmp, taps, norm)
    out = np.empty((h, w), np.float32)
    for b in range(nb):
        _rows(img[b], mask, taps, tmp)
        _cols(tmp, taps, out)
        for y in range(h):
            for x in range(w):
                f[y, x, b] = out[y, x] / max(norm[y, x], np.float32(1e-6))


@numba.njit(cache=True, nogil=True)
def features(before, after, gain, offset, red, green, nir, soft, taps, f0, f1, valid):  # pragma: no cover - compiled
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
    smooth(before, ok0, taps, f0)
    smooth(after, ok1, taps, f1)
    for y in range(h):
        for x in range(w):
            for b in range(nb):
                f1[y, x, b] = f1[y, x, b] * gain[b] + offset[b]
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
    for y in range(h):
        for x in range(w):
            if not valid[y, x]:
                out[y, x] = 0.0
                continue
            d = 0.0
            for i in range(k):
                a = f1[y, x, i] - f0[y, x, i]
                d += weight[i] * a * a
            if d < below * below * k:
                out[y, x] = np.sqrt(d / k)
                continue
            best01 = np.inf
            best10 = np.inf
            for yy in range(max(0, y - radius), min(h, y + radius + 1)):
                for xx in range(max(0, x - radius), min(w, x + radius + 1)):
                    if not valid[yy, xx]:
                        continue
                    d01 = 0.0
                    d10 = 0.0
                    for i in range(k):
                        a = f1[y, x, i] - f0[yy, xx, i]
                        b = f0[y, x, i] - f1[yy, xx, i]
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


def block_features(before: np.ndarray, after: np.ndarray, model: Model) -> tuple[np.ndarray, ...]:
    """Features of both dates (rows x cols x K), validity and score of a block of uint8 bands."""
    nb, h, w = before.shape
    k = nb + (2 if model.nir >= 0 else 0)
    f0 = np.empty((h, w, k), np.float32)
    f1 = np.empty((h, w, k), np.float32)
    valid = np.empty((h, w), np.bool_)
    gain = np.asarray(model.norm.gain, np.float32)
    offset = np.asarray(model.norm.offset, np.float32)
    features(np.ascontiguousarray(before), np.ascontiguousarray(after), gain, offset, model.red,
                      model.green, model.nir, np.float32(model.index_soft), _taps(model.smooth), f0, f1, valid)
    return f0, f1, valid


def detail(f: np.ndarray, size: int) -> np.ndarray:
    """Features minus their local mean over ``size`` x ``size`` px (0: unchanged): what a building-
    sized object changes survives, a field's or a season's slow change across the scene does not."""
    if size <= 0:
        return f
    return f - ndimage.uniform_filter(f, size=(size, size, 1), mode="nearest")


def block_score(f0: np.ndarray, f1: np.ndarray, valid: np.ndarray, weight: np.ndarray, radius: int,
                below: float = 0.0) -> np.ndarray:
    """The change score of a block (see :func:`score_kernel`); pixels whose own
    difference is under ``below`` keep it as their score (the neighbourhood minimum can only be lower)."""
    out = np.empty(valid.shape, np.float32)
    score_kernel(f0, f1, weight.astype(np.float32), valid, radius, np.float32(below), out)
    return out


def _anchor_in(sl: tuple[slice, slice], comp: np.ndarray, core: tuple[int, int, int, int]) -> bool:
    """Whether the component's first pixel in raster order lies in the core (r0, c0, r1, c1)."""
    r = sl[0].start
    c = sl[1].start + int(np.argmax(comp[0]))
    return core[0] <= r < core[2] and core[1] <= c < core[3]


def _sums(arr: np.ndarray, sel: np.ndarray) -> np.ndarray:
    return arr[sel].sum(axis=0, dtype=np.float64)


def process_block(before: np.ndarray, after: np.ndarray, model: Model, params: Params, transform: Any,
                  core: tuple[int, int, int, int]) -> list[_Piece]:
    """Patches of one block read with a margin; ``core`` (r0, c0, r1, c1) is the block without it."""
    f0, f1, valid = block_features(before, after, model)
    score = block_score(detail(f0, model.highpass), detail(f1, model.highpass), valid, model.weight, params.radius,
                        model.threshold)
    mask = ndimage.binary_closing(score > model.threshold, structure=np.ones((3, 3), bool)) & valid
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        return []
    sizes = np.bincount(labels.ravel())
    chosen = []
    for lab, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None or sizes[lab] < params.mmu_px:
            continue
        # every block reports the part of a patch inside its core; parts of one patch in several
        # blocks are joined at the end (exact: the margin holds the whole neighbourhood of the core)
        r0, c0 = max(sl[0].start, core[0]), max(sl[1].start, core[1])
        r1, c1 = min(sl[0].stop, core[2]), min(sl[1].stop, core[3])
        if r0 >= r1 or c0 >= c1:
            continue
        inner = (slice(r0, r1), slice(c0, c1))
        comp = labels[inner] == lab
        if comp.any():
            cut = (r0, c0, r1, c1) != (sl[0].start, sl[1].start, sl[0].stop, sl[1].stop)
            chosen.append((lab, inner, comp, cut))
    geoms = _polygons(labels, chosen, transform)
    return [_piece(lab, sl, comp, labels, f0, f1, score, mask, geoms[lab], params.ring_px, core, cut)
            for lab, sl, comp, cut in chosen]


def _polygons(labels: np.ndarray, chosen: list, transform: Any) -> dict[int, BaseGeometry]:
    """The outlines of the chosen components (each cut to its chosen slice), in one pass over the block."""
    out = np.zeros(labels.shape, np.int32)
    for lab, sl, comp, _ in chosen:
        out[sl][comp] = lab
    parts: dict[int, list[BaseGeometry]] = {}
    if chosen:
        for g, v in rfeatures.shapes(out, mask=out > 0, transform=transform, connectivity=8):
            parts.setdefault(int(v), []).append(shape(g))
    return {k: (shapely.union_all(v) if len(v) > 1 else v[0]) for k, v in parts.items()}


def _piece(lab: int, sl: tuple[slice, slice], comp: np.ndarray, labels: np.ndarray, f0: np.ndarray, f1: np.ndarray,
           score: np.ndarray, mask: np.ndarray, geometry: BaseGeometry, ring_px: int,
           core: tuple[int, int, int, int], cut: bool) -> _Piece:
    """Sums over a patch's part in the core and over its ring of surroundings in the core."""
    rs = slice(max(sl[0].start - ring_px, core[0]), min(sl[0].stop + ring_px, core[2]))
    cs = slice(max(sl[1].start - ring_px, core[1]), min(sl[1].stop + ring_px, core[3]))
    # the ring of the whole patch (read from the margin too), kept where it lies in this core
    grow = (slice(max(rs.start - ring_px, 0), rs.stop + ring_px), slice(max(cs.start - ring_px, 0), cs.stop + ring_px))
    whole = labels[grow] == lab
    ring_all = ndimage.binary_dilation(whole, iterations=ring_px) & ~mask[grow]
    ring = ring_all[rs.start - grow[0].start:rs.stop - grow[0].start, cs.start - grow[1].start:cs.stop - grow[1].start]
    return _Piece(geometry, int(comp.sum()), float(score[sl][comp].sum()),
                  _sums(f0[sl], comp), _sums(f1[sl], comp), int(ring.sum()),
                  _sums(f0[rs, cs], ring), _sums(f1[rs, cs], ring), cut)


# ---------------------------------------------------------------- classes, confidence, area

def classify(piece: _Piece, model: Model, params: Params) -> str:
    """The class of a patch from its mean before/after features and those of its surroundings.

    An object *appears* when the patch stands out from its ring of surroundings after but not before
    (contrast in band standard deviations over ``object_contrast`` and twice the other date's), and
    *vanishes* the other way round; NDVI says whether vegetation came or went. Built-up that vanishes
    is demolition; what appears is new construction when rectilinear or grey (roofs), vegetation
    loss or gain when NDVI says so; an object in both dates that changed is an alteration.
    """
    m0, m1 = piece.f0 / piece.n, piece.f1 / piece.n
    nb = len(model.band_sd)
    dndvi = 0.0
    if model.nir >= 0:
        ndwi0, ndwi1 = m0[nb + 1], m1[nb + 1]
        if max(ndwi0, ndwi1) > params.water_ndwi and abs(ndwi1 - ndwi0) > params.index_change:
            return "water change"
        dndvi = float(m1[nb] - m0[nb])
    veg = "vegetation gain" if dndvi > params.index_change else (
        "vegetation loss" if dndvi < -params.index_change else "other")
    c0, c1 = _contrasts(piece, m0, m1, model)
    t = params.object_contrast
    if c0 > t and c0 > 2 * c1:
        return "demolition"
    if c1 > t and c1 > 2 * c0:
        if veg == "vegetation gain":
            return veg
        rect = piece.geometry.area / max(piece.geometry.minimum_rotated_rectangle.area, 1e-12)
        rgb = m1[:3] if nb >= 3 else m1[:nb]
        grey = float((rgb.max() - rgb.min()) / max(rgb.mean(), 1e-6)) < params.grey_saturation
        return "new construction" if rect >= params.rectilinear or grey or veg == "other" else veg
    if c0 > t and c1 > t and veg == "other":
        return "alteration"
    return veg


def _contrasts(piece: _Piece, m0: np.ndarray, m1: np.ndarray, model: Model) -> tuple[float, float]:
    """How far the patch's mean is from its surroundings' (RMS over bands, in band SDs), per date."""
    if piece.ring_n == 0:
        return 0.0, 0.0
    nb = len(model.band_sd)
    r0, r1 = piece.ring0 / piece.ring_n, piece.ring1 / piece.ring_n
    c0 = float(np.sqrt(np.mean(((m0[:nb] - r0[:nb]) / model.band_sd) ** 2)))
    c1 = float(np.sqrt(np.mean(((m1[:nb] - r1[:nb]) / model.band_sd) ** 2)))
    return c0, c1


def confidence(mean_score: float, threshold: float) -> float:
    """0 at the threshold, towards 1 as the patch's mean score grows: 1 - threshold / mean score."""
    return float(min(max(1.0 - threshold / mean_score, 0.0), 1.0)) if mean_score > 0 else 0.0


@lru_cache(maxsize=None)
def _epsg(code: int) -> CRS:
    return CRS.from_epsg(code)


def metric_crs(lon: float, lat: float) -> CRS:
    """Where areas are measured: the CGCS2000 3-degree Gauss-Kruger zone of the place in China
    (layers/geodesy.py); elsewhere (e.g. the NAIP test tile in the USA) the WGS 84 UTM zone of the
    feature's centre, the same kind of conformal transverse-Mercator zone."""
    if 73 <= lon <= 136 and 3 <= lat <= 54:
        return _epsg(zone_srid(lon))
    zone = min(int((lon + 180) // 6) + 1, 60)
    return _epsg((32600 if lat >= 0 else 32700) + zone)


@lru_cache(maxsize=64)
def _transformer(src: CRS, dst: CRS | str) -> Transformer:
    """Transformers are slow to build (milliseconds): one per pair of CRSs."""
    return Transformer.from_crs(src, dst, always_xy=True)


def area_m2(geom: BaseGeometry, crs: CRS) -> float:
    """Area of ``geom`` (in ``crs``) measured in the metric zone of its centre."""
    c = geom.centroid
    lon, lat = _transformer(crs, "OGC:CRS84").transform(c.x, c.y)
    to_m = _transformer(crs, metric_crs(lon, lat))
    return float(shapely.transform(geom, lambda xy: np.column_stack(to_m.transform(xy[:, 0], xy[:, 1]))).area)


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
    diffs, feats = [], []
    for bb, aa in zip(befores, afters):
        f0, f1, v = block_features(bb, aa, model)
        f0, f1 = detail(f0, model.highpass), detail(f1, model.highpass)
        diffs.append((f1 - f0)[v])
        feats.append((f0, f1, v))
    d = np.concatenate(diffs)
    d = d[np.random.default_rng(0).choice(len(d), min(len(d), 200_000), replace=False)]  # enough for quantiles
    # the spread of unchanged pixels from a low quantile of |difference|: with the median (MAD) a
    # season's change over half the scene (the NAIP pair) would count as noise
    q = params.noise_quantile
    sigma = np.quantile(np.abs(d - np.median(d, axis=0)), q, axis=0) / float(ndtri(0.5 + q / 2)) + 1e-6
    model.weight = (1.0 / sigma ** 2).astype(np.float32)
    scores = np.concatenate([block_score(f0, f1, v, model.weight, params.radius)[v] for f0, f1, v in feats])
    model.threshold = _estimate_threshold(scores, params)
    model.sample_scores = scores
    return model


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


def _merge_cut(pieces: list[_Piece]) -> list[_Piece]:
    """Join the parts of patches that block edges cut (they touch along the edge, or at a corner)."""
    whole = [p for p in pieces if not p.cut]
    cut = [p for p in pieces if p.cut]
    if not cut:
        return whole
    tree = shapely.STRtree([p.geometry for p in cut])
    parent = list(range(len(cut)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    left, right = tree.query([p.geometry for p in cut], predicate="intersects")
    for i, j in zip(left, right):
        parent[find(int(i))] = find(int(j))
    groups: dict[int, _Piece] = {}
    for i, p in enumerate(cut):
        root = find(i)
        if root in groups:
            groups[root].merge(p)
        else:
            groups[root] = p
    return whole + list(groups.values())


def detect(before_path: str, after_path: str, zones: Sequence[BaseGeometry] | BaseGeometry | None = None,
           zones_crs: str | None = "OGC:CRS84", progress: bool = True, params: Params | None = None,
           grid: Grid | None = None, model: Model | None = None) -> list[Patch]:
    """Changes from ``before_path`` to ``after_path`` as classified patches, optionally within ``zones``.

    ``zones`` are polygons in ``zones_crs`` (lon/lat CRS84 by default; None: the grid's CRS). The
    output grid is the before image's unless ``grid`` is given. Raises
    :class:`urbangis.heritage.coregister.Misregistered` when co-registration leaves over 0.3 px.
    """
    params = params or Params()
    grid = grid or grid_of(before_path)
    zone_geom = _zones_in_grid(zones, zones_crs, grid)
    bounds = _pixel_bounds(zone_geom, grid, params.margin) if zone_geom is not None else (0, 0, grid.height,
                                                                                          grid.width)
    if bounds[0] >= bounds[2] or bounds[1] >= bounds[3]:
        return []
    model = model or learn(before_path, after_path, grid, params, bounds)
    pieces: list[_Piece] = []
    m = max(params.margin, params.highpass // 2 + 12, params.mmu_px)  # what keeps blocks exact
    blocks = list(_blocks(bounds, params.block))
    with open_on_grid(before_path, grid) as bsrc, open_on_grid(after_path, grid, shift_px=model.shift) as asrc:
        for r0, c0, r1, c1 in tqdm(blocks, disable=not progress, desc="change detection", unit="block"):
            win = Window(c0 - m, r0 - m, c1 - c0 + 2 * m, r1 - r0 + 2 * m)
            if zone_geom is not None and not zone_geom.intersects(_window_box(grid, win)):
                continue
            before, after = bsrc.read(win), asrc.read(win)
            pieces += process_block(before, after, model, params, grid.window_transform(win),
                                    (m, m, m + r1 - r0, m + c1 - c0))
    return _finish(_merge_cut(pieces), model, params, grid, zone_geom)


def _window_box(grid: Grid, win: Window) -> BaseGeometry:
    t = grid.window_transform(win)
    x0, y0 = t * (0, 0)
    x1, y1 = t * (win.width, win.height)
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _finish(pieces: list[_Piece], model: Model, params: Params, grid: Grid,
            zone_geom: BaseGeometry | None) -> list[Patch]:
    crs = CRS.from_user_input(grid.crs)
    out = []
    for p in pieces:
        geom = p.geometry
        if zone_geom is not None:
            geom = geom.intersection(zone_geom)
            if geom.is_empty or geom.area == 0:
                continue
        mean = p.score / p.n
        out.append(Patch(geom, classify(p, model, params), area_m2(geom, crs), confidence(mean, model.threshold),
                         p.n, mean, crs.to_string()))
    out.sort(key=lambda q: (-q.geometry.bounds[3], q.geometry.bounds[0]))
    return out


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
