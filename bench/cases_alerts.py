"""Case operations at a city's scale: the cross-grid and similar-case checks in the server beside
one PostGIS statement each answering the same question, intake over HTTP with 16 clients, and the
similar-case alert against the generator's deliberate near-duplicates.

    .venv/bin/python bench/cases_alerts.py                 # the --scale 20 city, 10,000,000 cases
    .venv/bin/python bench/cases_alerts.py --scale 1       # the sample city's size, a quick run

The city is generated once into --work and loaded once into the database urbangis_bench_cases
(kept between runs; --reload loads it again). Times of the checks are measured in this process
(the server's code, its in-memory indexes built as the server builds them), the peer's through
psycopg on the same database, query by query, in a random order per report, over the same random
reports. Targets
(issue 19): cross-grid p95 <= 5 ms, similar p95 <= 10 ms, each at most half the peer's; intake
>= 500 cases/s; recall of the near-duplicates >= 0.95.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx  # noqa: E402
from common import ROOT, free_port, http_load, log, run, wait_idle  # noqa: E402  (puts ROOT on sys.path)
from psycopg.conninfo import make_conninfo  # noqa: E402

from urbangis.cases import peer  # noqa: E402
from urbangis.cases.grids import Supervisors, cross_grid  # noqa: E402
from urbangis.cases.index import build_case_index  # noqa: E402
from urbangis.cases.similarity import load_rules  # noqa: E402
from urbangis.geocoder.index import build_index  # noqa: E402
from urbangis.layers import database as db  # noqa: E402
from urbangis.layers.migrate import migrate  # noqa: E402
from urbangis.layers.settings import Settings  # noqa: E402

SERVER_CORE, CLIENT_CORE = 0, 1
DB_NAME = "urbangis_bench_cases"


def percentiles(ms: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return q[49], q[94], q[98]


def prepare(args) -> str:
    """The city generated and loaded (once); the bench database's conninfo."""
    city = args.work / f"city-s{args.scale:g}"
    if not (city / "cases.gpkg").exists():
        log(f"generating the sample city at scale {args.scale:g} into {city} (once) ...")
        run([sys.executable, "-m", "urbangis.api.cli", "samples", "generate", "--scale", str(args.scale),
             "--out", str(city)])
    info = make_conninfo(db.conninfo(Settings.from_env().database), dbname=f"{DB_NAME}_s{args.scale:g}")
    loaded = False
    try:
        with db.connect(info) as conn:
            loaded = conn.execute("SELECT count(*) > 0 FROM cases").fetchone()[0]
    except Exception:
        loaded = False
    if loaded:  # a database loaded by an earlier version: its schema brought up to date
        with db.connect(info, autocommit=True) as conn:
            migrate(conn)
    if args.reload or not loaded:
        db.drop_database(info)
        db.create_database(info)
        with db.connect(info, autocommit=True) as conn:
            migrate(conn)
        log(f"loading {city} into {db.database_name(info)} (once) ...")
        run([sys.executable, "-m", "urbangis.api.cli", "load", str(city), "--skip-invalid",
             "--report", str(args.work / "load-report.json")], env=dict(os.environ, URBANGIS_DATABASE_URL=info))
        with db.connect(info, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE cases")
    return info


def sample(conn, n: int, seed: int) -> list[tuple]:
    """Reports to check: known cases' class, place and time, moved a few metres and minutes."""
    rows = conn.execute("SELECT kind, major_class, minor_class, ST_X(geom), ST_Y(geom), reported_at, supervisor_id "
                        "FROM cases TABLESAMPLE SYSTEM_ROWS(%s)", (n * 3,)).fetchall()
    rnd = random.Random(seed)
    rnd.shuffle(rows)
    out = []
    for kind, major, minor, lon, lat, at, who in rows[:n]:
        out.append((kind, major, minor, lon + rnd.uniform(-0.0002, 0.0002), lat + rnd.uniform(-0.0002, 0.0002),
                    at + dt.timedelta(minutes=rnd.uniform(0, 120)), who))
    return out


def time_checks(conn, geo_ix, people, case_ix, rules, reports, tolerance: float) -> dict:
    """Each report checked by us and by the peer, in a random order per report and check (what runs
    just after a wait for PostgreSQL runs with cold caches: a fixed order would charge that to
    one side only); milliseconds of each."""
    times: dict[str, list[float]] = {"ours_x": [], "peer_x": [], "ours_s": [], "peer_s": []}
    supervisors = sorted(people.grids_of)
    rnd = random.Random(11)
    for kind, major, minor, lon, lat, at, who in reports:
        reporter = who if who in people.grids_of else rnd.choice(supervisors)

        def ours_x():
            x, y = geo_ix.plane.fwd(lon, lat)
            cross_grid(geo_ix, people, reporter, x, y, tolerance)

        def ours_s():
            case_ix.similar(kind, major, minor, lon, lat, at.timestamp(), rules)

        runs = [("ours_x", ours_x), ("peer_x", lambda: peer.cross_grid(conn, reporter, lon, lat)),
                ("ours_s", ours_s), ("peer_s", lambda: peer.similar(conn, kind, major, minor, lon, lat, at, rules))]
        rnd.shuffle(runs)
        for name, fn in runs:
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {"cross-grid": (times["ours_x"], times["peer_x"]), "similar cases": (times["ours_s"], times["peer_s"])}


def recall(conn, case_ix, rules, n: int) -> tuple[float, float, int, int, float, int]:
    """Of the generator's near-duplicates, the share whose original the alert lists (over all of
    them, and over those whose original is in a stage the rules count: the generator cancels 4-6 %
    of its cases, and by default a cancelled case raises no alert); of the other cases, the share
    with any alert at all (as the generator knows, a false one)."""
    dups = conn.execute("SELECT d.case_no, d.attrs->>'duplicate_of', d.kind, d.major_class, d.minor_class, "
                        "ST_X(d.geom), ST_Y(d.geom), d.reported_at, o.status FROM (SELECT * FROM cases "
                        "TABLESAMPLE SYSTEM_ROWS(%s) WHERE attrs ? 'duplicate_of' LIMIT %s) d "
                        "JOIN cases o ON o.case_no = d.attrs->>'duplicate_of'", (n * 40, n)).fetchall()
    hits = [(orig in [m.case_no for m in case_ix.similar(k, a, b, x, y, at.timestamp(), rules, exclude=no)],
             status in rules.counted) for no, orig, k, a, b, x, y, at, status in dups]
    found = sum(hit for hit, _ in hits)
    eligible = [hit for hit, counted in hits if counted]
    others = conn.execute("SELECT case_no, kind, major_class, minor_class, ST_X(geom), ST_Y(geom), reported_at "
                          "FROM cases TABLESAMPLE SYSTEM_ROWS(%s) WHERE NOT attrs ? 'duplicate_of' LIMIT %s",
                          (n * 2, n)).fetchall()
    alerted = sum(bool(case_ix.similar(k, a, b, x, y, at.timestamp(), rules, exclude=no))
                  for no, k, a, b, x, y, at in others)
    return (found / max(len(dups), 1), alerted / max(len(others), 1), len(dups), len(others),
            sum(eligible) / max(len(eligible), 1), len(eligible))


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) process ``pid`` has used, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float:
    """Seconds of CPU all PostgreSQL processes of this machine have used (those alive now)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.split(" ", 2)[1] in ("(postgres)", "(postmaster)"):
            total += process_cpu(int(pid))
    return total


def intake_rate(info: str, reports: list[tuple], seconds: float, clients: int) -> tuple[float, int, int, list]:
    """POST /cases for ``seconds`` from ``clients`` keep-alive connections (common.http_load)
    against a server of its own (pinned to one core, the clients to the other): cases stored per
    second, answers other than 201, latencies in ms."""
    port = free_port()
    # access control off, as the other benches but bench/access_overhead.py (which measures its cost)
    env = dict(os.environ, URBANGIS_DATABASE_URL=info, URBANGIS_LOG_LEVEL="warning", URBANGIS_POOL_MAX="20",
               URBANGIS_AUTH="off")
    server = subprocess.Popen(["taskset", "-c", str(SERVER_CORE), sys.executable, "-m", "uvicorn",
                               "urbangis.api.app:create_app", "--factory", "--port", str(port), "--log-level",
                               "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        status = None
        while True:  # ready when both indexes answer (a check needs them)
            try:
                kind, major, minor, lon, lat, _, _ = reports[0]
                r = httpx.get(f"{base}/cases/check", params={"kind": kind, "major_class": major, "minor_class": minor,
                                                            "lon": lon, "lat": lat}, timeout=120)
                status = r.status_code
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the server did not answer a check within 600 s (last status {status}, "
                                 f"exit code {server.poll()})")
            time.sleep(1)
        log(f"server warm after {wait_idle(server.pid):.0f} s more (its areas and their contiguity read)")
        os.sched_setaffinity(0, {CLIENT_CORE})
        rnd = random.Random(7)

        def bodies():
            while True:
                kind, major, minor, lon, lat, _, _ = reports[rnd.randrange(len(reports))]
                yield "POST", "/cases", json.dumps({
                    "kind": kind, "major_class": major, "minor_class": minor, "lon": lon, "lat": lat,
                    "source": "bench", "description": "bench intake"}).encode()

        cpu0, pg0 = process_cpu(server.pid), postgres_cpu()
        latencies, elapsed, statuses = asyncio.run(http_load(port, bodies(), clients, seconds))
        cpu, pg = process_cpu(server.pid) - cpu0, postgres_cpu() - pg0
        stored = statuses.get(201, 0)
        log(f"the server's CPU: {cpu / max(stored, 1) * 1e3:.2f} ms per case stored ({cpu / elapsed:.0%} of its core); "
            f"PostgreSQL's: {pg / max(stored, 1) * 1e3:.2f} ms ({pg / elapsed:.0%} of a core)")
        return stored / elapsed, stored, sum(statuses.values()) - stored, [s * 1e3 for s in latencies]

    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        server.terminate()
        server.wait(timeout=30)
        with db.connect(info, autocommit=True) as conn:
            conn.execute("DELETE FROM cases WHERE source = 'bench'")


def city_arguments(ap: argparse.ArgumentParser) -> None:
    """The options naming the bench city and its database (:func:`prepare`), shared with
    bench/case_maps.py, which measures on the same city."""
    ap.add_argument("--scale", type=float, default=20.0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/urbangis-bench-cases"))
    ap.add_argument("--reload", action="store_true", help="load the city into the bench database again")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    city_arguments(ap)
    ap.add_argument("--queries", type=int, default=2000, help="reports checked by both")
    ap.add_argument("--duplicates", type=int, default=5000, help="near-duplicates (and other cases) for the recall")
    ap.add_argument("--seconds", type=float, default=20.0, help="of intake over HTTP")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--intake-only", action="store_true", help="only the intake over HTTP (no index builds, "
                    "checks or recall): to compare two versions of the code in turn")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    info = prepare(args)
    if args.intake_only:
        with db.connect(info, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS tsm_system_rows")
            reports = sample(conn, args.queries, 5)
        rate, stored, other, lat = intake_rate(info, reports, args.seconds, args.clients)
        q = percentiles(lat) if len(lat) > 2 else (0, 0, 0)
        print(f"intake over HTTP, {args.clients} clients, {args.seconds:g} s: {rate:.0f} cases/s stored "
              f"({stored:,} answered 201, {other} otherwise); latency p50 {q[0]:.1f} ms, p95 {q[1]:.1f} ms")
        return
    rules, tolerance = load_rules(), Settings.from_env().cases.boundary_m
    with db.connect(info, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS tsm_system_rows")
        n_cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
        log(f"{n_cases:,} cases; building the geocoder's index and the case index as the server does ...")
        t0 = time.perf_counter()
        geo_ix = build_index(conn)
        t1 = time.perf_counter()
        case_ix = build_case_index(conn)
        people = Supervisors.read(conn)
        log(f"geocoder index {t1 - t0:.1f} s, case index {case_ix.build_seconds:.1f} s ({len(case_ix):,} cases)")
        reports = sample(conn, args.queries, 5)
        time_checks(conn, geo_ix, people, case_ix, rules, reports[:100], tolerance)  # warm both
        timings = time_checks(conn, geo_ix, people, case_ix, rules, reports, tolerance)
        found, false_share, n_dups, n_others, found_counted, n_counted = recall(conn, case_ix, rules, args.duplicates)
    rate, stored, other, lat = intake_rate(info, reports, args.seconds, args.clients)

    print(f"\ncase alerts, scale {args.scale:g}: {n_cases:,} cases; {os.cpu_count()} cores; "
          f"{len(reports)} reports, each checked by both, in a random order")
    print(f"{'check':<14} {'ours p50':>9} {'p95':>7} {'p99':>7} | {'peer p50':>9} {'p95':>7} {'p99':>7} | "
          f"{'p95 ours/peer':>13}")
    for name, (ours, theirs) in timings.items():
        o, p = percentiles(ours), percentiles(theirs)
        print(f"{name:<14} {o[0]:>9.3f} {o[1]:>7.3f} {o[2]:>7.3f} | {p[0]:>9.3f} {p[1]:>7.3f} {p[2]:>7.3f} | "
              f"{o[1] / p[1]:>13.2f}")
    print("(milliseconds; peer: one PostGIS statement each, cases/peer.py)")
    q = percentiles(lat) if len(lat) > 2 else (0, 0, 0)
    print(f"\nintake over HTTP, {args.clients} clients, {args.seconds:g} s: {rate:.0f} cases/s stored "
          f"({stored:,} answered 201, {other} otherwise); latency p50 {q[0]:.1f} ms, p95 {q[1]:.1f} ms, "
          f"p99 {q[2]:.1f} ms")
    print(f"similar-case alert: recall of the near-duplicates {found:.3f} ({n_dups:,} checked); of those whose "
          f"original is in a stage the rules count ({', '.join(sorted(rules.counted))}) {found_counted:.4f} "
          f"({n_counted:,}); "
          f"share of other reports with an alert {false_share:.3f} ({n_others:,})")
    summary = {"scale": args.scale, "cases": n_cases, "intake_per_s": rate, "recall": found,
               "recall_counted": found_counted,
               "other_alerted": false_share, **{name: {"ours_p95": percentiles(o)[1], "peer_p95": percentiles(p)[1]}
                                               for name, (o, p) in timings.items()}}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
