"""Bulk-load speed: `urbangis load` (validating, transactional, upsert) against `ogr2ogr -f
PostgreSQL` (plain COPY into a new table) on the same files, in the same run.

Inputs come from the sample-city generator (`urbangis samples generate --scale 20 --cases N`,
deterministic by seed): ~1,000,000 component points, the unit-grid polygons, 1,000,000 cases, and the
same cases again as a CSV with X/Y columns (written by ogr2ogr from the GeoPackage; ogr2ogr reads it
back with -oo X_POSSIBLE_NAMES=X -oo Y_POSSIBLE_NAMES=Y, every field as text).
Each figure is rows per second over the whole command (process start to exit), plus peak memory.
urbangis runs with --skip-invalid (every check still runs; rows that fail are reported and left
out, so a few bad generated rows do not abort the measurement); ogr2ogr checks nothing. ogr2ogr
runs as data staff would run it: it creates a bare table (serial fid key, no CHECKs), creates its
GiST index before the COPY and commits every 100,000 rows (its -gt default).

The "PG floor" column is PostgreSQL's own work to store the same rows in this project's table,
with no loader at all: a binary COPY of the loaded rows into an empty copy of the table (its CHECK
constraints, defaults and generated columns), then its primary key and indexes built once. Any
loader of this schema pays at least that much; the ratio it allows is the best reachable one.

A second table gives the core-seconds the machine was busy during each command (from /proc/stat:
the loader, its PostgreSQL backend and any parallel workers): a load that needs C core-seconds
cannot finish in less than C / cores seconds, however well reading, checking, COPY and index
builds overlap, so ogr2ogr's time over that bound is the best ratio this much work allows here.

The last table puts ogr2ogr where data staff would otherwise point it: appending the same files
into this project's own tables (parents loaded, the table emptied first), as

    ogr2ogr --config PG_USE_COPY YES -append -f PostgreSQL PG:... unit_grids.gpkg -nln unit_grids
    ogr2ogr --config PG_USE_COPY YES -append -f PostgreSQL PG:... components.gpkg -nln components \
            -dialect sqlite -sql "select *, '{}' as attrs from components"

(`attrs` supplied, or GDAL sends one INSERT per row for that defaulted column). It still falls
back to INSERT per row where a column is generated, which may take many minutes: each run stops
after --append-timeout seconds and is then reported as "more than" that.

    .venv/bin/python bench/ingest_speed.py                # scale 20, 1M cases
    .venv/bin/python bench/ingest_speed.py --scale 2      # a quick run

Targets (issue 6): urbangis >= 1x ogr2ogr rows/s on points and on unit grids while validating;
1,000,000 cases in under 60 s.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402

from urbangis.layers import database as db  # noqa: E402
from urbangis.layers.migrate import migrate  # noqa: E402
from urbangis.layers.settings import Settings  # noqa: E402


def _run(cmd: list[str], env: dict | None = None) -> None:
    """Run a preparation step to its end, failing loudly."""
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stderr.decode()[-3000:]}")


def _busy() -> float:
    """Core-seconds the whole machine has spent busy since boot (/proc/stat: user, nice, system,
    irq, softirq, steal), so the loader, its PostgreSQL backend and any parallel workers alike."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    return (sum(fields[:3]) + sum(fields[5:8])) / os.sysconf("SC_CLK_TCK")


def _run_measured(cmd: list[str], env: dict | None = None) -> tuple[float, int, float]:
    """(seconds, peak RSS MiB, machine core-seconds) of one child process, via wait4."""
    c0 = _busy()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    cpu = _busy() - c0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{err.decode()[-3000:]}")
    return seconds, usage.ru_maxrss // 1024, cpu


