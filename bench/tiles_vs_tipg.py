"""Vector tiles per second: urbangis (tile cache off, then on) against tipg serving the same
tables, and the raw ST_AsMVT statement timed from psycopg, side by side in one run.

Data: the sample city generator (`urbangis samples generate --cases N`, seeded) loaded with
`urbangis load` into its own database (`urbangis_bench_tiles` on the project's cluster): about
1,000,000 case points and 58,000 unit-grid polygons. Tiles: a fixed, seeded list of z10-z16
WebMercatorQuad tiles for each layer, picked under seeded random cases / unit grids so busy
areas come up as often as users would ask for them.

    .venv/bin/python bench/tiles_vs_tipg.py                   # 1M cases, 25 tiles per zoom
    .venv/bin/python bench/tiles_vs_tipg.py --per-zoom 5      # a quick run
    .venv/bin/python bench/tiles_vs_tipg.py --layers unit_grids   # one layer's tiles only

tipg (PyPI) is installed in its own venv, .urbangis/bench-venv, never in the project's .venv.
Both servers are one uvicorn worker pinned to CPU 1 (taskset), both reach PostgreSQL over TCP
on loopback; the load generator and the raw-query client run pinned to CPU 0; PostgreSQL is not
pinned. All three servers run at once but are asked one at a time: after one warm-up pass of each
target (for "cache on" it fills the cache, so its timed passes are all hits), --repeat rounds
each make one pass over the whole list per target in turn (raw, off, on, tipg), so that whatever
else the machine does weighs on all alike; each figure is the median pass. Requests send
Accept-Encoding: gzip and the client does not decompress. The raw client runs the very
statement our server runs with its cache off (composed by the same TileService code: the tile
and the tileset's state in one statement), prepared and fetched in binary as the server does,
over the same TCP connection string with the tile pool's session options.

Both servers get the same work where their options allow: tipg is asked for the same properties
(`properties=`) and feature limit (`limit=`), its tile buffer is set to ours (64), and the bench
registry lets unit grids start at z10 as tipg does. Differences that remain are the servers'
own design and are printed: tipg sorts the matching rows by id before LIMIT; urbangis spreads
point tiles over the limit across 16 cells and simplifies polygons by tile pixels.

Targets (issue 5): urbangis cache off >= 2x tipg tiles/s; urbangis cache off time per tile
within 1.3x of the raw ST_AsMVT query.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx  # noqa: E402
import mapbox_vector_tile  # noqa: E402
import morecantile  # noqa: E402
import psycopg  # noqa: E402
import yaml  # noqa: E402
from common import ROOT, free_port, log, run, tcp_url  # noqa: E402  (puts ROOT on sys.path)

from urbangis.layers import database as db  # noqa: E402
from urbangis.layers.migrate import migrate  # noqa: E402
from urbangis.layers.registry import load_registry  # noqa: E402
from urbangis.layers.settings import Settings  # noqa: E402
from urbangis.tiles import mvt  # noqa: E402
from urbangis.tiles.tilesets import TileService, collection_tileset, tile_conninfo  # noqa: E402

WORK = ROOT / ".urbangis" / "bench"
BENCH_VENV = ROOT / ".urbangis" / "bench-venv"
WEB = morecantile.tms.get("WebMercatorQuad")
LAYERS = {"cases": "case_no", "unit_grids": "code"}  # layer -> id column (for the seeded pick)
ZOOMS = range(10, 17)
SERVER_CPU, CLIENT_CPU = "1", 0




# -- data ---------------------------------------------------------------------------------------
def prepare_database(name: str, cases: int) -> str:
    """The bench database with >= ``cases`` cases (generated and loaded once); its conninfo."""
    info = db.conninfo(Settings.from_env().database, dbname=name)
    db.create_database(info)
    with db.connect(info, autocommit=True) as conn:
        migrate(conn)
        have = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    if have < cases:
        sample = WORK / f"tiles-sample-{cases}"
        if not (sample / "cases.gpkg").exists():
            log(f"generating the sample city with {cases:,} cases in {sample} ...")
            # a few more than asked: the loader sets aside the odd case that falls off its grid
            run([str(ROOT / ".venv/bin/urbangis"), "samples", "generate", "--scale", "1",
                 "--cases", str(cases + cases // 1000 + 10), "--out", str(sample)])
        log(f"loading it into {name} ...")
        env = {**os.environ, "URBANGIS_DB_NAME": name}
        if Settings.from_env().database.external:
            env["URBANGIS_DATABASE_URL"] = info
        run([str(ROOT / ".venv/bin/urbangis"), "load", str(sample), "--skip-invalid", "--replace",
             "--report", str(WORK / "tiles-load-report.json")], env=env)
    with db.connect(info, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE cases")
        conn.execute("VACUUM ANALYZE unit_grids")
        have = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
        grids = conn.execute("SELECT count(*) FROM unit_grids").fetchone()[0]
    if have < cases:
        raise SystemExit(f"only {have:,} cases in {name}; wanted {cases:,}")
    log(f"{name}: {have:,} cases, {grids:,} unit grids")
    return info


def bench_registry() -> Path:
    """The packaged registry, with unit grids from z10 as tipg serves them."""
    doc = yaml.safe_load((ROOT / "layers" / "collections.yaml").read_text(encoding="utf-8"))
    doc["collections"]["unit_grids"]["minzoom"] = 10
    path = WORK / "collections-tiles-bench.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def tile_list(info: str, per_zoom: int, layers=tuple(LAYERS)) -> dict[str, list[tuple[int, int, int]]]:
    """For each layer, per_zoom tiles at each of z10-z16 under seeded random features (a layer's
    list does not depend on which other layers are benched)."""
    out = {}
    with db.connect(info) as conn:
        for layer in layers:
            key = LAYERS[layer]
            n = per_zoom * len(ZOOMS)
            rows = conn.execute(
                f"SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM {layer} "
                f"ORDER BY md5({key} || 'tiles-bench') LIMIT %s) s", (n,)
            ).fetchall()
            tiles = []
            for i, z in enumerate(ZOOMS):
                for lon, lat in rows[i * per_zoom:(i + 1) * per_zoom]:
                    t = WEB.tile(lon, lat, z)
                    tiles.append((t.z, t.x, t.y))
            out[layer] = tiles
    return out


# -- servers ------------------------------------------------------------------------------------
class Server:
    """A uvicorn process pinned to SERVER_CPU."""

    def __init__(self, name: str, argv: list[str], env: dict, health: str) -> None:
        self.name, self.port = name, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = ["taskset", "-c", SERVER_CPU, *argv, "--host", "127.0.0.1", "--port", str(self.port),
               "--log-level", "warning", "--no-access-log"]
        self.log = open(WORK / f"{name}.log", "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(self.base + health, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start; see {WORK / (name + '.log')}")
            time.sleep(0.5)
        self.wait_idle()

    def cpu_ticks(self) -> int:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    def wait_idle(self, timeout: float = 600) -> None:
        """Wait until start-up work (catalogues, the geocoder's index) is done: 2 s without CPU."""
        deadline, quiet, last = time.monotonic() + timeout, 0, self.cpu_ticks()
        while quiet < 2 and time.monotonic() < deadline:
            time.sleep(1)
            now = self.cpu_ticks()
            quiet = quiet + 1 if now - last <= 3 else 0
            last = now

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def ensure_tipg() -> Path:
    """tipg in its own venv (.urbangis/bench-venv), installed once."""
    uvicorn = BENCH_VENV / "bin" / "uvicorn"
    if not (BENCH_VENV / "bin" / "python").exists():
        log("creating .urbangis/bench-venv for tipg ...")
        run([sys.executable, "-m", "venv", str(BENCH_VENV)])
    check = subprocess.run([str(BENCH_VENV / "bin/python"), "-c", "import tipg, uvicorn"], capture_output=True)
    if check.returncode != 0:
        log("installing tipg into .urbangis/bench-venv ...")
        run([str(BENCH_VENV / "bin/python"), "-m", "pip", "install", "-q", "tipg", "uvicorn"])
    return uvicorn


def tipg_version() -> str:
    out = subprocess.run([str(BENCH_VENV / "bin/python"), "-c", "import tipg; print(tipg.__version__)"],
                         capture_output=True, text=True)
    return out.stdout.strip()


# -- load generator -----------------------------------------------------------------------------
def fetch(client: httpx.Client, url: str) -> int:
    """GET without decompressing; the bytes on the wire."""
    with client.stream("GET", url) as r:
        if r.status_code not in (200, 204):
            raise SystemExit(f"{url}: HTTP {r.status_code} {r.read()[:300]!r}")
        return sum(len(chunk) for chunk in r.iter_raw())


class HttpTarget:
    """Tile URLs of one server, fetched one pass at a time."""

    def __init__(self, urls: list[str], concurrency: int) -> None:
        self.urls, self.concurrency = urls, concurrency
        self.clients = [httpx.Client(headers={"Accept-Encoding": "gzip"}, timeout=300) for _ in range(concurrency)]

    def _one(self, client: httpx.Client, url: str) -> tuple[int, float]:
        t0 = time.perf_counter()
        size = fetch(client, url)
        return size, time.perf_counter() - t0

    def one_pass(self) -> tuple[int, list[float] | None]:
        """(bytes, seconds per tile, or None when requests overlap)."""
        if self.concurrency == 1:
            out = [self._one(self.clients[0], u) for u in self.urls]
            return sum(n for n, _ in out), [t for _, t in out]
        with ThreadPoolExecutor(self.concurrency) as pool:
            sizes = pool.map(lambda iu: fetch(self.clients[iu[0] % self.concurrency], iu[1]), enumerate(self.urls))
            return sum(sizes), None

    def close(self) -> None:
        for c in self.clients:
            c.close()


class RawTarget:
    """The very statement our server runs for a tile with its cache off (the tile and the
    tileset's state, composed by the same TileService code), from psycopg, prepared, on a
    connection with the tile pool's session options."""

    def __init__(self, info: str, layer, tiles: list[tuple[int, int, int]]) -> None:
        self.conn = psycopg.connect(tile_conninfo(info), autocommit=True)
        service = TileService(None, None, db.database_name(info))  # composes SQL only; no pool used
        ts = collection_tileset(layer)
        self.queries = {z: service.statement(self.conn, ts, "WebMercatorQuad", z, True) for z in ZOOMS}
        self.tables = list(ts.tables)
        self.tiles = tiles

    def one_pass(self) -> tuple[int, list[float]]:
        size, spent = 0, []
        for z, x, y in self.tiles:
            t0 = time.perf_counter()
            params = {**mvt.params("WebMercatorQuad", z, x, y), "tables": self.tables}
            row = self.conn.execute(self.queries[z], params, prepare=True, binary=True).fetchone()
            size += len(row[0])
            spent.append(time.perf_counter() - t0)
        return size, spent

    def close(self) -> None:
        self.conn.close()


def measure(targets: dict, zooms: list[int], repeat: int) -> dict:
    """One warm-up pass of every target (it fills the cache where it is on), then ``repeat``
    rounds in which every target makes one pass in turn, so that whatever else the machine is
    doing weighs on all of them alike. Medians of the pass times, and per zoom."""
    sizes = {name: t.one_pass()[0] for name, t in targets.items()}
    totals: dict[str, list[float]] = {name: [] for name in targets}
    tiles: dict[str, list[list[float]]] = {name: [] for name in targets}
    for _ in range(repeat):
        for name, target in targets.items():
            t0 = time.perf_counter()
            _, per_tile = target.one_pass()
            totals[name].append(time.perf_counter() - t0)
            if per_tile is not None:
                tiles[name].append(per_tile)
    out = {}
    for name in targets:
        by_zoom = {}
        for z in sorted(set(zooms)) if tiles[name] else []:
            idx = [i for i, zz in enumerate(zooms) if zz == z]
            by_zoom[z] = statistics.median(sum(p[i] for i in idx) for p in tiles[name])
        out[name] = {"seconds": statistics.median(totals[name]), "passes": totals[name],
                     "bytes": sizes[name], "by_zoom": by_zoom}
    return out


def features(url: str) -> int:
    r = httpx.get(url, timeout=300)
    return sum(len(v["features"]) for v in mapbox_vector_tile.decode(r.content).values()) if r.content else 0


# -- main ---------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=1_000_000, help="cases in the bench database (default 1,000,000)")
    ap.add_argument("--per-zoom", type=int, default=25, help="tiles per zoom level and layer (default 25)")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per target; the median is kept (default 3)")
    ap.add_argument("--concurrency", type=int, default=1, help="requests in flight (default 1: time per tile)")
    ap.add_argument("--db", default="urbangis_bench_tiles", help="bench database name")
    ap.add_argument("--layers", default=",".join(LAYERS),
                    help=f"comma-separated layers to bench (default: {','.join(LAYERS)}); "
                         "tipg serves both tables either way")
    args = ap.parse_args()
    layers = [name.strip() for name in args.layers.split(",") if name.strip()]
    if not layers or set(layers) - set(LAYERS):
        ap.error(f"--layers: choose from {', '.join(LAYERS)}")

    WORK.mkdir(parents=True, exist_ok=True)
    os.sched_setaffinity(0, {CLIENT_CPU})
    info = prepare_database(args.db, args.cases)
    url = tcp_url(info)
    registry_path = bench_registry()
    colls = load_registry(registry_path)
    tiles = tile_list(info, args.per_zoom, layers)
    uvicorn_tipg = ensure_tipg()

    ours_env = {**os.environ, "URBANGIS_DATABASE_URL": url, "URBANGIS_COLLECTIONS": str(registry_path),
                "URBANGIS_LOG_LEVEL": "warning"}
    ours_argv = [str(ROOT / ".venv/bin/uvicorn"), "urbangis.api.app:create_app", "--factory"]
    cache_dir = WORK / "tile-cache"
    tipg_env = {**{k: v for k, v in os.environ.items() if not k.startswith("URBANGIS_")},
                "DATABASE_URL": url, "TIPG_DB_TABLES": json.dumps([f"public.{t}" for t in LAYERS]),
                "TIPG_TILE_BUFFER": "64", "TIPG_MAX_FEATURES_PER_TILE": "20000"}

    def our_urls(layer: str) -> list[str]:
        return [f"/collections/{layer}/tiles/WebMercatorQuad/{z}/{y}/{x}" for z, x, y in tiles[layer]]

    def tipg_urls(layer: str) -> list[str]:
        c = colls[layer]
        q = f"?properties={','.join(c.tile_columns)}&limit={c.tile_feature_limit}"
        return [f"/collections/public.{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}{q}" for z, x, y in tiles[layer]]

    results: dict[str, dict] = {layer: {"tiles": len(tiles[layer])} for layer in layers}
    servers = {}
    shutil.rmtree(cache_dir, ignore_errors=True)
    try:
        # All three run at once, each pinned to CPU 1; only one is asked at a time.
        for name, argv, env in (
            ("urbangis_off", ours_argv, {**ours_env, "URBANGIS_TILE_CACHE": "off"}),
            ("urbangis_on", ours_argv, {**ours_env, "URBANGIS_TILE_CACHE": str(cache_dir)}),
            ("tipg", [str(uvicorn_tipg), "tipg.main:app"], tipg_env),
        ):
            log(f"starting {name} ...")
            servers[name] = Server(name, argv, env, "/healthz")
        for layer in layers:
            log(f"{layer}: {len(tiles[layer])} tiles, raw / urbangis off / urbangis on / tipg, "
                f"1 + {args.repeat} rounds ...")
            targets = {
                "raw": RawTarget(url, colls[layer], tiles[layer]),
                "urbangis_off": HttpTarget([servers["urbangis_off"].base + u for u in our_urls(layer)],
                                           args.concurrency),
                "urbangis_on": HttpTarget([servers["urbangis_on"].base + u for u in our_urls(layer)], args.concurrency),
                "tipg": HttpTarget([servers["tipg"].base + u for u in tipg_urls(layer)], args.concurrency),
            }
            try:
                results[layer].update(measure(targets, [z for z, _, _ in tiles[layer]], args.repeat))
            finally:
                for t in targets.values():
                    t.close()
            for name in ("urbangis_off", "tipg"):
                urls = our_urls(layer) if name != "tipg" else tipg_urls(layer)
                results[layer][name]["features"] = sum(features(servers[name].base + u) for u in urls)
    finally:
        for server in servers.values():
            server.stop()

    report(results, args, tipg_version())


def report(results: dict, args, tipg: str) -> None:
    cols = ("raw", "urbangis_off", "urbangis_on", "tipg")
    print(f"\nvector tiles, WebMercatorQuad z10-z16, {args.per_zoom} tiles per zoom, median of {args.repeat} passes, "
          f"concurrency {args.concurrency}; tipg {tipg}")
    print("| layer | tiles | raw ST_AsMVT ms/tile | urbangis cache off ms/tile (tiles/s) "
          "| urbangis cache on ms/tile (tiles/s) "
          "| tipg ms/tile (tiles/s) | off vs tipg | off / raw | features urbangis / tipg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for layer, r in results.items():
        n = r["tiles"]
        ms = {c: r[c]["seconds"] / n * 1000 for c in cols}
        tps = {c: n / r[c]["seconds"] for c in cols}
        print(f"| {layer} | {n} | {ms['raw']:.1f} | {ms['urbangis_off']:.1f} ({tps['urbangis_off']:.0f}) "
              f"| {ms['urbangis_on']:.2f} ({tps['urbangis_on']:.0f}) | {ms['tipg']:.1f} ({tps['tipg']:.0f}) "
              f"| **{tps['urbangis_off'] / tps['tipg']:.2f}x** | **{ms['urbangis_off'] / ms['raw']:.2f}x** "
              f"| {r['urbangis_off']['features']:,} / {r['tipg']['features']:,} |")
    if args.concurrency == 1:
        print("\nms per tile by zoom (raw / urbangis off / urbangis on / tipg):")
        print("| layer | " + " | ".join(f"z{z}" for z in ZOOMS) + " |")
        print("|---|" + "---|" * len(ZOOMS))
        for layer, r in results.items():
            per = args.per_zoom
            cells = []
            for z in ZOOMS:
                vals = [r[c]["by_zoom"].get(z, r[c]["by_zoom"].get(str(z), 0)) / per * 1000 for c in cols]
                cells.append(" / ".join(f"{v:.1f}" for v in vals))
            print(f"| {layer} | " + " | ".join(cells) + " |")
    (WORK / "tiles_vs_tipg.json").write_text(json.dumps(results, indent=2))
    print(f"\ntargets: off vs tipg >= 2x, off / raw <= 1.3x. Raw figures in {WORK / 'tiles_vs_tipg.json'}")


if __name__ == "__main__":
    main()
