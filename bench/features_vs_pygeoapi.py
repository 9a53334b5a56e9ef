"""GeoJSON features per second, OGC API - Features: urbangis against pygeoapi's PostgreSQL provider
serving the same table, side by side in one run.

Data: the `cases` table of its own database (`urbangis_bench_features` on the project's cluster),
filled once with --cases synthetic points (default 300,000) spread over Urumqi, seeded by
generate_series so every run reads the same rows.

Work: page through /collections/cases/items with limit=1000 by following `next` links, the way
GDAL and QGIS read a collection, for --pages pages (default 100, i.e. 100,000 features); then the
same with a bbox and a CQL2 filter. Each figure is the median of --repeat passes after one warm-up
page. Requests send Accept-Encoding: identity (the servers' JSON work is measured, not gzip).

    .venv/bin/python bench/features_vs_pygeoapi.py              # 300k cases, 100 pages, 3 passes
    .venv/bin/python bench/features_vs_pygeoapi.py --pages 20   # a quick run

pygeoapi (PyPI) is installed in its own venv, .urbangis/bench-venv/pygeoapi, never in the
project's .venv. Both servers are one uvicorn worker pinned to CPU 1 (taskset) and reach
PostgreSQL over TCP on loopback; this load generator runs pinned to CPU 0; PostgreSQL is not
pinned. pygeoapi serves the same properties (`properties:`) from `cases_wgs84`, a copy of the same
rows with the geometry in SRID 4326 (own primary key and GiST index): pygeoapi 0.21 cannot serve
the 4490 table correctly. Told `storage_crs: EPSG:4490` it returns CRS84 features latitude first
(axis-order bug); left at its default CRS84 its bbox filter fails (it builds a 4326 envelope
against a 4490 column). The copy is its best case: no reprojection at all, as urbangis serves 4490
coordinates unchanged as CRS84 (PROJ's CGCS2000 -> WGS 84 is a null transformation). A
first-page check confirms both return the same ids, coordinates (to 1e-6 degree) and properties.

Target (issue 5): urbangis >= 3x pygeoapi features/s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx  # noqa: E402
import yaml  # noqa: E402
from common import ROOT, free_port, log, run, tcp_conninfo  # noqa: E402  (puts ROOT on sys.path)
from psycopg.conninfo import conninfo_to_dict  # noqa: E402

from urbangis.layers import database as db  # noqa: E402
from urbangis.layers.migrate import migrate  # noqa: E402
from urbangis.layers.registry import registry  # noqa: E402
from urbangis.layers.settings import Settings  # noqa: E402

WORK = ROOT / ".urbangis" / "bench" / "features"
VENV = ROOT / ".urbangis" / "bench-venv" / "pygeoapi"
SERVER_CPU, CLIENT_CPU = "1", 0
DB_NAME = "urbangis_bench_features"
BBOX = "87.45,43.70,87.75,43.95"
FILTER = "status IN ('reported', 'registered', 'dispatched') AND kind = 'event'"

# Seeded synthetic cases: a 1000 x N lattice jittered by a hash of i, one every 3 minutes.
CASES_SQL = """
INSERT INTO cases (case_no, kind, major_class, minor_class, status, source, description, address,
                   supervisor_id, grid_code, district_code, reported_at, closed_at, geom)
