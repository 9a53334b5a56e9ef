"""Case maps at a city's scale: aggregate tiles (square bins, hexagons, clusters), heat tiles, area
statistics, Gi* hot spots and a new case's visibility, from the server over HTTP, beside the
one-statement PostGIS peer of each (cases/filters + ST_SquareGrid / ST_HexagonGrid + ST_AsMVT for
tiles; GROUP BY for statistics; GROUP BY + PySAL esda for Gi*).

    .venv/bin/python bench/case_maps.py                 # the --scale 20 city, 10,000,000 cases
    .venv/bin/python bench/case_maps.py --scale 1       # the sample city's size, a quick run

The city and its database are bench/cases_alerts.py's (generated and loaded once, kept). The
server runs in a process of its own (--workers of them; each builds its indexes), requests come
one at a time from this process; the peer's statements run through psycopg on the same database.
Every tile is asked once ("cold": the case maps keep no tile cache, every answer is counted
afresh). Targets (issue 20): aggregate tile p95 <= 50 ms at every zoom and filter; heat tile p95 <=
100 ms; statistics of all districts p95 <= 200 ms; Gi* over all unit grids <= 2 s; a case stored
through POST /cases visible in every aggregate within 5 s.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx  # noqa: E402
import mapbox_vector_tile  # noqa: E402
from cases_alerts import city_arguments, prepare  # noqa: E402  (the city and its database)
from common import ROOT, free_port, log  # noqa: E402

from urbangis.layers import database as db  # noqa: E402

BEIJING = dt.timezone(dt.timedelta(hours=8))
BINS = ("square", "hex", "cluster")
SQUARE_PX = {0: 64, 11: 32, 15: 16}


def percentiles(ms: list[float]) -> tuple[float, float, float]:
    if len(ms) < 2:
        return (ms[0], ms[0], ms[0]) if ms else (math.nan,) * 3
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return q[49], q[94], q[98]


def web_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def filters(conn, rnd: random.Random, n: int) -> list[tuple[dict, str, list]]:
    """n filters as the map sends them, with the same filter in SQL for the peer: none, a class, a
    time interval, a stage, a source, a district, a responsibility grid, and mixes of them."""
    majors = [r[0] for r in conn.execute("SELECT DISTINCT major_class FROM cases WHERE kind = 'event' ORDER BY 1")]
    districts = [r[0] for r in conn.execute("SELECT code FROM admin_areas WHERE level = 'district' ORDER BY 1")]
    grids = [r[0] for r in conn.execute("SELECT code FROM responsibility_grids ORDER BY random() LIMIT 50")]
    sources = [r[0] for r in conn.execute("SELECT DISTINCT source FROM cases WHERE source IS NOT NULL "
                                          "AND source <> 'bench' ORDER BY 1")]
    lo, hi = conn.execute("SELECT min(reported_at), max(reported_at) FROM cases").fetchone()
    out: list[tuple[dict, str, list]] = []
    for k in range(n):
        params: dict = {}
        parts, args = [], []
        kinds = [(k % 8)] if k % 8 < 7 else rnd.sample(range(7), 3)
        for kind in kinds:
            if kind == 1:
                m = rnd.choice(majors)
                params["kind"], params["major_class"] = "event", m
                parts.append("kind = 'event' AND major_class = %s")
                args.append(m)
            elif kind == 2:
                start = (lo + (hi - lo) * rnd.random()).astimezone(BEIJING).date()
                end = start + dt.timedelta(days=rnd.choice([7, 30, 91]))
                params["datetime"] = f"{start}/{end}"
                parts.append("reported_at >= %s AND reported_at < %s")
                args += [dt.datetime.combine(start, dt.time(), BEIJING),
                         dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), BEIJING)]
            elif kind == 3:
                params["status"] = "closed"
                parts.append("status = 'closed'")
            elif kind == 4:
                s = rnd.choice(sources)
                params["source"] = s
                parts.append("source = %s")
                args.append(s)
            elif kind == 5:
                d = rnd.choice(districts)
                params["area"] = d
                parts.append("district_code = %s")
                args.append(d)
            elif kind == 6:
                g = rnd.choice(grids)
                params["responsibility_grid"] = g
                parts.append("responsibility_grid = %s")
                args.append(g)
        out.append((params, " AND ".join(parts) or "true", args))
    return out


PEER_SQUARE = """
WITH t AS (SELECT ST_TileEnvelope(%s, %s, %s) AS env),
c AS (SELECT ST_Transform(geom, 3857) AS g FROM cases, t WHERE geom && ST_Transform(t.env, 4490) AND ({where})),
b AS (SELECT s.geom, count(*) AS n FROM t, ST_SquareGrid(%s, t.env) s JOIN c ON ST_Intersects(s.geom, c.g)
      GROUP BY s.geom)
