"""Cached tiles per second at 64 connections (issue 24): urbangis with its tile cache, the same
server with the cache off, and tipg serving the same tiles, side by side in one run; then the
check that a cached tile is made again when its data changes, and how soon.

Data: the tiles bench's database (bench/tiles_vs_tipg.py: the sample city with 1,000,000 case
points, made once). Tiles: a seeded list of z10-z16 tiles under random cases (``--per-zoom`` per
zoom), asked as the ``cases`` collection's tiles of each server and as urbangis' multi-layer city
tileset (every layer; tipg has no such tileset).

Servers: ``urbangis serve --workers 2`` with the cache on and again with it off (access control
off, no access log), and tipg under ``uvicorn --workers 2`` (its own venv, as in
bench/tiles_vs_tipg.py), all three running at once and asked one at a time. Load: Debian's
``wrk`` (``apt-get install wrk``: a C client, which takes less of the shared cores per request
than the Python client of bench/common.py), 2 threads, 64 connections, ``--seconds`` per target
and round (a request may take up to 60 s), every request with Accept-Encoding: gzip, the list
walked in turn. Before the rounds each list is asked once on every server (the cache
on fills; a hit costs no database round trip once a worker knows the tileset's state,
layers/changes.py). Client and servers share the machine's two cores: the figures are the
machine's. After each target's run the bench waits until PostgreSQL has finished the requests
already sent (a slow target leaves 64 statements of seconds each running after wrk stops).
Each figure is the median of ``--repeat`` rounds.

After the rounds, freshness: a cached tile with cases is asked (a hit), one of its cases gets a
new status (committed), and the tile is asked again until its ETag moves; printed: the time from
the commit to the first answer with the new ETag, and whether that tile's bytes are the
cache-off server's bytes for the same URL. The case gets its status back at the end.

    .venv/bin/python bench/tiles_cached.py                       # 10 s x 3 rounds per target
    .venv/bin/python bench/tiles_cached.py --seconds 5 --repeat 1

Target: >= 5,000 cached tiles/s at 64 connections on this 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from common import ROOT, free_port, log, tcp_url  # noqa: E402
from load_mixed import wait_ready  # noqa: E402
from tiles_vs_tipg import BENCH_VENV, bench_registry, ensure_tipg, prepare_database, tile_list, tipg_version  # noqa: E402

from urbangis.layers import database as db  # noqa: E402
from urbangis.layers.registry import load_registry  # noqa: E402

WORK = ROOT / ".urbangis" / "bench"
TARGET = 5000.0


class Server:
    def __init__(self, name: str, argv: list[str], env: dict, ready) -> None:
        self.name, self.port = name, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(WORK / f"cached-{name}.log", "w")
        self.proc = subprocess.Popen([*argv, "--host", "127.0.0.1", "--port", str(self.port)], cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        ready(self)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def wait_http(server: Server, path: str = "/healthz") -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(server.base + path, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if server.proc.poll() is not None:
            break
        time.sleep(0.5)
    raise SystemExit(f"{server.name} did not start; see {server.log.name}")


def wrk(base: str, paths: list[str], seconds: float, clients: int) -> dict:
    """One wrk run over ``paths`` (walked in turn): requests/s, p50/p99 (ms), answers not 2xx/3xx."""
    listing = WORK / "wrk-paths.txt"
    listing.write_text("\n".join(paths) + "\n", encoding="utf-8")
    script = WORK / "wrk-paths.lua"
    script.write_text(
        "local paths = {}\n"
        f"for line in io.lines({json.dumps(str(listing))}) do paths[#paths + 1] = line end\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        "  return wrk.format('GET', paths[(i % #paths) + 1], {['Accept-Encoding'] = 'gzip'})\n"
        "end\n", encoding="utf-8")
    argv = ["wrk", "-t2", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "60s", "--latency", "-s", str(script), base]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m is None:
            return float("nan")
        return float(m[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m[2]]

    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]), "p50": ms("50%"), "p99": ms("99%"),
            "bad": int(bad[1]) if bad else 0, "socket_errors": errors[0] if errors else ""}


def settle(info: str, timeout: float = 120.0) -> None:
    """Wait until PostgreSQL has no statement running but ours: when wrk stops, the slow targets'
    requests already sent go on running (64 tile statements of several seconds each), and would
    weigh on the next target's figures."""
    deadline = time.monotonic() + timeout
    with db.connect(info, autocommit=True) as conn:
        while time.monotonic() < deadline:
            busy = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'").fetchone()[0]
            if busy == 0:
                return
            time.sleep(0.5)
    log(f"PostgreSQL still busy after {timeout:.0f} s; going on")


