"""Co-registration: a known sub-pixel shift is recovered; a residual over 0.3 px is refused."""
from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window
from scipy import ndimage

from tests.heritage.images import naip_crop, write
from urbangis.heritage import coregister
from urbangis.heritage.detect import Params, learn
from urbangis.heritage.grid import grid_of, open_on_grid
from urbangis.heritage.synthetic import fourier_shift


def shifted(img: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """``img`` moved by an exact (Fourier) sub-pixel shift."""
    return np.stack([np.clip(fourier_shift(b.astype(np.float32), shift), 1, 255).round()
                     for b in img]).astype(np.uint8)


def test_known_shift_recovered_within_005_px():
    img, _, _ = naip_crop(200, 300, 256)
    true = (0.37, -0.62)
    after = shifted(img, true)
    reg = coregister.estimate_shift([img], [after], band=3)
    # the shift that puts the after back on the before is the opposite of the one applied
    assert abs(reg.shift[0] + true[0]) < 0.05 and abs(reg.shift[1] + true[1]) < 0.05, reg.shift


def test_shift_recovered_and_applied_through_files(tmp_path):
    img, transform, crs = naip_crop(100, 100, 512)
    true = (-0.41, 0.27)
    b = write(tmp_path / "b.tif", img, transform, crs)
    a = write(tmp_path / "a.tif", shifted(img, true), transform, crs)
    model = learn(b, a, grid_of(b), Params(sample_blocks=4, sample_size=256))
    assert np.allclose(model.shift, (-true[0], -true[1]), atol=0.05), model.shift
    assert model.residual_px < 0.1


def test_grid_reader_moves_like_ndimage_shift(tmp_path):
    img, transform, crs = naip_crop(0, 0, 128)
    path = write(tmp_path / "i.tif", img, transform, crs)
    g = grid_of(path)
    with open_on_grid(path, g, shift_px=(0.5, 0.25)) as r:
        got = r.read(Window(0, 0, 128, 128)).astype(np.float32)
    want = np.stack([ndimage.shift(b.astype(np.float32), (0.5, 0.25), order=3, mode="nearest") for b in img])
    inner = (slice(None), slice(4, -4), slice(4, -4))
    assert np.abs(got[inner] - want[inner]).mean() < 1.5  # cubic convolution against a cubic spline


def test_rotation_is_refused_with_the_reason(tmp_path):
    img, transform, crs = naip_crop(0, 0, 700)
    # 2 degrees of rotation: a translation leaves up to several pixels across the image
    rotated = np.stack([ndimage.rotate(b, 2.0, reshape=False, order=1, mode="nearest") for b in img])
    b = write(tmp_path / "b.tif", img, transform, crs)
    a = write(tmp_path / "a.tif", rotated, transform, crs)
    with pytest.raises(coregister.Misregistered) as err:
        learn(b, a, grid_of(b), Params(sample_blocks=9, sample_size=192))
    assert err.value.residual_px > 0.3
    assert "residual misregistration" in err.value.reason and "exceeds 0.30 px" in err.value.reason


def test_residual_check_passes_small_and_refuses_large():
    ok = coregister.Registration((0.0, 0.0), ((0.05, -0.02), (0.1, 0.0), (-0.03, 0.04)))
    assert coregister.check_residual(ok) < 0.3
    bad = coregister.Registration((0.0, 0.0), ((0.5, 0.2), (-0.6, 0.1), (0.4, -0.4)))
    with pytest.raises(coregister.Misregistered, match="exceeds 0.30 px"):
        coregister.check_residual(bad)
