"""Crops of the real NAIP image (data-samples/imagery) written as small GeoTIFFs, for the
detection and co-registration tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

IMAGERY = Path(__file__).resolve().parents[2] / "data-samples" / "imagery"
NAIP_2009 = IMAGERY / "m_4709963_se_14_1_20090818.tif"
NAIP_2020 = IMAGERY / "m_4709963_se_14_1_20200831.tif"


def naip_crop(row: int, col: int, size: int, image: Path = NAIP_2009) -> tuple[np.ndarray, Affine, str]:
    """A crop of a real NAIP image (2009 unless ``image`` says otherwise): bands, transform, CRS."""
    with rasterio.open(image) as src:
        win = Window(col, row, size, size)
        return src.read(window=win), src.window_transform(win), src.crs.to_string()


def write(path: Path, data: np.ndarray, transform: Affine, crs: str) -> str:
    """A GeoTIFF (nodata 0, like NAIP) holding ``data``."""
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype, crs=crs, transform=transform, nodata=0) as dst:
        dst.write(data)
    return str(path)