SELECT format('B%%s', lpad(i::text, 8, '0')),
       CASE WHEN i %% 3 = 0 THEN 'component' ELSE 'event' END,
       lpad((1 + i %% 6)::text, 2, '0'), lpad((i %% 10)::text, 2, '0'),
       (ARRAY['reported','registered','dispatched','handling','handled','verified','closed','cancelled'])[1 + i %% 8],
       (ARRAY['supervisor','hotline','app','patrol'])[1 + i %% 4],
       format('问题描述 %%s：井盖破损，影响通行', i),
       format('乌鲁木齐市天山区 解放南路 %%s 号', i %% 500),
       format('S%%s', i %% 300),
       NULL,
       (ARRAY['650102','650103','650104','650105','650106','650107','650109','650121'])[1 + i %% 8],
       timestamptz '2023-01-01 00:00:00+08' + make_interval(mins => 3 * i),
       CASE WHEN i %% 8 = 6 THEN timestamptz '2023-01-01 00:00:00+08' + make_interval(mins => 3 * i + 600) END,
       ST_SetSRID(ST_MakePoint(87.30 + 0.0006 * (i %% 1000) + 0.0004 * ((hashint4(i) & 1023) / 1023.0),
                               43.60 + 0.0006 * ((i / 1000) %% 700)
                                     + 0.0004 * (((hashint4(i) >> 10) & 1023) / 1023.0)), 4490)
FROM generate_series(%(start)s, %(stop)s - 1) AS i
"""




# -- data ---------------------------------------------------------------------------------------
def prepare_database(cases: int) -> str:
    info = db.conninfo(Settings.from_env().database, dbname=DB_NAME)
    db.create_database(info)
    with db.connect(info, autocommit=True) as conn:
        migrate(conn)
        have = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
        if have != cases:
            log(f"loading {cases:,} synthetic cases into {DB_NAME} ...")
            conn.execute("TRUNCATE cases CASCADE")
            step = 100_000
            for start in range(0, cases, step):
                conn.execute(CASES_SQL, {"start": start, "stop": min(start + step, cases)})
            conn.execute("VACUUM ANALYZE cases")
        copy = conn.execute("SELECT to_regclass('cases_wgs84') IS NOT NULL").fetchone()[0]
        if not copy or conn.execute("SELECT count(*) FROM cases_wgs84").fetchone()[0] != cases:
            log("copying cases to cases_wgs84 (SRID 4326) for pygeoapi ...")
            conn.execute("DROP TABLE IF EXISTS cases_wgs84")
            conn.execute("CREATE TABLE cases_wgs84 AS "
                         "SELECT c.*, ST_SetSRID(c.geom, 4326)::geometry(Point, 4326) AS geom84 "
                         "FROM cases c ORDER BY case_no")
            conn.execute("ALTER TABLE cases_wgs84 DROP COLUMN geom")
            conn.execute("ALTER TABLE cases_wgs84 RENAME COLUMN geom84 TO geom")
            conn.execute("ALTER TABLE cases_wgs84 ADD PRIMARY KEY (case_no)")
            conn.execute("CREATE INDEX ON cases_wgs84 USING gist (geom)")
            conn.execute("VACUUM ANALYZE cases_wgs84")
    return tcp_conninfo(info)


# -- servers ------------------------------------------------------------------------------------
def wait_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()[-3000:] if proc.stderr else ''}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def start_urbangis(info: str, port: int) -> subprocess.Popen:
    code = ("import sys, uvicorn; from api.app import create_app; "
            "uvicorn.run(create_app(sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), "
            "log_level='warning', access_log=False)")
    return subprocess.Popen(["taskset", "-c", SERVER_CPU, sys.executable, "-c", code, info, str(port)],
                            cwd=ROOT, stderr=subprocess.PIPE)


def ensure_pygeoapi() -> Path:
    """pygeoapi and its PostgreSQL provider's dependencies in their own venv, installed once."""
    py = VENV / "bin" / "python"
    if not py.exists():
        log("creating .urbangis/bench-venv/pygeoapi ...")
        VENV.parent.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "venv", str(VENV)])
    probe = "import pygeoapi, sqlalchemy, geoalchemy2, psycopg2, starlette, uvicorn, pygeofilter"
    if subprocess.run([str(py), "-c", probe], capture_output=True).returncode != 0:
        log("installing pygeoapi into .urbangis/bench-venv/pygeoapi ...")
        run([str(py), "-m", "pip", "install", "-q", "pygeoapi", "psycopg2-binary", "sqlalchemy", "geoalchemy2",
             "starlette", "uvicorn", "pygeofilter"])
    return py


