"""Readers during a big load: how long queries on a layer wait while `urbangis load --replace`
replaces it, with the load built in a new table swapped in at the end (ingest/swap.py) against
the same load in place (the table taken exclusively for the whole load, as before; forced here by
a view on the table, which the swap could not put back).

Three sessions query the layer as the server does (a bounding-box count and a lookup by key,
prepared statements, autocommit) every 50 ms from just before the load starts to after it ends;
the script prints, per way of loading, the load's wall time, how many queries ran, how many
failed, and their median, 99th percentile and slowest times.

    .venv/bin/python bench/ingest_readers.py              # 1M components of the scale-20 city
    .venv/bin/python bench/ingest_readers.py --layer cases

Inputs come from bench/ingest_speed.py's work folder (generated there if missing).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402

from urbangis.layers import database as db  # noqa: E402
from urbangis.layers.migrate import migrate  # noqa: E402
from urbangis.layers.settings import Settings  # noqa: E402

QUERIES = {
    "components": ("SELECT count(*) FROM components WHERE geom && ST_MakeEnvelope(87.60, 43.78, 87.62, 43.80, 4490)",
                   "SELECT name FROM components WHERE code = (SELECT min(code) FROM components)"),
    "cases": ("SELECT count(*) FROM cases WHERE geom && ST_MakeEnvelope(87.60, 43.78, 87.62, 43.80, 4490)",
              "SELECT status FROM cases WHERE case_no = (SELECT min(case_no) FROM cases)"),
}


def _readers(info: str, layer: str, stop: threading.Event, out: list, errors: list, n: int = 3) -> list:
    def run():
        with psycopg.connect(info, autocommit=True) as conn:
            while not stop.is_set():
                for q in QUERIES[layer]:
                    t0 = time.perf_counter()
                    try:
                        conn.execute(q, prepare=True).fetchall()
                    except psycopg.Error as exc:
                        errors.append(str(exc).splitlines()[0])
                    out.append(time.perf_counter() - t0)
                time.sleep(0.05)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--layer", choices=sorted(QUERIES), default="components")
    ap.add_argument("--work", type=Path, default=Path("/tmp/urbangis-bench-ingest/city-s20"))
    args = ap.parse_args()
    if not (args.work / "cases.gpkg").exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "ingest_speed.py"), "--append-timeout", "0"], check=True)

    info = make_conninfo(db.conninfo(Settings.from_env().database), dbname="urbangis_bench_readers")
    db.drop_database(info)
    db.create_database(info)
    with db.connect(info, autocommit=True) as conn:
        migrate(conn)
    env = dict(os.environ, URBANGIS_DATABASE_URL=info)

    def load(name: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "urbangis.api.cli", "load", str(args.work / name), "--skip-invalid",
                        "--report", os.devnull], cwd=ROOT, env=env, check=True, capture_output=True)
        return time.perf_counter() - t0

    print("loading the parents and a first copy of the layer ...", flush=True)
    for name in ("admin_areas.gpkg", "unit_grids.gpkg", "responsibility_grids.gpkg", "supervisors.csv",
                 *(["components.gpkg"] if args.layer == "cases" else []), f"{args.layer}.gpkg"):
        load(name)

    results = []
    for way in ("built aside, swapped in", "in place (exclusive lock)"):
        with db.connect(info, autocommit=True) as conn:
            if way.startswith("in place"):
                conn.execute(f"CREATE VIEW bench_readers_view AS SELECT * FROM {args.layer}")
        stop, times, errors = threading.Event(), [], []
        threads = _readers(info, args.layer, stop, times, errors)
        time.sleep(1.0)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "urbangis.api.cli", "load", str(args.work / f"{args.layer}.gpkg"),
                        "--replace", "--skip-invalid", "--report", os.devnull],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        seconds = time.perf_counter() - t0
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()
        with db.connect(info, autocommit=True) as conn:
            conn.execute("DROP VIEW IF EXISTS bench_readers_view")
        times.sort()
        results.append((way, seconds, len(times), len(errors), statistics.median(times),
                        times[int(0.99 * (len(times) - 1))], times[-1], sorted(set(errors))[:3]))

    print(f"\nreaders of {args.layer} during `urbangis load {args.layer}.gpkg --replace` (3 sessions, a query "
          f"every 50 ms each; {os.cpu_count()} cores)")
    head = (f"{'load':<27} | {'load s':>6} | {'queries':>7} {'errors':>6} | "
            f"{'median s':>8} {'p99 s':>6} {'slowest s':>9}")
    print(head)
    print("-" * len(head))
    for way, seconds, n, nerr, med, p99, worst, errs in results:
        print(f"{way:<27} | {seconds:>6.1f} | {n:>7} {nerr:>6} | {med:>8.3f} {p99:>6.2f} {worst:>9.2f}")
        for e in errs:
            print(f"    error: {e}")
    db.drop_database(info)


if __name__ == "__main__":
    main()
