"""Raster tiles of an imagery epoch (heritage monitoring): our server beside TiTiler (the
reference raster tile server, on the same rio-tiler) serving the same COG, one core each.

    .venv/bin/python bench/imagery_tiles.py                  # the NAIP 2009 epoch, z12-18
    .venv/bin/python bench/imagery_tiles.py --rounds 6 --clients 8

The epoch is registered as `urbangis heritage register` does (a web-optimised COG in the imagery
folder), in a database of its own. Both servers run at once, one uvicorn worker each, pinned to
CPU 0; the client (pinned to CPU 1) sends rounds alternately, A then B. Every tile over the image
at zooms 12-18 is requested once per round (PNG, bands 1,2,3), so a round is mostly fresh reads of
the COG, not an answer cache (neither server caches raster tiles). TiTiler runs in its own venv
(.urbangis/bench-venv/titiler). Target (issue 25): >= 100 tiles/s on one core.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import morecantile
import rasterio
from common import ROOT, free_port, http_load, log, run  # noqa: E402  (puts ROOT on sys.path)
from rasterio.warp import transform_bounds

from urbangis.ingest.imagery import register  # noqa: E402
from urbangis.layers import database as db  # noqa: E402
from urbangis.layers.settings import Settings  # noqa: E402

SERVER_CPU, CLIENT_CPU = "0", 1
IMAGE = ROOT / "data-samples" / "imagery" / "m_4709963_se_14_1_20090818.tif"
VENV = ROOT / ".urbangis" / "bench-venv" / "titiler"
TITILER_APP = """
from fastapi import FastAPI
from titiler.core.factory import TilerFactory
app = FastAPI()
app.include_router(TilerFactory().router)
"""


def ensure_titiler() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        log("creating .urbangis/bench-venv/titiler ...")
        VENV.parent.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "venv", str(VENV)])
    if subprocess.run([str(py), "-c", "import titiler.core, uvicorn"], capture_output=True).returncode != 0:
        log("installing titiler.core into .urbangis/bench-venv/titiler ...")
        run([str(py), "-m", "pip", "install", "-q", "titiler.core", "uvicorn"])
    (VENV / "bench_app.py").write_text(TITILER_APP)
    return py


def wait(port: int, path: str) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server on {port} did not answer {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds per server")
    ap.add_argument("--clients", type=int, default=8, help="keep-alive connections")
    ap.add_argument("--zooms", default="12-18", help="zoom range of the tiles requested")
    args = ap.parse_args()
    settings = Settings.from_env()
    folder = settings.heritage.imagery_folder(settings.database.home)
    info = db.new_database(settings.database, "urbangis_bench_imagery")
    try:
        with db.connect(info) as conn:
            epoch = register(conn, IMAGE, dt.date(2009, 8, 18), folder)
        z0, z1 = (int(z) for z in args.zooms.split("-"))
        with rasterio.open(epoch.path) as src:
            west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        tiles = list(morecantile.tms.get("WebMercatorQuad").tiles(west, south, east, north, list(range(z0, z1 + 1))))
        ours = [("GET", f"/heritage/imagery/{epoch.id}/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}.png", None)
                for t in tiles]
        theirs = [("GET", f"/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png?url={epoch.path}&bidx=1&bidx=2&bidx=3",
                   None) for t in tiles]
        py = ensure_titiler()
        ports = {"ours": free_port(), "titiler": free_port()}
        env = dict(os.environ, URBANGIS_DATABASE_URL=info, URBANGIS_AUTH="off", URBANGIS_LOG_LEVEL="warning")
        servers = {
            "ours": subprocess.Popen(["taskset", "-c", SERVER_CPU, sys.executable, "-m", "uvicorn",
                                      "urbangis.api.app:create_app", "--factory", "--port", str(ports["ours"]),
                                      "--log-level", "warning"], cwd=ROOT, env=env),
            "titiler": subprocess.Popen(["taskset", "-c", SERVER_CPU, str(py), "-m", "uvicorn", "bench_app:app",
                                         "--port", str(ports["titiler"]), "--log-level", "warning"], cwd=VENV),
        }
        try:
            wait(ports["ours"], "/heritage/imagery")
            wait(ports["titiler"], f"/info?url={epoch.path}")
            os.sched_setaffinity(0, {CLIENT_CPU})
            rates: dict[str, list[float]] = {"ours": [], "titiler": []}
            lat: dict[str, list[float]] = {"ours": [], "titiler": []}
            for r in range(args.rounds):
                for name, reqs in (("ours", ours), ("titiler", theirs)):
                    took, wall, statuses = asyncio.run(http_load(ports[name], reqs, args.clients))
                    bad = {s: n for s, n in statuses.items() if s not in (200, 204, 404)}
                    if bad:
                        raise SystemExit(f"{name}: unexpected statuses {bad}")
                    rates[name].append(statuses.get(200, 0) / wall)
                    lat[name] += took
                log(f"round {r + 1}/{args.rounds}: ours {rates['ours'][-1]:.0f}, titiler {rates['titiler'][-1]:.0f} "
                    f"tiles/s")
        finally:
            for s in servers.values():
                s.terminate()
    finally:
        db.drop_database(info)
    print(f"\nraster tiles of one epoch (NAIP 934 x 724 px, 5 m; COG {epoch.path.stat().st_size // 1024} KiB), "
          f"{len(tiles)} tiles z{z0}-{z1} per round, {args.clients} clients, {args.rounds} alternating rounds; "
          "each server one uvicorn worker on CPU 0")
    print(f"{'server':<9} {'tiles/s (median round)':>22} {'p50 ms':>8} {'p95 ms':>8}")
    for name in ("ours", "titiler"):
        q = statistics.quantiles(lat[name], n=20)
        print(f"{name:<9} {statistics.median(rates[name]):>22.0f} {statistics.median(lat[name]) * 1e3:>8.1f} "
              f"{q[18] * 1e3:>8.1f}")
    ratio = statistics.median(rates["ours"]) / statistics.median(rates["titiler"])
    print(f"ours / titiler: {ratio:.2f}x the rate; target >= 100 tiles/s on one core: "
          f"{'met' if statistics.median(rates['ours']) >= 100 else 'not met'}")


if __name__ == "__main__":
    main()
