"""The weight of the city tileset's tiles: the largest raw (uncompressed) MVT at every zoom, beside
the 500 KB that map clients recommend (MapLibre, Mapbox's tileset guidance) as a ratio, and the
layers that make up the heaviest tile.

Data: the `--scale 20` city of bench/case_maps.py (database `urbangis_bench_cases_s20`: 10,000,000
cases, 1,000,000 components, 1.7M house numbers, 660,000 storefronts, 58,000 unit grids), or any
database given with --db. Tiles: at each zoom of WebMercatorQuad from 0 to --maxzoom, every tile
over the data's extent when there are at most --per-zoom of them, else --per-zoom tiles under
seeded random features of the busiest layers (cases, house numbers, storefronts, components,
buildings) plus the tile over the densest spot (the median case), so busy places come up as they
do for users. Tiles are made by the server's own TileService (the SQL the server runs), no cache.

    .venv/bin/python bench/tile_weight.py                     # the scale-20 city, 40 tiles a zoom
    .venv/bin/python bench/tile_weight.py --max-kb 0          # the same without the size budget
    .venv/bin/python bench/tile_weight.py --db urbangis --per-zoom 10   # the sample city, quick

The server makes a tile over URBANGIS_TILE_MAX_KB (500) again, thinner (docs/tiles.md); `ms/tile`
is the time to make a tile without cache, thinning included. The last column names the three
largest layers of the heaviest tile, each as it comes made alone (thinned alone if over budget).
"""
from __future__ import annotations

import argparse
import json
import random
import time

import common  # noqa: F401  (the project root on sys.path)
import morecantile

from urbangis.layers import database as db
from urbangis.layers.registry import registry
from urbangis.layers.settings import Settings
from urbangis.tiles.tilesets import TileService, city_tileset, collection_tileset, tile_conninfo

BUDGET = 500 * 1024
WEB = morecantile.tms.get("WebMercatorQuad")
BUSY = ("cases", "house_numbers", "storefronts", "components", "buildings")


def sample_points(conn, n: int, seed: int) -> list[tuple[float, float]]:
    """Seeded random feature positions of the busiest layers (TABLESAMPLE SYSTEM with a seed)."""
    pts: list[tuple[float, float]] = []
    for table in BUSY:
        rows = conn.execute(
            f"SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM {table} "
            f"TABLESAMPLE SYSTEM (1) REPEATABLE ({seed}) LIMIT %s", (n,)).fetchall()
        pts += [(float(x), float(y)) for x, y in rows]
    random.Random(seed).shuffle(pts)
    return pts


def tiles_at(z: int, extent, points, densest, per_zoom: int) -> list[morecantile.Tile]:
    west, south, east, north = extent
    covering = list(WEB.tiles(west, south, east, north, [z]))
    if len(covering) <= per_zoom:
        return covering
    chosen = {WEB.tile(*densest, z)}
    for lon, lat in points:
        if len(chosen) >= per_zoom:
            break
        chosen.add(WEB.tile(lon, lat, z))
    return sorted(chosen, key=lambda t: (t.x, t.y))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="urbangis_bench_cases_s20", help="database of the city (default: the scale-20 one)")
    ap.add_argument("--per-zoom", type=int, default=40, help="tiles sampled per zoom (all when fewer cover the city)")
    ap.add_argument("--maxzoom", type=int, default=18)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--max-kb", type=int, default=None,
                    help="the server's size budget (default: URBANGIS_TILE_MAX_KB, 500; 0: none)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()

    settings = Settings.from_env()
    info = db.conninfo(settings.database, args.db)
    pool = db.make_pool(tile_conninfo(info), max_size=2)
    pool.wait()
    max_kb = settings.tiles.max_kb if args.max_kb is None else args.max_kb
    service = TileService(pool, None, args.db, collections=registry(), max_bytes=max_kb * 1024)
    ts = city_tileset(registry())
    with db.connect(info, autocommit=True) as conn:
        box = conn.execute("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                           "(SELECT ST_Extent(geom) e FROM unit_grids) s").fetchone()
        densest = conn.execute("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ST_X(geom)), "
                               "percentile_disc(0.5) WITHIN GROUP (ORDER BY ST_Y(geom)) FROM "
                               "(SELECT geom FROM cases TABLESAMPLE SYSTEM (1) REPEATABLE (1)) s").fetchone()
        points = sample_points(conn, args.per_zoom, args.seed)
    print(f"tile weight of the city tileset, database {args.db}; target {BUDGET // 1024} KB raw; server's "
          f"budget {max_kb or 'none'} KB; {args.per_zoom} tiles a zoom at most")
    print(f"{'zoom':>4} {'tiles':>5} {'heaviest KB':>11} {'/ budget':>8} {'gzip KB':>8} {'median KB':>9} "
          f"{'ms/tile':>7}  heaviest tile: its largest layers")
    summary = []
    for z in range(0, args.maxzoom + 1):
        tiles = tiles_at(z, box, points, densest, args.per_zoom)
        sizes = []
        started = time.perf_counter()
        for t in tiles:
            sizes.append((len(service.render(ts, "WebMercatorQuad", z, t.x, t.y)), t))
        per_tile = (time.perf_counter() - started) * 1000 / max(len(tiles), 1)
        sizes.sort(key=lambda s: s[0])
        heavy, tile = sizes[-1]
        median = sizes[len(sizes) // 2][0]
        zipped = len(service._gzip(service.render(ts, "WebMercatorQuad", z, tile.x, tile.y)))
        layers = sorted(((len(service.render(collection_tileset(c), "WebMercatorQuad", z, tile.x, tile.y)), c.id)
                         for c in ts.layers if c.in_zoom(z)), reverse=True)[:3]
        parts = ", ".join(f"{cid} {n / 1024:.0f}" for n, cid in layers if n)
        print(f"{z:>4} {len(tiles):>5} {heavy / 1024:>11.1f} {heavy / BUDGET:>8.2f} {zipped / 1024:>8.1f} "
              f"{median / 1024:>9.1f} {per_tile:>7.0f}  {z}/{tile.y}/{tile.x}: {parts}")
        summary.append({"zoom": z, "tiles": len(tiles), "heaviest": heavy, "tile": f"{z}/{tile.y}/{tile.x}",
                        "gzip": zipped, "median": median, "layers": dict((cid, n) for n, cid in layers)})
    worst = max(summary, key=lambda s: s["heaviest"])
    verdict = "within" if worst["heaviest"] <= BUDGET else "OVER"
    print(f"\nheaviest tile of all: {worst['tile']} {worst['heaviest'] / 1024:.1f} KB raw = "
          f"{worst['heaviest'] / BUDGET:.2f} x the 500 KB target ({verdict})")
    if args.json:
        print(json.dumps(summary))
    pool.close()


if __name__ == "__main__":
    main()
