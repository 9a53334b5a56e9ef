"""The cost of access control on the hottest doors: the same tile and item requests to a server
with access control off (unscoped) and to one with it on, each request signed (hmac-sha256,
RFC 9421) by an analyst key of 天山区 (650102) and answered under row-level security.

    .venv/bin/python bench/access_overhead.py               # the configured database (the sample city)
    .venv/bin/python bench/access_overhead.py --rounds 10 --clients 4

Both servers run at once (one uvicorn worker each, pinned to CPU 0); the client (pinned to CPU 1)
sends the rounds alternately, A then B, so both meet the same noise. Requests are signed before
the clock starts (the client's signing is not the server's cost). Tiles are warm (each requested
once before), so the cached path, the most sensitive to a fixed overhead, is what is timed;
items are bbox pages of 100 buildings inside the district. Target (issue 21): p95 within 1.1x.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import morecantile
from common import ROOT, free_port, http_load, log  # noqa: E402  (puts ROOT on sys.path)

from urbangis.access.client import signed_headers  # noqa: E402
from urbangis.access.keys import KeyStore  # noqa: E402
from urbangis.access.sealing import SecretBox  # noqa: E402
from urbangis.layers import database as db  # noqa: E402
from urbangis.layers.settings import Settings  # noqa: E402

SERVER_CPU, CLIENT_CPU = "0", 1
AREA = "650102"


def start(info: str, port: int, env_extra: dict) -> subprocess.Popen:
    env = dict(os.environ, URBANGIS_DATABASE_URL=info, URBANGIS_LOG_LEVEL="warning", **env_extra)
    return subprocess.Popen(["taskset", "-c", SERVER_CPU, sys.executable, "-m", "uvicorn",
                             "urbangis.api.app:create_app", "--factory", "--port", str(port), "--log-level", "warning"],
                            cwd=ROOT, env=env)


def wait(port: int, headers_for) -> None:
    """Until the server answers and its background work (the geocoder's and the case maps'
    indexes, built at start) is done: timing meanwhile would time that work."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            ok = True
            for path in ("/collections/roads/items?limit=1", "/cases/filters", "/geocode/status"):
                url = f"http://127.0.0.1:{port}{path}"
                r = httpx.get(url, headers=headers_for("GET", url), timeout=60)
                ok = ok and r.status_code == 200 and (path != "/geocode/status" or r.json().get("ready", True))
            if ok:
                time.sleep(2)
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server on {port} did not start")


def requests_of(info: str) -> tuple[list[str], list[str]]:
    """Tile paths (z14-16, the city tileset and roads) and bbox item pages inside the district."""
    with db.connect(info) as conn:
        x0, y0, x1, y1 = conn.execute("SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM (SELECT geom g "
                                      "FROM admin_areas WHERE code = %s) s", (AREA,)).fetchone()
        pts = conn.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(b.geom) p FROM buildings b, "
                           "admin_areas a WHERE a.code = %s AND ST_Within(b.geom, a.geom) ORDER BY random() "
                           "LIMIT 300) s", (AREA,)).fetchall()
    tms = morecantile.tms.get("WebMercatorQuad")
    tiles = []
    for i, (lon, lat) in enumerate(pts[:150]):
        z = 14 + i % 3
        t = tms.tile(lon, lat, z)
        prefix = "/tiles" if i % 2 else "/collections/roads/tiles"
        tiles.append(f"{prefix}/WebMercatorQuad/{z}/{t.y}/{t.x}")
    items = [f"/collections/buildings/items?limit=100&bbox={lon - 0.004:.6f},{lat - 0.003:.6f},{lon + 0.004:.6f},"
             f"{lat + 0.003:.6f}" for lon, lat in pts[150:]]
    return tiles, items


def p(ms: list[float], q: int) -> float:
    return statistics.quantiles(ms, n=100, method="inclusive")[q - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=8, help="alternating rounds per server")
    ap.add_argument("--clients", type=int, default=4, help="keep-alive connections")
    args = ap.parse_args()
    settings = Settings.from_env()
    info = db.conninfo(settings.database)
    keydir = Path(tempfile.mkdtemp(prefix="urbangis-bench-access-"))
    store = KeyStore(SecretBox(keydir / "access.key"))
    with db.connect(info, autocommit=True) as conn:
        key = store.create(conn, "bench", "analyst", AREA, "hmac-sha256")
    tiles, items = requests_of(info)
    ports = {"off": free_port(), "on": free_port()}
    servers = {"off": start(info, ports["off"], {"URBANGIS_AUTH": "off"}),
               "on": start(info, ports["on"], {"URBANGIS_AUTH": "on",
                                              "URBANGIS_AUTH_KEY_FILE": str(keydir / "access.key"),
                                              "URBANGIS_AUTH_RATE": "100000000"})}

    def headers(kind: str, port: int):
        def make(method: str, url: str) -> dict:
            return signed_headers(method, url, key.keyid, key.alg, key.secret or "") if kind == "on" else {}
        return make

    try:
        for kind, port in ports.items():
            wait(port, headers(kind, port))
        os.sched_setaffinity(0, {CLIENT_CPU})
        lat: dict[tuple[str, str], list[float]] = {}
        for kind, port in ports.items():  # warm: every tile once (cached), every page once
            for path in tiles + items:
                url = f"http://127.0.0.1:{port}{path}"
                httpx.get(url, headers=headers(kind, port)("GET", url), timeout=60)
        for r in range(args.rounds):
            for kind, port in ports.items():
                for door, paths in (("tiles", tiles), ("items", items)):
                    sign = headers(kind, port)
                    reqs = [("GET", path, None, sign("GET", f"http://127.0.0.1:{port}{path}")) for path in paths]
                    ms, _, statuses = asyncio.run(http_load(port, reqs, args.clients))
                    bad = {s: n for s, n in statuses.items() if s not in (200, 204)}
                    if bad:
                        raise SystemExit(f"{kind} {door}: answers {bad}")
                    lat.setdefault((kind, door), []).extend(x * 1000 for x in ms)
            log(f"round {r + 1}/{args.rounds}")
    finally:
        for s in servers.values():
            s.terminate()
            s.wait()
    print(f"\naccess control overhead, area {AREA} (analyst key, hmac-sha256), {args.clients} clients, "
          f"{args.rounds} alternating rounds; servers on CPU {SERVER_CPU}, client on CPU {CLIENT_CPU}")
    print(f"{'door':<8}{'requests':>9}{'p50 off':>10}{'p50 on':>9}{'p95 off':>10}{'p95 on':>9}{'p95 on/off':>12}")
    for door in ("tiles", "items"):
        off, on = lat[("off", door)], lat[("on", door)]
        print(f"{door:<8}{len(on):>9}{p(off, 50):>9.2f}ms{p(on, 50):>7.2f}ms{p(off, 95):>8.2f}ms{p(on, 95):>7.2f}ms"
              f"{p(on, 95) / p(off, 95):>11.2f}x")
    with db.connect(info, autocommit=True) as conn:
        store.revoke(conn, key.keyid)


if __name__ == "__main__":
    main()