def freshness(on: Server, off: Server, info: str, paths: list[str]) -> dict:
    """Change a case under a cached tile; how soon the cached server answers the new tile, and
    whether its bytes are the cache-off server's."""
    with httpx.Client(timeout=60, headers={"Accept-Encoding": "gzip"}) as c:
        for path in paths:  # a tile at z >= 14 with cases in it, answered from the cache
            z, y, x = (int(v) for v in path.rsplit("/", 3)[1:])
            if z < 14:
                continue
            first = c.get(on.base + path)
            if first.status_code == 200 and first.headers.get("x-tile-cache") == "hit":
                break
        else:
            raise SystemExit("no cached tile with cases at z >= 14 in the list")
        with db.connect(info, autocommit=True) as conn:
            case_no, status = conn.execute(
                "SELECT case_no, status FROM cases WHERE geom && ST_Transform(ST_TileEnvelope(%s, %s, %s), 4490) "
                "LIMIT 1", (z, x, y)).fetchone()
            new = "closed" if status != "closed" else "handling"
            conn.execute("UPDATE cases SET status = %s WHERE case_no = %s", (new, case_no))
            t0 = time.perf_counter()
            seen, tries, stale = None, 0, None
            while time.perf_counter() - t0 < 10:
                sent = time.perf_counter() - t0
                r = c.get(on.base + path)
                tries += 1
                if r.headers.get("etag") != first.headers.get("etag"):
                    seen = time.perf_counter() - t0
                    break
                stale = sent  # the old tile, asked this long after the commit
            fresh = r.content
            plain = c.get(off.base + path).content
            conn.execute("UPDATE cases SET status = %s WHERE case_no = %s", (status, case_no))
    same = fresh == plain  # (httpx has decoded both)
    return {"path": path, "case_no": case_no, "seconds": seen, "tries": tries, "stale": stale, "same_as_off": same}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds per target and round (default 10)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the median is kept (default 3)")
    ap.add_argument("--clients", type=int, default=64, help="concurrent connections (default 64)")
    ap.add_argument("--per-zoom", type=int, default=60, help="tiles per zoom z10-z16 (default 60)")
    ap.add_argument("--cases", type=int, default=1_000_000, help="cases in the bench database (default 1,000,000)")
    ap.add_argument("--db", default="urbangis_bench_tiles", help="bench database name")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    WORK.mkdir(parents=True, exist_ok=True)
    info = prepare_database(args.db, args.cases)
    url = tcp_url(info)
    registry_path = bench_registry()
    colls = load_registry(registry_path)
    tiles = tile_list(info, args.per_zoom, ("cases",))["cases"]
    c = colls["cases"]
    lists = {
        "urbangis city tileset, cache on": ("on", [f"/tiles/WebMercatorQuad/{z}/{y}/{x}" for z, x, y in tiles]),
        "urbangis cases, cache on": ("on", [f"/collections/cases/tiles/WebMercatorQuad/{z}/{y}/{x}"
                                            for z, x, y in tiles]),
        "urbangis cases, cache off": ("off", [f"/collections/cases/tiles/WebMercatorQuad/{z}/{y}/{x}"
                                              for z, x, y in tiles]),
        "tipg cases": ("tipg", [f"/collections/public.cases/tiles/WebMercatorQuad/{z}/{x}/{y}"
                                f"?properties={','.join(c.tile_columns)}&limit={c.tile_feature_limit}"
                                for z, x, y in tiles]),
    }
    cache_dir = WORK / "cached-tile-cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    ours = [sys.executable, "-m", "urbangis.api.cli", "serve", "--workers", "2"]
    env = {**os.environ, "URBANGIS_DATABASE_URL": url, "URBANGIS_COLLECTIONS": str(registry_path),
           "URBANGIS_LOG_LEVEL": "warning", "URBANGIS_AUTH": "off"}
    tipg_env = {**{k: v for k, v in os.environ.items() if not k.startswith("URBANGIS_")},
                "DATABASE_URL": url, "TIPG_DB_TABLES": json.dumps(["public.cases", "public.unit_grids"]),
                "TIPG_TILE_BUFFER": "64", "TIPG_MAX_FEATURES_PER_TILE": "20000"}
    servers: dict[str, Server] = {}
    results: dict[str, list[dict]] = {name: [] for name in lists}
    try:
        log("starting urbangis (cache on, 2 workers), urbangis (cache off, 2 workers), tipg (2 workers) ...")
        servers["on"] = Server("on", ours, {**env, "URBANGIS_TILE_CACHE": str(cache_dir)},
                               lambda s: wait_ready(s.port, 2))
        servers["off"] = Server("off", ours, {**env, "URBANGIS_TILE_CACHE": "off"}, lambda s: wait_ready(s.port, 2))
        servers["tipg"] = Server("tipg", [str(ensure_tipg()), "tipg.main:app", "--workers", "2", "--log-level",
                                          "warning", "--no-access-log"], tipg_env, wait_http)
        log(f"{len(tiles)} tiles; each list asked once on its server (the cache fills) ...")
        with httpx.Client(timeout=120, headers={"Accept-Encoding": "gzip"}) as client:
            for name, (server, paths) in lists.items():
                for path in paths:
                    r = client.get(servers[server].base + path)
                    if r.status_code not in (200, 204):
                        raise SystemExit(f"{name}: {path} answered {r.status_code}: {r.text[:200]}")
        for rnd in range(1, args.repeat + 1):
            for name, (server, paths) in lists.items():
                r = wrk(servers[server].base, paths, args.seconds, args.clients)
                results[name].append(r)
                settle(info)
                log(f"round {rnd}: {name}: {r['rps']:,.0f}/s p50 {r['p50']:.1f} ms p99 {r['p99']:.1f} ms"
                    f"{', not 2xx: ' + str(r['bad']) if r['bad'] else ''} {r['socket_errors']}")
        fresh = freshness(servers["on"], servers["off"], info, lists["urbangis cases, cache on"][1])
    finally:
        for s in servers.values():
            s.stop()
    report(results, fresh, args, tipg_version())
    return 0