def _run_timed_out(cmd: list[str], timeout: float) -> tuple[float, bool]:
    """(seconds, finished) of one child process, stopped after ``timeout`` seconds."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        return time.perf_counter() - t0, False
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{err.decode()[-3000:]}")
    return time.perf_counter() - t0, True


def _count_rows(path: Path) -> int:
    import pyogrio

    return int(pyogrio.read_info(path, force_feature_count=True)["features"])


def _pg_string(info: str) -> str:
    d = conninfo_to_dict(info)
    return "PG:" + " ".join(f"{k}={v}" for k, v in d.items() if k in ("host", "port", "dbname", "user", "password"))


def _server_floor(info: str, table: str) -> float:
    """Seconds PostgreSQL takes to store ``table``'s rows again in an empty copy of it (binary
    COPY, then the primary key and the indexes built once), rolled back afterwards."""
    with db.connect(info) as conn:
        cols = [r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
            "AND attgenerated = '' ORDER BY attnum", (table,))]
        collist = ", ".join(cols)
        data = bytearray()
        with conn.cursor().copy(f"COPY (SELECT {collist} FROM {table}) TO STDOUT (FORMAT binary)") as copy:
            for chunk in copy:
                data += chunk
        indexes = [r[0] for r in conn.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass AND NOT indisprimary",
            (table,))]
        pk = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                          "AND contype = 'p'", (table,)).fetchone()
        conn.execute(f"CREATE TABLE _floor (LIKE {table} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS)")
        t0 = time.perf_counter()
        with conn.cursor().copy(f"COPY _floor ({collist}) FROM STDIN (FORMAT binary)") as copy:
            copy.write(data)
        if pk:
            conn.execute(f"ALTER TABLE _floor ADD {pk[0]}")
        for definition in indexes:
            conn.execute(re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+", r"CREATE \1INDEX ON _floor", definition))
        seconds = time.perf_counter() - t0
        conn.rollback()
    return seconds


def _head(line: str) -> None:
    """A table's column names, underlined."""
    print(line)
    print("-" * len(line))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--scale", type=float, default=20.0)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/urbangis-bench-ingest"))
    ap.add_argument("--keep", action="store_true", help="keep the two benchmark databases")
    ap.add_argument("--append-timeout", type=float, default=120.0,
                    help="seconds each ogr2ogr -append into the project's tables may take (0: skip that table)")
    args = ap.parse_args()

    city = args.work / f"city-s{args.scale:g}"
    if not (city / "cases.gpkg").exists():
        print(f"generating the sample city at scale {args.scale:g} with {args.cases:,} cases into {city} ...",
              flush=True)
        _run([sys.executable, "-m", "urbangis.api.cli", "samples", "generate", "--scale", str(args.scale),
              "--cases", str(args.cases), "--out", str(city)])

    base = db.conninfo(Settings.from_env().database)
    ours = make_conninfo(base, dbname="urbangis_bench_ingest")
    peer = make_conninfo(base, dbname="urbangis_bench_ogr2ogr")
    for info in (ours, peer):
        db.drop_database(info)
        db.create_database(info)
    with db.connect(ours, autocommit=True) as conn:
        migrate(conn)
    env = dict(os.environ, URBANGIS_DATABASE_URL=ours)
    ogr = shutil.which("ogr2ogr")
    if ogr is None:
        raise SystemExit("ogr2ogr is missing (apt-get install gdal-bin)")
    version = subprocess.run([ogr, "--version"], capture_output=True, text=True).stdout.strip()

    def load(layer: str, extra: list[str] = ()) -> tuple[float, int, float]:
        return _run_measured([sys.executable, "-m", "urbangis.api.cli", "load", str(city / f"{layer}.gpkg"),
                              "--skip-invalid", "--report", str(args.work / f"{layer}-report.json"), *extra], env)

    def ogr2ogr(layer: str) -> tuple[float, int, float]:
        return _run_measured([ogr, "-f", "PostgreSQL", _pg_string(peer), str(city / f"{layer}.gpkg"),
                              "-nln", f"ogr_{layer}", "-overwrite", "-lco", "GEOMETRY_NAME=geom"])

    # parents the measured layers reference (not measured)
    print("loading the parents (admin areas, responsibility grids, supervisors) ...", flush=True)
    load("admin_areas")
    results = []
    rejected: dict[str, int] = {}
    for layer, label in (("unit_grids", "unit-grid polygons"), ("components", "component points"),
                         ("cases", "cases (points)")):
        if layer == "cases":
            load("responsibility_grids")
            _run_measured([sys.executable, "-m", "urbangis.api.cli", "load", str(city / "supervisors.csv")], env)
        rows = _count_rows(city / f"{layer}.gpkg")
        print(f"{label}: {rows:,} rows; urbangis load ...", flush=True)
        t_ours, mem_ours, cpu_ours = load(layer)
        print(f"{label}: ogr2ogr ...", flush=True)
        t_peer, mem_peer, cpu_peer = ogr2ogr(layer)
        report = json.loads((args.work / f"{layer}-report.json").read_text(encoding="utf-8"))
        rejected[label] = report["rejected"]
        print(f"{label}: PostgreSQL floor ...", flush=True)
        floor = _server_floor(ours, layer)
        results.append((label, rows, t_ours, mem_ours, cpu_ours, t_peer, mem_peer, cpu_peer, floor))
    # the same cases as CSV with X/Y columns (what data staff most often have): both loaders again,
    # ours into the emptied table; PostgreSQL's floor is the GeoPackage row's (the same rows)
    cases_csv = city / "cases.csv"
    if not cases_csv.exists():
        _run([ogr, "-f", "CSV", str(cases_csv), str(city / "cases.gpkg"), "-lco", "GEOMETRY=AS_XY"])
    with db.connect(ours) as conn:
        conn.execute("TRUNCATE cases CASCADE")
        conn.commit()
    print("cases (CSV): urbangis load ...", flush=True)
    t_ours, mem_ours, cpu_ours = _run_measured(
        [sys.executable, "-m", "urbangis.api.cli", "load", str(cases_csv), "--layer", "cases",
         "--skip-invalid", "--report", str(args.work / "cases-csv-report.json")], env)
    print("cases (CSV): ogr2ogr ...", flush=True)
    t_peer, mem_peer, cpu_peer = _run_measured(
        [ogr, "-f", "PostgreSQL", _pg_string(peer), str(cases_csv), "-nln", "ogr_cases_csv",
         "-overwrite", "-lco", "GEOMETRY_NAME=geom", "-a_srs", "EPSG:4490",
         "-oo", "X_POSSIBLE_NAMES=X", "-oo", "Y_POSSIBLE_NAMES=Y"])
    report = json.loads((args.work / "cases-csv-report.json").read_text(encoding="utf-8"))
    rejected["cases (CSV)"] = report["rejected"]
    results.append(("cases (CSV)", results[-1][1], t_ours, mem_ours, cpu_ours, t_peer, mem_peer, cpu_peer,
                    results[-1][-1]))
    with db.connect(ours) as conn:
        n = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("unit_grids", "components", "cases")}

    # ogr2ogr appending into this project's tables, each emptied first (nothing references them by
    # foreign key; cases first, so the parents they name are still there)
    appended = []
    for layer, label in (("cases", "cases (points)"), ("components", "component points"),
                         ("unit_grids", "unit-grid polygons")):
        if args.append_timeout <= 0:
            break
        with db.connect(ours) as conn:
            conn.execute(f"TRUNCATE {layer}" + (" CASCADE" if layer == "cases" else ""))  # its case_events
            conn.commit()
        extra = ([] if layer == "unit_grids"
                 else ["-dialect", "sqlite", "-sql", f"select *, '{{}}' as attrs from {layer}"])
        print(f"{label}: ogr2ogr -append into the project's table ...", flush=True)
        seconds, finished = _run_timed_out(
            [ogr, "--config", "PG_USE_COPY", "YES", "-append", "-f", "PostgreSQL", _pg_string(ours),
             str(city / f"{layer}.gpkg"), "-nln", layer, *extra], args.append_timeout)
        with db.connect(ours) as conn:
            stored = conn.execute(f"SELECT count(*) FROM {layer}").fetchone()[0]
        appended.append((label, seconds, finished, stored))

    print()
    cores = os.cpu_count() or 1
    print(f"ingest speed, scale {args.scale:g}; peer: {version}; {cores} cores")
    head = f"{'input':<20} {'rows':>10} | {'urbangis s':>10} {'rows/s':>9} {'MiB':>5} | {'ogr2ogr s':>9} " \
           f"{'rows/s':>9} {'MiB':>5} | {'ratio':>5} | {'PG floor s':>10} {'best ratio':>10}"
    _head(head)
    for label, rows, t1, m1, _, t2, m2, _, floor in results:
        print(f"{label:<20} {rows:>10,} | {t1:>10.1f} {rows / t1:>9,.0f} {m1:>5} | {t2:>9.1f} {rows / t2:>9,.0f} "
              f"{m2:>5} | {t2 / t1:>5.2f}x | {floor:>10.1f} {t2 / floor:>9.2f}x")
    # The machine's CPU time over each command (loader, PostgreSQL backend, parallel workers): a
    # load that needs C core-seconds cannot end before C / cores seconds however well its work
    # overlaps, so ogr2ogr's seconds over that is the best ratio this much work allows here.
    print(f"\nCPU: core-seconds the machine was busy during each command ({cores} cores)")
    head = f"{'input':<20} | {'urbangis core-s':>15} {'ogr2ogr core-s':>14} | {'urbangis lower bound s':>22} " \
           f"{'ratio bound':>11}"
    _head(head)
    for label, _, _, _, c1, t2, _, c2, _ in results:
        print(f"{label:<20} | {c1:>15.1f} {c2:>14.1f} | {c1 / cores:>22.1f} {t2 / (c1 / cores):>10.2f}x")
    print(f"\nrows in the database after the loads: {n}; rejected by validation: {rejected}")
    if appended:
        print("\nogr2ogr -append into the project's own tables (no checks; commits every 100,000 rows)")
        head = f"{'input':<20} | {'ogr2ogr -append s':>17} {'rows stored':>11} | {'urbangis s':>10} | {'ratio':>7}"
        _head(head)
        for label, seconds, finished, stored in appended:
            ours_s = next(r[2] for r in results if r[0] == label)
            mark = "" if finished else ">"
            print(f"{label:<20} | {mark + f'{seconds:.1f}':>17} {stored:>11,} | {ours_s:>10.1f} | "
                  f"{(('>' if not finished else '') + f'{seconds / ours_s:.2f}x'):>7}")
    for cases in (r for r in results if r[0].startswith("cases")):
        print(f"{cases[0]}: {cases[1]:,} rows in {cases[2]:.1f} s (target: 1,000,000 in under 60 s)")
    if not args.keep:
        for info in (ours, peer):
            db.drop_database(info)


if __name__ == "__main__":
    main()
