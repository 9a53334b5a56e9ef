"""Radiometric normalisation of the after epoch to the before epoch.

Method: per-band linear fit on pseudo-invariant pixels (PIFs). Pixels are first put in a common
scale by standardising each band of each date; the PIFs are the pixels whose standardised change
vector is in the lowest ``pif_quantile`` (default 0.5); on them each band is fitted
``before = gain * after + offset`` by orthogonal (major-axis) regression, which unlike ordinary
least squares is not biased towards zero gain by noise in the after image. Two rounds: the second
chooses the PIFs with the first round's fit. (IR-MAD would find the invariant pixels through a
canonical correlation; on 4-band imagery the simple robust fit is enough and has no iteration to
converge.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalisation:
    """Per-band ``before ≈ gain * after + offset``."""

    gain: tuple[float, ...]
    offset: tuple[float, ...]

    def apply(self, after: np.ndarray) -> np.ndarray:
        """The after image (bands x ...) in the before image's radiometry, float32."""
        g = np.asarray(self.gain, dtype=np.float32).reshape((-1,) + (1,) * (after.ndim - 1))
        o = np.asarray(self.offset, dtype=np.float32).reshape(g.shape)
        return after.astype(np.float32) * g + o


def _major_axis(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Orthogonal regression y = g x + o."""
    mx, my = x.mean(), y.mean()
    sxx, syy, sxy = np.var(x), np.var(y), np.mean((x - mx) * (y - my))
    if abs(sxy) < 1e-9:
        g = float(np.sqrt(syy / sxx)) if sxx > 0 else 1.0
    else:
        g = float((syy - sxx + np.sqrt((syy - sxx) ** 2 + 4 * sxy ** 2)) / (2 * sxy))
    return g, float(my - g * mx)


def fit(before: np.ndarray, after: np.ndarray, pif_quantile: float = 0.5, valid: np.ndarray | None = None,
        rounds: int = 2, max_pixels: int = 200_000) -> Normalisation:
    """Fit the after image's bands to the before image's on pseudo-invariant pixels.

    ``before`` and ``after`` are bands x pixels (or bands x rows x cols) samples of the same places.
    """
    b = before.reshape(before.shape[0], -1)
    a = after.reshape(after.shape[0], -1)
    keep = np.flatnonzero(valid.reshape(-1)) if valid is not None else np.arange(b.shape[1])
    if keep.size > max_pixels:  # a fit on 200,000 pixels is as good as on millions, and fast
        keep = np.sort(np.random.default_rng(0).choice(keep, max_pixels, replace=False))
    b, a = b[:, keep].astype(np.float64), a[:, keep].astype(np.float64)
    mb, sb = b.mean(axis=1, keepdims=True), b.std(axis=1, keepdims=True) + 1e-6
    ma, sa = a.mean(axis=1, keepdims=True), a.std(axis=1, keepdims=True) + 1e-6
    pred = (a - ma) / sa * sb + mb  # first guess: match mean and spread
    norm = Normalisation(tuple([1.0] * b.shape[0]), tuple([0.0] * b.shape[0]))
    for _ in range(rounds):
        dist = np.sqrt((((pred - b) / sb) ** 2).sum(axis=0))
        pif = dist <= np.quantile(dist, pif_quantile)
        gains, offsets = zip(*(_major_axis(a[i, pif], b[i, pif]) for i in range(b.shape[0])))
        norm = Normalisation(tuple(gains), tuple(offsets))
        pred = norm.apply(a)
    return norm
