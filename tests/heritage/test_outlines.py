"""Outlines of patches cut by block edges, joined on the pixel grid (heritage/outlines.py), against
GDAL's outlines of the same pixels polygonised whole."""
from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from rasterio import features
from scipy import ndimage

from urbangis.heritage import outlines

EIGHT = np.ones((3, 3), bool)


def _shapes(image: np.ndarray, transform: Affine) -> list[tuple[shapely.Geometry, int]]:
    return [(shapely.geometry.shape(g), int(v))
            for g, v in features.shapes(image, mask=image > 0, transform=transform, connectivity=8)]


def _blobs(seed: int, size: int = 96) -> np.ndarray:
    """Labels (8-connected) of a random raster with pixels touching at corners, holes, holes touching
    their outline at a corner, and patches spanning several blocks."""
    rng = np.random.default_rng(seed)
    noise = ndimage.uniform_filter(rng.random((size, size)), 5) > 0.5
    speckle = rng.random((size, size)) < 0.08
    mask = noise ^ speckle
    labels, _ = ndimage.label(mask, structure=EIGHT)
    return labels


def _block_parts(labels: np.ndarray, block: int, origin: tuple[int, int]):
    """Each block core's outlines of the labels in it, as change detection makes them (one shapes
    pass a block, the polygons of one label in a block joined), in pixel coordinates."""
    geoms, label_of = [], []
    r0, c0 = origin
    for r in range(0, labels.shape[0], block):
        for c in range(0, labels.shape[1], block):
            core = labels[r:r + block, c:c + block]
            by_label: dict[int, list] = {}
            for g, v in _shapes(core.astype(np.int32), Affine.translation(c + c0, r + r0)):
                by_label.setdefault(v, []).append(g)
            for v, gs in by_label.items():
                geoms.append(gs[0] if len(gs) == 1 else shapely.union_all(gs))
                label_of.append(v)
    return np.array(geoms, dtype=object), np.array(label_of)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("block", [16, 23])
def test_parts_joined_equal_the_whole_outline(seed, block):
    labels = _blobs(seed)
    origin = (7, 3)  # the image's place in the grid: block lines at origin + k * block
    parts, label_of = _block_parts(labels, block, origin)
    ids, group = np.unique(label_of, return_inverse=True)
    # the parts that belong together are found from the block lines alone: the labels' partition
    found = outlines.components(parts, block, origin)
    assert len(set(zip(found, group))) == len(set(found)) == len(ids)
    joined = outlines.join(parts, group, block, origin)
    assert len(joined) == len(ids) > 20
    assert np.all(shapely.is_valid(joined)), [shapely.is_valid_reason(g) for g in joined if not g.is_valid]
    spanning = 0
    shapes = _shapes(labels.astype(np.int32), Affine.translation(origin[1], origin[0]))
    for i, v in enumerate(ids):
        whole = shapely.union_all([g for g, w in shapes if w == v])
        assert joined[i].symmetric_difference(whole).area == 0, v
        assert joined[i].area == (labels == v).sum()
        spanning += (group == i).sum() > 1
    assert spanning >= 5  # patches cut by block lines were joined


def test_a_patch_touching_itself_is_a_valid_polygon():
    """GDAL outlines a pixel touching a patch at a corner as a ring through that corner twice (not
    valid for GEOS or PostGIS); redrawn, they are two polygons touching at the corner."""
    m = np.zeros((8, 8), np.int32)
    m[1, 1:5] = m[1:5, 1] = m[4, 1:4] = m[2:4, 4] = 1  # a square ring, its corner (4, 4) missing
    m[5, 4] = 1  # a pixel touching it at a corner only
    (g, _), = _shapes(m, Affine.identity())
    assert not g.is_valid
    joined, = outlines.join(np.array([g], dtype=object), np.array([0]), 1024, (0, 0))
    assert joined.is_valid and joined.symmetric_difference(g).area == 0 and joined.area == m.sum()
    assert joined.geom_type == "MultiPolygon" and len(joined.geoms) == 2
    assert {len(p.interiors) for p in joined.geoms} == {0, 1}
