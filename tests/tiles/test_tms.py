"""Tile matrix sets: the grids, their bounds and the errors for tiles outside them."""
from __future__ import annotations

import pytest

from urbangis.tiles import tms


def test_the_three_sets_and_their_crs():
    assert tms.ids() == ["WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad"]
    assert tms.srid("WebMercatorQuad") == 3857
    assert tms.srid("CGCS2000Quad") == 4490
    assert tms.crs_uri("CGCS2000Quad").endswith("/EPSG/0/4490")
    doc = tms.document("CGCS2000Quad")
    assert doc["id"] == "CGCS2000Quad"
    assert (doc["tileMatrices"][0]["matrixWidth"], doc["tileMatrices"][0]["matrixHeight"]) == (2, 1)


def test_bounds_of_known_tiles():
    b = tms.bounds("WebMercatorQuad", 0, 0, 0)
    assert b.left == pytest.approx(-20037508.342789244) and b.top == pytest.approx(20037508.342789244)
    b = tms.bounds("CGCS2000Quad", 1, 3, 0)  # east half of the northern hemisphere, eastmost tile
    assert (b.left, b.bottom, b.right, b.top) == pytest.approx((90, 0, 180, 90))


@pytest.mark.parametrize(
    "tms_id, z, x, y, message",
    [
        ("WebMercatorQuad", 25, 0, 0, "zoom 25 is outside WebMercatorQuad (tile matrices 0..24)"),
        ("WebMercatorQuad", -1, 0, 0, "zoom -1 is outside"),
        ("WebMercatorQuad", 2, 4, 0, "column (x) 4 is outside WebMercatorQuad zoom 2 (0..3)"),
        ("WorldCRS84Quad", 0, 0, 1, "row (y) 1 is outside WorldCRS84Quad zoom 0 (0..0)"),
        ("Nope", 0, 0, 0, "unknown tile matrix set 'Nope'; available: WebMercatorQuad"),
    ],
)
def test_outside_the_matrix(tms_id, z, x, y, message):
    with pytest.raises(tms.TileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        tms.bounds(tms_id, z, x, y)
