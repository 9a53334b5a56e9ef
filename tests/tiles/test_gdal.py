"""GDAL's MVT driver (ogrinfo, from gdal-bin) reads our tiles: layers, features, attributes and
positions as a GIS analyst would see them."""
from __future__ import annotations

import re
import subprocess

import mapbox_vector_tile
import morecantile

from .conftest import FIRST_GRID, IN_FIRST_GRID

WEB = morecantile.tms.get("WebMercatorQuad")


def ogrinfo(*args: str) -> str:
    done = subprocess.run(["ogrinfo", "-ro", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_ogrinfo_reads_a_city_tile(tiles_client, output_dir):
    t = WEB.tile(*IN_FIRST_GRID, 15)
    r = tiles_client.get(f"/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}")
    assert r.status_code == 200
    # GDAL's MVT driver georeferences a tile from a .../z/x/y.pbf path
    path = output_dir / "tiles" / "mvt" / str(t.z) / str(t.x) / f"{t.y}.pbf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(r.content)

    summary = ogrinfo("-so", "-al", str(path))
    counts = dict(re.findall(r"Layer name: (\w+)\n(?:.*\n)*?Feature Count: (\d+)", summary))
    ours = mapbox_vector_tile.decode(r.content)
    assert {"admin_areas", "unit_grids", "cases"} <= set(counts)
    assert {k: int(v) for k, v in counts.items()} == {k: len(v["features"]) for k, v in ours.items()}
    assert int(counts["cases"]) > 0

    grids = ogrinfo("-al", "-geom=NO", str(path), "unit_grids")
    assert f"code (String) = {FIRST_GRID}" in grids

    cases = ogrinfo("-al", "-oo", "CLIP=NO", str(path), "cases")  # keep points in the buffer
    b = WEB.xy_bounds(t)
    points = [(float(x), float(y)) for x, y in re.findall(r"POINT \(([-\d.]+) ([-\d.]+)\)", cases)]
    assert len(points) == int(counts["cases"])
    slack = (b.right - b.left) * 64 / 4096  # the tile buffer
    assert all(b.left - slack <= x <= b.right + slack and b.bottom - slack <= y <= b.top + slack for x, y in points)
    assert re.search(r"reported_at \(String\) = 2026-\d\d-\d\dT\d\d:\d\d:\d\dZ", cases)
