"""Sub-pixel co-registration of the after epoch onto the before epoch, and the residual after it.

The shift is a single translation estimated by phase correlation (scikit-image's
``phase_cross_correlation`` with an upsampled cross-power spectrum) on a few well-textured windows;
the median over windows resists a window where real change dominates. The residual is measured the
same way after the correction: the median remaining shift over the windows. A residual over the
limit (0.3 px by default) means the two epochs are not related by a translation (rotation, scale,
relief, bad orthorectification) and change detection would report misregistration as change, so
it is refused with :class:`Misregistered`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.signal.windows import tukey
from skimage.registration import phase_cross_correlation

MAX_RESIDUAL_PX = 0.3


class Misregistered(ValueError):
    """The epochs stay misregistered after co-registration; ``reason`` says by how much and where."""

    def __init__(self, reason: str, residual_px: float):
        super().__init__(reason)
        self.reason = reason
        self.residual_px = residual_px


@dataclass(frozen=True)
class Registration:
    """A translation (dy, dx) in pixels, sense of ``scipy.ndimage.shift``, and the shifts of the
    better-correlated half of the windows it is the median of."""

    shift: tuple[float, float]
    per_window: tuple[tuple[float, float], ...]

    @property
    def magnitude(self) -> float:
        """Length of the shift in pixels."""
        return float(np.hypot(*self.shift))


def _luminance(block: np.ndarray, band: int | None = None) -> np.ndarray:
    """The image registered on: one band (NIR is the most stable between seasons) or the band mean."""
    if band is not None and 0 <= band < block.shape[0]:
        return block[band].astype(np.float32)
    return block.astype(np.float32).mean(axis=0)


def texture(block: np.ndarray) -> float:
    """How well a window can be registered: mean gradient magnitude of its luminance."""
    lum = _luminance(block)
    gy, gx = np.gradient(lum)
    return float(np.mean(np.hypot(gy, gx)))


def pick_textured(blocks: list[np.ndarray], count: int) -> list[int]:
    """Indices of the ``count`` most textured windows (flat windows give no correlation peak)."""
    scores = [texture(b) for b in blocks]
    return sorted(range(len(blocks)), key=lambda i: -scores[i])[:count]


def estimate_shift(before_blocks: list[np.ndarray], after_blocks: list[np.ndarray],
                   upsample_factor: int = 100, band: int | None = None, taper: float = 0.25) -> Registration:
    """The translation that moves each after window onto its before window (median over windows).

    ``band``: the band to correlate (None: the mean of all bands); ``taper``: the Tukey window's
    tapered fraction (0: none).
    """
    if not before_blocks:
        raise Misregistered("no window to co-register on", float("inf"))
    shifts, errors = [], []
    for b, a in zip(before_blocks, after_blocks):
        ref, mov = _luminance(b, band), _luminance(a, band)
        # the FFT takes a window as periodic: its edges, where the two dates do not move, pull the
        # estimate towards 0 (0.04-0.08 px for a 0.37 px shift, measured); a Tukey taper removes that
        w = np.outer(tukey(ref.shape[0], taper), tukey(ref.shape[1], taper)) if taper > 0 else 1.0
        s, err, _ = phase_cross_correlation((ref - ref.mean()) * w, (mov - mov.mean()) * w,
                                            upsample_factor=upsample_factor, normalization=None)
        shifts.append((float(s[0]), float(s[1])))
        errors.append(float(err))
    # windows where real change dominates correlate poorly and scatter by pixels (the NAIP 2009/2020
    # pair): the better-correlated half decides, and is what the residual is measured on
    keep = [i for i, e in enumerate(errors) if e <= np.median(errors)]
    arr = np.array([shifts[i] for i in keep])
    med = np.median(arr, axis=0)
    return Registration((float(med[0]), float(med[1])), tuple(shifts[i] for i in keep))


def residual_px(reg_after: Registration) -> float:
    """The median length of the shift left in each window after correction."""
    arr = np.array(reg_after.per_window)
    return float(np.median(np.hypot(arr[:, 0], arr[:, 1])))


def check_residual(reg_after: Registration, limit: float = MAX_RESIDUAL_PX) -> float:
    """The residual; raise :class:`Misregistered` with the reason when it is over ``limit``."""
    res = residual_px(reg_after)
    if res > limit:
        worst = max(reg_after.per_window, key=lambda s: np.hypot(*s))
        raise Misregistered(
            f"residual misregistration {res:.2f} px after co-registration exceeds {limit:.2f} px "
            f"(worst window still off by dy={worst[0]:.2f}, dx={worst[1]:.2f} px over "
            f"{len(reg_after.per_window)} windows): the epochs are not related by a translation", res)
    return res


def apply_shift(image: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """An in-memory image (bands x rows x cols) moved by ``shift`` with bilinear resampling.

    For files the shift is folded into the warp instead (:func:`urbangis.heritage.grid.open_on_grid`).
    """
    out = np.empty(image.shape, dtype=np.float32)
    for i in range(image.shape[0]):
        out[i] = ndimage.shift(image[i].astype(np.float32), shift, order=1, mode="nearest")
    return out
