"""Load held (issue 24): 60 s of a documented mix at 64 concurrent connections, with one server
process and again with ``urbangis serve --workers 2``; per endpoint the requests per second and
p50 / p95 / p99, the answers that were not 2xx (the target: none), and what each worker process
holds in memory.

The mix (weights of a random draw per request, seeded):

    40  vector tiles      /tiles/WebMercatorQuad/{z}/{y}/{x} and /collections/roads/tiles/...,
                          z14-16 around random buildings (cached after their first answer)
    15  feature pages     /collections/buildings/items?limit=100&bbox=... (about 800 x 650 m)
    15  geocode           /geocode?q=... (the sample city's evaluation queries, clean and noisy)
    10  reverse geocode   /reverse?lon=&lat= (random building points)
    10  case check        /cases/check?kind=&major_class=&minor_class=&lon=&lat= (alerts, nothing stored)
    10  case intake       POST /cases (alerts in the answer; the cases stored are deleted afterwards)

The server runs on a copy of the configured database (``CREATE DATABASE ... TEMPLATE``, dropped
at the end) with access control off (it listens on 127.0.0.1; bench/access_overhead.py measures
signing and scoping). The load generator is one asyncio process (common.http_load, a minimal
HTTP/1.1 client) pinned to CPU 1; the server is not pinned (two workers need both cores), so
client and server share the machine's 2 cores: the figures are the machine's, not the server's
alone.

    .venv/bin/python bench/load_mixed.py                    # 60 s with 1 worker, 60 s with 2
    .venv/bin/python bench/load_mixed.py --seconds 20 --workers 1
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import morecantile  # noqa: E402
from common import ROOT, free_port, http_load, log  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402

from urbangis.layers import database as db  # noqa: E402
from urbangis.layers.settings import Settings  # noqa: E402

MIX = (("tiles", 40), ("items", 15), ("geocode", 15), ("reverse", 10), ("case check", 10), ("case intake", 10))
CLIENT_CPU = 1


def material(info: str, n: int = 400) -> dict[str, list]:
    """What the requests are made of, drawn from the database and the evaluation set."""
    rnd = random.Random(5)
    with db.connect(info) as conn:
        pts = conn.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM buildings "
                           "TABLESAMPLE SYSTEM_ROWS(%s)) s", (n * 3,)).fetchall()
        cases = conn.execute("SELECT kind, major_class, minor_class, ST_X(geom), ST_Y(geom) FROM cases "
                             "TABLESAMPLE SYSTEM_ROWS(%s) WHERE major_class IS NOT NULL", (n * 2,)).fetchall()
    queries = [json.loads(line)["query"] for line in (ROOT / "data-samples" / "urumqi_queries.jsonl").open()]
    tms = morecantile.tms.get("WebMercatorQuad")
    tiles = []
    for i, (lon, lat) in enumerate(pts[:n]):
        z = 14 + i % 3
        t = tms.tile(lon, lat, z)
        tiles.append(f"{'/tiles' if i % 2 else '/collections/roads/tiles'}/WebMercatorQuad/{z}/{t.y}/{t.x}")
    items = [f"/collections/buildings/items?limit=100&bbox={lon - 0.005:.6f},{lat - 0.003:.6f},{lon + 0.005:.6f},"
             f"{lat + 0.003:.6f}" for lon, lat in pts[n:2 * n]]
    reverse = [f"/reverse?lon={lon:.6f}&lat={lat:.6f}" for lon, lat in pts[2 * n:]]
    geocode = [f"/geocode?q={quote(q)}" for q in rnd.sample(queries, min(n, len(queries)))]
    check = [f"/cases/check?kind={k}&major_class={a}&minor_class={b}&lon={x + rnd.uniform(-2e-4, 2e-4):.6f}"
             f"&lat={y + rnd.uniform(-2e-4, 2e-4):.6f}" for k, a, b, x, y in cases]
    intake = [json.dumps({"kind": k, "major_class": a, "minor_class": b, "lon": x + rnd.uniform(-2e-4, 2e-4),
                          "lat": y + rnd.uniform(-2e-4, 2e-4), "source": "bench-load",
                          "description": "load_mixed intake"}).encode() for k, a, b, x, y in cases]
    return {"tiles": tiles, "items": items, "geocode": geocode, "reverse": reverse, "case check": check,
            "case intake": intake}


def requests(parts: dict[str, list], seed: int):
    """The mix, forever: (method, path, body, headers, tag)."""
    rnd = random.Random(seed)
    tags = [t for t, _ in MIX]
    weights = [w for _, w in MIX]
    while True:
        tag = rnd.choices(tags, weights)[0]
        pick = rnd.choice(parts[tag])
        if tag == "case intake":
            yield "POST", "/cases", pick, {}, tag
        else:
            yield "GET", pick, None, {}, tag


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_ready(port: int, workers: int) -> None:
    """Until every worker answers with its indexes built (a request goes to whichever worker
    accepts its connection: ask on many fresh connections)."""
    deadline = time.monotonic() + 900
    base = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        try:
            ok = 0
            for _ in range(8 * workers):
                with httpx.Client(timeout=60) as c:
                    r = c.get(f"{base}/geocode/status")
                    ok += r.status_code == 200 and r.json().get("ready", True) and \
                        c.get(f"{base}/cases/filters").status_code == 200
            if ok == 8 * workers:
                time.sleep(3)
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"the server on {port} did not start")


def run(info: str, workers: int, parts: dict, seconds: float, clients: int) -> dict:
    port = free_port()
    env = dict(os.environ, URBANGIS_DATABASE_URL=info, URBANGIS_AUTH="off", URBANGIS_LOG_LEVEL="warning")
    server = subprocess.Popen([sys.executable, "-m", "urbangis.api.cli", "serve", "--host", "127.0.0.1",
                               "--port", str(port), "--workers", str(workers)], cwd=ROOT, env=env)
    try:
        t0 = time.monotonic()
        wait_ready(port, workers)
        log(f"{workers} worker(s) ready in {time.monotonic() - t0:.0f} s")
        # warm: each tile and page once (a map wall loads the same tiles again and again)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            for path in parts["tiles"] + parts["items"]:
                c.get(path)
        os.sched_setaffinity(0, {CLIENT_CPU})
        per_tag: dict[str, list] = {}
        _, elapsed, statuses = asyncio.run(http_load(port, requests(parts, 11), clients, seconds, per_tag))
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        # with --workers N, uvicorn's supervisor (the serve process) spawns the workers and a
        # multiprocessing resource tracker; with one worker, the serve process is the worker
        procs = [p for p in children(server.pid) if b"resource_tracker" not in _cmdline(p)]
        memory = [rss_mb(p) for p in (procs if workers > 1 else [server.pid])]
        return {"workers": workers, "elapsed": elapsed, "statuses": statuses, "per_tag": per_tag, "memory": memory}
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()


def q(ms: list[float], k: int) -> float:
    return statistics.quantiles(ms, n=100, method="inclusive")[k - 1] if len(ms) > 1 else (ms[0] if ms else 0.0)


def report(r: dict) -> None:
    total = sum(r["statuses"].values())
    bad = {s: n for s, n in r["statuses"].items() if not 200 <= s < 400}
    print(f"\n{r['workers']} worker process(es): {total:,} requests in {r['elapsed']:.1f} s = "
          f"{total / r['elapsed']:,.0f}/s; "
          f"answers not 2xx/3xx: {sum(bad.values())} {bad or ''}; resident memory per worker "
          + ", ".join(f"{m:,.0f} MB" for m in r["memory"]))
    print(f"{'endpoint':<13}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for tag, _ in MIX:
        rows = r["per_tag"].get(tag, [])
        ms = [t * 1000 for t, _ in rows]
        errors = sum(1 for _, s in rows if not 200 <= s < 400)
        print(f"{tag:<13}{len(rows):>9,}{len(rows) / r['elapsed']:>8.0f}{q(ms, 50):>9.1f}{q(ms, 95):>9.1f}"
              f"{q(ms, 99):>9.1f}{errors:>8}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="runs, one per worker count")
    ap.add_argument("--template", default=None, help="database to copy [default: the configured one]")
    args = ap.parse_args()
    settings = Settings.from_env().database
    base = db.conninfo(settings)
    template = args.template or db.database_name(base)
    name = f"urbangis_bench_load_{int(time.time())}"
    info = make_conninfo(base, dbname=name)
    with db.connect(make_conninfo(base, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    try:
        parts = material(info)
        results = [run(info, w, parts, args.seconds, args.clients) for w in args.workers]
    finally:
        db.drop_database(info)
    print(f"\nmixed load: {args.clients} connections, {args.seconds:.0f} s per run, copy of {template}; mix "
          + ", ".join(f"{t} {w} %" for t, w in MIX))
    for r in results:
        report(r)
    if len(results) == 2:
        a, b = (sum(r["statuses"].values()) / r["elapsed"] for r in results)
        print(f"\nrequests/s, {results[1]['workers']} workers / {results[0]['workers']}: {b / a:.2f}")
    return 0 if all(not any(not 200 <= s < 400 for s in r["statuses"]) for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