def report(results: dict[str, list[dict]], fresh: dict, args, tipg: str) -> None:
    med = {name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")}
           for name, runs in results.items()}
    tipg_rps = med["tipg cases"]["rps"]
    off_rps = med["urbangis cases, cache off"]["rps"]
    print(f"\ncached vector tiles at {args.clients} connections, wrk, {args.seconds:g} s per target, median of "
          f"{args.repeat} rounds (tipg {tipg}; {BENCH_VENV.name})")
    print(f"{'target':34} {'tiles/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x tipg':>7} {'x off':>7} {'not 2xx':>8}")
    for name, m in med.items():
        bad = sum(r["bad"] for r in results[name])
        print(f"{name:34} {m['rps']:9,.0f} {m['p50']:8.1f} {m['p99']:8.1f} {m['rps'] / tipg_rps:7.1f} "
              f"{m['rps'] / off_rps:7.1f} {bad:8}")
    worst = min(med["urbangis cases, cache on"]["rps"], med["urbangis city tileset, cache on"]["rps"])
    print(f"target >= {TARGET:,.0f} cached tiles/s (both cached lists): {'met' if worst >= TARGET else 'NOT met'}")
    took = f"{fresh['seconds'] * 1000:.1f} ms (the tile made again)" if fresh["seconds"] is not None \
        else "not within 10 s"
    stale = "none" if fresh["stale"] is None else \
        f"{fresh['tries'] - 1}, the last asked {fresh['stale'] * 1000:.1f} ms after the commit"
    print(f"freshness: case {fresh['case_no']} changed under {fresh['path']}: old tile answered after the commit: "
          f"{stale}; new ETag answered {took}; its bytes "
          f"{'equal to' if fresh['same_as_off'] else 'DIFFERENT from'} the cache-off server's")


if __name__ == "__main__":
    raise SystemExit(main())