SELECT ST_AsMVT(q, 'bins') FROM (SELECT ST_AsMVTGeom(b.geom, t.env) AS geom, b.n AS count FROM b, t) q
"""
PEER_HEX = PEER_SQUARE.replace("ST_SquareGrid", "ST_HexagonGrid")


def peer_tile(conn, bins: str, z: int, x: int, y: int, where: str, args: list) -> bytes:
    """The tile by one PostGIS statement: the filtered cases of the tile joined to a square (or
    hexagon) grid of the bins' size, counted, encoded by ST_AsMVT."""
    px = SQUARE_PX[max(k for k in SQUARE_PX if k <= z)] if bins == "square" else 20
    size = 2 * math.pi * 6378137 / 2 ** z / 256 * px  # metres of Web Mercator
    sql = (PEER_HEX if bins == "hex" else PEER_SQUARE).format(where=where)
    row = conn.execute(sql, [z, x, y, *args, size]).fetchone()
    return bytes(row[0]) if row and row[0] else b""


def start_server(info: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, URBANGIS_DATABASE_URL=info, URBANGIS_LOG_LEVEL="warning", URBANGIS_AUTH="off")
    cmd = [sys.executable, "-m", "uvicorn", "urbangis.api.app:create_app", "--factory", "--port", str(port),
           "--log-level", "warning", "--workers", str(workers)]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    ready = 0
    while ready < 3 * workers:  # answered by (most likely) every worker
        try:
            r = httpx.get(f"{base}/cases/filters", timeout=300)
            ready = ready + 1 if r.status_code == 200 else 0
        except httpx.HTTPError:
            ready = 0
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("the server did not start")
        if not ready:
            time.sleep(2)
    return server, base


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the workers), in MB."""
    total = 0
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                    text=True).stdout.split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def time_get(client: httpx.Client, path: str, params: dict) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    r = client.get(path, params=params)
    ms = (time.perf_counter() - t0) * 1e3
    if r.status_code != 200:
        raise SystemExit(f"{path} {params}: {r.status_code} {r.text[:300]}")
    return ms, r


def visibility(client: httpx.Client, conn, rnd: random.Random, rounds: int) -> list[float]:
    """Seconds from POST /cases answering 201 to the new case counted in every aggregate (square,
    hexagon and cluster tiles at z14, the district statistics), asked over and over."""
    places = conn.execute("SELECT kind, major_class, minor_class, ST_X(geom), ST_Y(geom) FROM cases "
                          "TABLESAMPLE SYSTEM_ROWS(200)").fetchall()
    out = []
    for _ in range(rounds):
        kind, major, minor, lon, lat = rnd.choice(places)
        x, y = web_tile(lon, lat, 14)

        def now() -> tuple:
            tiles = tuple(int(mapbox_vector_tile.decode(client.get(f"/cases/tiles/WebMercatorQuad/14/{y}/{x}",
                                                                   params={"bins": b}).content)
                              ["meta"]["features"][0]["properties"]["count"]) for b in BINS)
            return (*tiles, client.get("/cases/stats", params={"by": "district", "geometry": "false"}).json()["total"])

        before = now()
        r = client.post("/cases", json={"kind": kind, "major_class": major, "minor_class": minor, "lon": lon,
                                        "lat": lat, "source": "bench", "description": "bench visibility"})
        t0 = time.perf_counter()
        if r.status_code != 201:
            raise SystemExit(f"POST /cases: {r.status_code} {r.text[:300]}")
        while True:
            seen = now()
            if all(s == b + 1 for s, b in zip(seen, before)):
                # every worker: the next answers agree too
                if all(all(s == b + 1 for s, b in zip(now(), before)) for _ in range(4)):
                    break
            if time.perf_counter() - t0 > 60:
                raise SystemExit(f"a new case not visible within 60 s: {before} -> {seen}")
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    city_arguments(ap)
    ap.add_argument("--tiles", type=int, default=600, help="aggregate tiles asked of the server (z8-18)")
    ap.add_argument("--peer-tiles", type=int, default=30, help="of them, also asked of the PostGIS peer")
    ap.add_argument("--heat", type=int, default=200, help="heat tiles")
    ap.add_argument("--stats", type=int, default=60, help="statistics of all districts")
    ap.add_argument("--hotspots", type=int, default=10, help="Gi* runs")
    ap.add_argument("--visible", type=int, default=10, help="new cases watched appear")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--peer-timeout", type=float, default=60.0, help="seconds before a peer statement is cut off")
    ap.add_argument("--seed", type=int, default=20)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    info = prepare(args)
    rnd = random.Random(args.seed)
    with db.connect(info, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS tsm_system_rows")
        conn.execute("DELETE FROM cases WHERE source = 'bench'")
        n_cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
        places = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM cases TABLESAMPLE SYSTEM_ROWS(%s)",
                              (args.tiles * 2,)).fetchall()
        mix = filters(conn, rnd, 64)
    log(f"{n_cases:,} cases; starting the server ({args.workers} workers; each reads its indexes) ...")
    t0 = time.monotonic()
    server, base = start_server(info, args.workers)
    started = time.monotonic() - t0
    memory = rss_mb(server.pid)
    results: dict[str, dict] = {}
    try:
        with httpx.Client(base_url=base, timeout=300) as client, db.connect(info, autocommit=True) as conn:
            conn.execute(f"SET statement_timeout = {int(args.peer_timeout * 1000)}")
            # aggregate tiles: a seeded mix of places, zooms 8-18, kinds and filters
            per_zoom: dict[int, list[float]] = {}
            per_filter: dict[str, list[float]] = {}  # by the parameters a filter sets, and by bins
            ours_tiles, peer_ms, peer_ours, peer_timeouts = [], [], [], 0
            for k in range(args.tiles):
                lon, lat = places[k % len(places)]
                z = 8 + k % 11
                x, y = web_tile(lon, lat, z)
                bins = BINS[k % 3]
                params, where, fargs = mix[rnd.randrange(len(mix))]
                ms, _ = time_get(client, f"/cases/tiles/WebMercatorQuad/{z}/{y}/{x}", {**params, "bins": bins})
                ours_tiles.append(ms)
                per_zoom.setdefault(z, []).append(ms)
                per_filter.setdefault("+".join(sorted(params)) or "none", []).append(ms)
                per_filter.setdefault(f"bins={bins}", []).append(ms)
                if k < args.peer_tiles and bins != "cluster":
                    t1 = time.perf_counter()
                    try:
                        peer_tile(conn, bins, z, x, y, where, fargs)
                        peer_ms.append((time.perf_counter() - t1) * 1e3)
                    except Exception as exc:  # the statement timeout
                        if "statement timeout" not in str(exc):
                            raise
                        peer_ms.append(args.peer_timeout * 1e3)
                        peer_timeouts += 1
                    peer_ours.append(ms)
            results["aggregate tile"] = {"ours": ours_tiles, "peer": peer_ms, "peer_ours": peer_ours}
            # heat tiles
            heat = []
            for k in range(args.heat):
                lon, lat = places[(k * 7) % len(places)]
                z = 8 + k % 11
                x, y = web_tile(lon, lat, z)
                params, _, _ = mix[rnd.randrange(len(mix))]
                heat.append(time_get(client, f"/cases/heat/WebMercatorQuad/{z}/{y}/{x}.png",
                                     {**params, "ramp": "glow" if k % 2 else "heat"})[0])
            results["heat tile"] = {"ours": heat}
            # statistics of all districts, and the peer's GROUP BY
            stats, stats_peer = [], []
            for k in range(args.stats):
                params, where, fargs = mix[k % len(mix)]
                q = {**params, "by": "district", "geometry": "false"}
                if k % 2 and "datetime" in params:
                    q["compare"] = "previous"
                stats.append(time_get(client, "/cases/stats", q)[0])
                t1 = time.perf_counter()
                conn.execute(f"SELECT district_code, status, count(*) FROM cases WHERE {where} GROUP BY 1, 2",
                             fargs).fetchall()
                stats_peer.append((time.perf_counter() - t1) * 1e3)
            results["district statistics"] = {"ours": stats, "peer": stats_peer}
            # Gi* over all unit grids; the peer: GROUP BY, then esda's G_Local on the same weights
            hot, hot_peer = [], []
            weights = _esda_weights(conn)
            for k in range(args.hotspots):
                params, where, fargs = mix[(3 * k) % len(mix)]
                hot.append(time_get(client, "/cases/hotspots", {**params, "geometry": "false"})[0])
                hot_peer.append(_esda_hotspots(conn, weights, where, fargs))
            results["Gi* (all unit grids)"] = {"ours": hot, "peer": hot_peer}
            seen = visibility(client, conn, rnd, args.visible)
            after = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
        with db.connect(info, autocommit=True) as conn:
            conn.execute("DELETE FROM cases WHERE source = 'bench'")

    print(f"\ncase maps, scale {args.scale:g}: {n_cases:,} cases; {os.cpu_count()} cores; server with "
          f"{args.workers} worker(s), ready in {started:.0f} s, {memory:,.0f} MB resident ({after:,.0f} MB at the end)")
    print(f"{'request':<22} {'n':>5} {'ours p50':>9} {'p95':>8} {'p99':>8} | {'peer p50':>9} {'p95':>9} | "
          f"{'p95 ours/peer':>13}")
    summary = {"scale": args.scale, "cases": n_cases, "workers": args.workers, "memory_mb": memory}
    for name, r in results.items():
        o = percentiles(r["ours"])
        line = f"{name:<22} {len(r['ours']):>5} {o[0]:>9.1f} {o[1]:>8.1f} {o[2]:>8.1f} |"
        if r.get("peer"):
            p = percentiles(r["peer"])
            mine = percentiles(r.get("peer_ours") or r["ours"])
            line += f" {p[0]:>9.1f} {p[1]:>9.1f} | {mine[1] / p[1]:>13.4f}"
        print(line)
        summary[name] = {"ours_p95": o[1], **({"peer_p95": percentiles(r["peer"])[1]} if r.get("peer") else {})}
    print("(milliseconds over HTTP for ours; the peer's statements through psycopg, same tiles and filters; "
          f"{peer_timeouts} peer tile(s) cut off at {args.peer_timeout:g} s and counted as that)")
    by_zoom = ", ".join(f"z{z} {percentiles(v)[1]:.1f}" for z, v in sorted(per_zoom.items()))
    print(f"aggregate tile p95 by zoom: {by_zoom}")
    by_filter = ", ".join(f"{k} {percentiles(v)[1]:.1f} ({len(v)})" for k, v in sorted(per_filter.items()))
    print(f"aggregate tile p95 by filter and bins (tiles): {by_filter}")
    print(f"a new case visible in every aggregate (every worker) after: max {max(seen):.2f} s, "
          f"median {statistics.median(seen):.2f} s ({len(seen)} cases)")
    summary["visible_max_s"] = max(seen)
    summary["tile_p95_by_zoom"] = {z: percentiles(v)[1] for z, v in sorted(per_zoom.items())}
    print(json.dumps(summary))


def _esda_weights(conn):
    import geopandas as gpd
    from libpysal.weights import fuzzy_contiguity

    grids = gpd.read_postgis("SELECT code, geom FROM unit_grids ORDER BY code", conn, geom_col="geom")
    return list(grids["code"]), fuzzy_contiguity(grids, tolerance=0, buffering=False, predicate="intersects")


def _esda_hotspots(conn, weights, where: str, args: list) -> float:
    """Milliseconds of the peer's Gi*: the counts by SQL, z-scores by esda (weights prebuilt)."""
    import numpy as np
    from esda.getisord import G_Local

    codes, w = weights
    t0 = time.perf_counter()
    n = dict(conn.execute(f"SELECT grid_code, count(*) FROM cases WHERE {where} GROUP BY 1", args).fetchall())
    y = np.array([n.get(c, 0) for c in codes], dtype=float)
    G_Local(y, w, transform="B", star=True, permutations=0)
    return (time.perf_counter() - t0) * 1e3


if __name__ == "__main__":
    main()
