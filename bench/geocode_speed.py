"""Geocoder speed (issue 4): index build time and peak memory, forward and reverse geocodes per
second on one core, HTTP p50/p99 at 32 concurrent clients; each beside its peer and target.

The peer of the in-process engine is what it replaces: one SQL statement per geocode against the
same PostGIS, answering the same fields (point, community, unit grid, responsibility grid).
Forward: the house number by road name and number, the query already parsed for it and matched
exactly; reverse: KNN ``ORDER BY geom <-> point LIMIT 1`` for the house number and the road. The
peer's statements run in the PostgreSQL backend, i.e. on a second process. Targets: forward >= 5,000/s, reverse >=
10,000/s, build <= 60 s and <= 2 GB.

    # the sample city at scale, already loaded into a database:
    .venv/bin/python bench/geocode_speed.py --database "dbname=urbangis_scale ..."
    # no such database at hand: a synthetic grid city of 1,000,000 house numbers is made first
    .venv/bin/python bench/geocode_speed.py --synthetic 1000000
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import http_load  # noqa: E402

SERVER_CORE, CLIENT_CORE = 0, 1


def make_synthetic(n: int) -> str:
    """A fresh database holding bench/sql/geocode_synthetic.sql with ~n house numbers."""
    from urbangis.layers import database as db
    from urbangis.layers.settings import Settings

    info = db.new_database(Settings.from_env().database, "urbangis_bench_geocode")
    per_road = max(2, n // 1000)
    sql = (ROOT / "bench" / "sql" / "geocode_synthetic.sql").read_text().replace(":per_road", str(per_road))
    t0 = time.perf_counter()
    with db.connect(info) as conn:
        conn.execute(sql)
        conn.commit()
        conn.execute("ANALYZE")
    print(f"synthetic city: {per_road * 1000:,} house numbers in {time.perf_counter() - t0:.0f} s ({info})")
    return info


def build_in_child(info: str) -> dict:
    """Build the index in a fresh process: wall time and that process's peak RSS."""
    code = (
        "import json, resource, sys, time\n"
        "from layers import database as db\n"
        "from geocoder.index import build_index\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t0 = time.perf_counter()\n"
        "with db.connect(sys.argv[1]) as conn:\n"
        "    ix = build_index(conn)\n"
        "secs = time.perf_counter() - t0\n"
        "print(json.dumps({'seconds': secs, 'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,\n"
        "                  'base_mb': base / 1024, 'stats': ix.stats}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, info], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def sample_queries(conn, k: int, seed: int = 7) -> tuple[list[str], list[tuple[str, str]], list[tuple[float, float]]]:
    """k address queries (clean forms of models 3/4 with and without admin prefixes), the parsed
    (road, number) pairs the SQL peer is given, and k points near house numbers for reverse."""
    rows = conn.execute(
        "SELECT r.name, h.number, ST_X(h.geom), ST_Y(h.geom), a.name, s.name, "
        "       (SELECT b.number FROM buildings b WHERE b.parent_kind = 'house_number' AND b.parent_id = h.id LIMIT 1) "
        "FROM (SELECT * FROM house_numbers WHERE parent_kind = 'road' ORDER BY random() LIMIT %s) h "
        "JOIN roads r ON r.id = h.parent_id "
        "LEFT JOIN admin_areas a ON a.code = r.district_code "
        "LEFT JOIN LATERAL (SELECT name FROM admin_areas s "
        "                   WHERE s.level = 'street' AND ST_Intersects(s.geom, h.geom) LIMIT 1) s ON true",
        [k],
    ).fetchall()
    rnd = random.Random(seed)
    queries, parsed, points = [], [], []
    for road, number, x, y, district, street, building in rows:
        form = rnd.random()
        if form < 0.4:
            q = f"{road}{number}号"
        elif form < 0.7:
            q = f"{district or ''}{street or ''}{road}{number}号"
        elif building:
            q = f"{road}{number}号{building}"
        else:
            q = f"乌鲁木齐市{district or ''}{road}{number}号"
        queries.append(q)
        parsed.append((road, number))
        points.append((x + rnd.uniform(-0.0002, 0.0002), y + rnd.uniform(-0.0002, 0.0002)))
    return queries, parsed, points


def pin(core: int) -> None:
    try:
        os.sched_setaffinity(0, {core})
    except (AttributeError, OSError):
        pass


def engine_rates(info: str, queries, points) -> dict:
    from urbangis.geocoder.engine import Geocoder
    from urbangis.geocoder.index import build_index
    from urbangis.geocoder.reverse import reverse
    from urbangis.layers import database as db

    with db.connect(info) as conn:
        ix = build_index(conn)
    g = Geocoder(ix)
    pin(CLIENT_CORE)
    for q in queries[:200]:  # warm caches
        g.geocode(q, 1)
    t0 = time.perf_counter()
    found = 0
    for q in queries:
        found += bool(g.geocode(q, 1).candidates)
    fwd = len(queries) / (time.perf_counter() - t0)
    xy = [ix.plane.fwd(lon, lat) for lon, lat in points]
    t0 = time.perf_counter()
    for x, y in xy:
        reverse(ix, x, y, 100.0)
    rev = len(xy) / (time.perf_counter() - t0)
    return {"forward_per_s": fwd, "reverse_per_s": rev, "found": found / len(queries)}


# What the engine's answer carries besides the point: the community, unit grid and
# responsibility grid containing it. The SQL peer computes the same, per query.
_AREAS_SQL = (
    "(SELECT code FROM admin_areas a WHERE a.level = 'community' AND ST_Contains(a.geom, p.geom) LIMIT 1), "
    "(SELECT code FROM unit_grids g WHERE ST_Contains(g.geom, p.geom) LIMIT 1), "
    "(SELECT code FROM responsibility_grids rg WHERE ST_Contains(rg.geom, p.geom) LIMIT 1)"
)


def peer_rates(info: str, parsed, points, k: int = 3000) -> dict:
    """One SQL statement per geocode, answering the same fields (point, community, unit grid,
    responsibility grid). The forward peer is handed the query already parsed into (road, number)
    and matches exactly: no normalisation, no tolerance, no ranking."""
    from urbangis.layers import database as db

    with db.connect(info) as conn:
        t0 = time.perf_counter()
        for road, number in parsed[:k]:
            conn.execute(
                "SELECT ST_X(p.geom), ST_Y(p.geom), " + _AREAS_SQL + " FROM (SELECT h.geom FROM house_numbers h "
                "JOIN roads r ON h.parent_kind = 'road' AND h.parent_id = r.id WHERE r.name = %s AND h.number = %s "
                "LIMIT 1) p", [road, number]).fetchone()
        fwd = min(k, len(parsed)) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for lon, lat in points[:k]:
            conn.execute(
                "SELECT (SELECT id FROM house_numbers ORDER BY geom <-> p.geom LIMIT 1), "
                "(SELECT id FROM roads ORDER BY geom <-> p.geom LIMIT 1), " + _AREAS_SQL +
                " FROM (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4490) AS geom) p", [lon, lat]).fetchone()
        rev = min(k, len(points)) / (time.perf_counter() - t0)
    return {"forward_per_s": fwd, "reverse_per_s": rev}


async def _load(port: int, paths: list[str], clients: int) -> tuple[list[float], float, int]:
    """``clients`` keep-alive connections sending GET ``paths`` as fast as answers come
    (common.http_load): latencies, wall time and the count of 5xx answers."""
    lat, wall, statuses = await http_load(port, (("GET", p, None) for p in paths), clients)
    return lat, wall, sum(n for status, n in statuses.items() if status >= 500)


def http_latency(info: str, queries, points, requests: int, clients: int = 32) -> dict:
    import socket
    import urllib.parse
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "URBANGIS_DATABASE_URL": info, "PYTHONPATH": str(ROOT)}
    cmd = ["taskset", "-c", str(SERVER_CORE), sys.executable, "-m", "uvicorn", "urbangis.api.app:create_app",
           "--factory", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/geocode/status", timeout=60) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.5)
        pin(CLIENT_CORE)
        out = {}
        fwd = ["/geocode?limit=1&q=" + urllib.parse.quote(q) for q in queries[:requests]]
        rev = [f"/reverse?lon={lon}&lat={lat}" for lon, lat in points[:requests]]
        for name, paths in (("geocode", fwd), ("reverse", rev)):
            lat, wall, errors = asyncio.run(_load(port, paths, clients))
            lat.sort()
            out[name] = {"requests": len(lat), "p50_ms": 1000 * lat[len(lat) // 2],
                         "p99_ms": 1000 * lat[int(len(lat) * 0.99) - 1], "per_s": len(lat) / wall, "5xx": errors}
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", help="libpq conninfo of a loaded database")
    ap.add_argument("--synthetic", type=int, help="make a synthetic city with this many house numbers first")
    ap.add_argument("--queries", type=int, default=20000, help="forward / reverse sample size")
    ap.add_argument("--http-requests", type=int, default=5000, help="requests per endpoint in the HTTP test (0: skip)")
    ap.add_argument("--keep", action="store_true", help="keep the synthetic database")
    args = ap.parse_args()

    from urbangis.layers import database as db
    from urbangis.layers.settings import Settings

    made = None
    if args.synthetic:
        info = made = make_synthetic(args.synthetic)
    else:
        info = args.database or db.conninfo(Settings.from_env().database)
    try:
        b = build_in_child(info)
        print(f"\nindex of {b['stats']['house_numbers']:,} house numbers, {b['stats']['names']:,} names, "
              f"{b['stats']['components']:,} components")
        with db.connect(info) as conn:
            queries, parsed, points = sample_queries(conn, args.queries)
        e = engine_rates(info, queries, points)
        p = peer_rates(info, parsed, points)
        print(f"{'figure':<34} {'engine':>12} {'peer (SQL/query)':>17} {'ratio':>8} {'target':>10}")
        print(f"{'forward geocodes/s, one core':<34} {e['forward_per_s']:>12,.0f} {p['forward_per_s']:>17,.0f} "
              f"{e['forward_per_s'] / p['forward_per_s']:>8.1f} {'>= 5,000':>10}")
        print(f"{'reverse geocodes/s, one core':<34} {e['reverse_per_s']:>12,.0f} {p['reverse_per_s']:>17,.0f} "
              f"{e['reverse_per_s'] / p['reverse_per_s']:>8.1f} {'>= 10,000':>10}")
        print(f"{'index build, s':<34} {b['seconds']:>12.1f} {'':>17} {b['seconds'] / 60:>8.2f} {'<= 60':>10}")
        print(f"{'index build, peak RSS MB':<34} {b['peak_mb']:>12,.0f} {'':>17} {b['peak_mb'] / 2048:>8.2f} "
              f"{'<= 2,048':>10}")
        print(f"(forward sample found {e['found']:.1%}; ratio column: engine/peer, or figure/target for the build)")
        if args.http_requests:
            h = http_latency(info, queries, points, args.http_requests)
            for name, v in h.items():
                print(f"HTTP {name:<8} 32 clients: p50 {v['p50_ms']:.1f} ms, p99 {v['p99_ms']:.1f} ms, "
                      f"{v['per_s']:,.0f} req/s, {v['requests']} requests, {v['5xx']} 5xx "
                      f"(server on core {SERVER_CORE}, load generator on core {CLIENT_CORE})")
    finally:
        if made and not args.keep:
            db.drop_database(made)
    return 0


if __name__ == "__main__":
    sys.exit(main())
