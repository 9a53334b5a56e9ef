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
    assert re.search(r"reported_at \(String\) = 2026-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", cases)


def test_gdal_ogcapi_driver_reads_the_tileset(tiles_server):
    """GDAL's OGC API driver (pyogrio's bundled GDAL; Debian's 3.6 predates its 2D TMS 2.0
    support) walks collection -> tilesets -> tileset -> tile matrix set -> MVT tiles. It runs in
    a child process: pyogrio holds the GIL while GDAL waits for our in-process server."""
    import json
    import sys

    from .conftest import GRID_ORIGIN, GRID_STEP

    script = (
        "import json, sys, pyogrio\n"
        "frame = pyogrio.read_dataframe(sys.argv[1], layer='Zoom level 15', API='TILES',"
        " TILEMATRIXSET='WorldCRS84Quad')\n"
        "print(json.dumps([[c, list(g.bounds)] for c, g in zip(frame['code'], frame.geometry)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, f"OGCAPI:{tiles_server}/collections/unit_grids"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {code for code, _ in rows} == {f"650102003001{i:03d}" for i in range(1, 101)}
    # a grid cut by a tile edge comes once per tile: the pieces of the first one make its square
    pieces = [b for code, b in rows if code == FIRST_GRID]
    west, south = min(b[0] for b in pieces), min(b[1] for b in pieces)
    east, north = max(b[2] for b in pieces), max(b[3] for b in pieces)
    assert abs(west - GRID_ORIGIN[0]) < 1e-4 and abs(south - GRID_ORIGIN[1]) < 1e-4
    assert abs(east - west - GRID_STEP) < 1e-4 and abs(north - south - GRID_STEP) < 1e-4