def pygeoapi_version(py: Path) -> str:
    return subprocess.run([str(py), "-c", "import pygeoapi; print(pygeoapi.__version__)"],
                          capture_output=True, text=True).stdout.strip()


def start_pygeoapi(py: Path, info: str, port: int) -> subprocess.Popen:
    d = conninfo_to_dict(info)
    spec = registry()["cases"]
    url = f"http://127.0.0.1:{port}"
    config = {
        "server": {"bind": {"host": "127.0.0.1", "port": port}, "url": url,
                   "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8", "language": "en-US",
                   "pretty_print": False, "limits": {"default_items": 10, "max_items": 10000},
                   "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "OSM"}},
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {"title": "bench", "description": "bench", "keywords": ["bench"],
                               "keywords_type": "theme", "terms_of_service": "none", "url": url},
            "license": {"name": "none", "url": url},
            "provider": {"name": "bench", "url": url},
            "contact": {"name": "bench", "position": "bench", "address": "-", "city": "-",
                        "stateorprovince": "-", "postalcode": "-", "country": "-", "phone": "-", "fax": "-",
                        "email": "bench@example.invalid", "url": url, "hours": "-", "instructions": "-",
                        "role": "pointOfContact"}},
        "resources": {"cases": {
            "type": "collection", "title": "cases", "description": "cases", "keywords": ["cases"],
            "extents": {"spatial": {"bbox": [73, 34, 97, 50],
                                    "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
            "providers": [{"type": "feature", "name": "PostgreSQL",
                           "data": {"host": d["host"], "port": int(d["port"]), "dbname": d["dbname"],
                                    "user": d["user"], "password": "", "search_path": ["public"]},
                           # the same rows in SRID 4326: see the module docstring
                           "id_field": spec.id_field, "table": "cases_wgs84", "geom_field": spec.geometry_column,
                           "properties": [f for f in spec.fields if f != spec.id_field]}]}},
    }
    WORK.mkdir(parents=True, exist_ok=True)
    cfg, oas = WORK / "pygeoapi-config.yml", WORK / "pygeoapi-openapi.yml"
    cfg.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(oas)}
    run([str(VENV / "bin" / "pygeoapi"), "openapi", "generate", str(cfg), "--output-file", str(oas)], env=env)
    return subprocess.Popen(["taskset", "-c", SERVER_CPU, str(VENV / "bin" / "uvicorn"), "pygeoapi.starlette_app:APP",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                             "--no-access-log", "--workers", "1"], cwd=WORK, env=env, stderr=subprocess.PIPE)


# -- load generator -----------------------------------------------------------------------------
def page_through(client: httpx.Client, first: str, pages: int) -> tuple[int, int, float, int | None]:
    """Follow next links for ``pages`` pages; (features, bytes, seconds, numberMatched of page 1)."""
    url, features, size, matched = first, 0, 0, None
    t0 = time.perf_counter()
    for i in range(pages):
        r = client.get(url)
        if r.status_code != 200:
            raise SystemExit(f"{url}: {r.status_code} {r.text[:300]}")
        size += len(r.content)
        body = r.json()
        features += len(body["features"])
        if i == 0:
            matched = body.get("numberMatched")
        nxt = [link["href"] for link in body.get("links", []) if link.get("rel") == "next"
               and link.get("type", "application/geo+json") in ("application/geo+json", "application/json")]
        if not nxt:
            break
        url = nxt[0]
    return features, size, time.perf_counter() - t0, matched


def first_page_check(client: httpx.Client, ours: str, theirs: str) -> None:
    """Both servers return the same features (ids, coordinates, properties) on the first page."""
    a = client.get(f"{ours}/collections/cases/items?limit=20").json()["features"]
    b = client.get(f"{theirs}/collections/cases/items?limit=20").json()["features"]
    def key(f: dict) -> str:
        return str(f["id"])

    a, b = sorted(a, key=key), sorted(b, key=key)
    if [key(f) for f in a] != [key(f) for f in b]:
        raise SystemExit(f"the servers disagree on the first page: "
                         f"{[key(f) for f in a][:5]} vs {[key(f) for f in b][:5]}")
    for fa, fb in zip(a, b):
        ca, cb = fa["geometry"]["coordinates"], fb["geometry"]["coordinates"]
        if abs(ca[0] - cb[0]) > 1e-6 or abs(ca[1] - cb[1]) > 1e-6:
            raise SystemExit(f"coordinates differ for {key(fa)}: {ca} vs {cb}")
        if fa["properties"]["status"] != fb["properties"]["status"]:
            raise SystemExit(f"properties differ for {key(fa)}")


def measure(client: httpx.Client, base: str, params: dict, pages: int, repeat: int) -> dict:
    first = str(httpx.URL(f"{base}/collections/cases/items", params=params))
    page_through(client, first, 1)  # warm-up
    runs = [page_through(client, first, pages) for _ in range(repeat)]
    secs = statistics.median(r[2] for r in runs)
    feats, size, _, matched = runs[0]
    return {"features": feats, "mb": size / 1e6, "seconds": secs, "fps": feats / secs, "matched": matched}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=300_000, help="rows in the bench cases table")
    ap.add_argument("--pages", type=int, default=100, help="pages of --limit features per pass")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="timed passes (median is reported)")
    args = ap.parse_args()

    info = prepare_database(args.cases)
    py = ensure_pygeoapi()
    os.sched_setaffinity(0, {CLIENT_CPU})
    ours_port, theirs_port = free_port(), free_port()
    ours = start_urbangis(info, ours_port)
    theirs = start_pygeoapi(py, info, theirs_port)
    try:
        ours_url, theirs_url = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{theirs_port}"
        wait_up(f"{ours_url}/collections", ours)
        wait_up(f"{theirs_url}/collections", theirs)
        with httpx.Client(timeout=300, headers={"Accept-Encoding": "identity",
                                                "Accept": "application/geo+json"}) as client:
            first_page_check(client, ours_url, theirs_url)
            scenarios = [
                ("all cases", {"limit": args.limit}),
                ("bbox + CQL2 filter", {"limit": args.limit, "bbox": BBOX, "filter": FILTER}),
            ]
            rows = []
            for name, params in scenarios:
                a = measure(client, ours_url, params, args.pages, args.repeat)
                b = measure(client, theirs_url, params, args.pages, args.repeat)
                rows.append((name, a, b))
                log(f"{name}: urbangis {a['fps']:,.0f}/s, pygeoapi {b['fps']:,.0f}/s")
    finally:
        for p in (ours, theirs):
            p.terminate()
            p.wait(timeout=20)

    print(f"\nOGC API - Features, GeoJSON items per second (limit={args.limit}, following next links, "
          f"{args.pages} pages a pass, median of {args.repeat})")
    print(f"table: cases, {args.cases:,} rows; servers: 1 uvicorn worker on CPU {SERVER_CPU}; "
          f"client on CPU {CLIENT_CPU}")
    print(f"pygeoapi {pygeoapi_version(py)} (PostgreSQL provider) vs urbangis\n")
    print(f"{'scenario':<20} {'server':<9} {'features':>9} {'MB':>7} {'seconds':>8} {'features/s':>11} "
          f"{'numberMatched':>14}")
    for name, a, b in rows:
        for server, r in (("urbangis", a), ("pygeoapi", b)):
            print(f"{name:<20} {server:<9} {r['features']:>9,} {r['mb']:>7.1f} {r['seconds']:>8.2f} "
                  f"{r['fps']:>11,.0f} {str(r['matched']):>14}")
        print(f"{'':<20} ratio urbangis / pygeoapi: {a['fps'] / b['fps']:.1f}x (target >= 3x)")


if __name__ == "__main__":
    main()
