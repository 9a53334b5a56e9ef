"""A proxy on one machine for the Citus plan of docs/scale-out.md: cases partitioned by prefecture
(the plan's distribution column), each prefecture's cases by month, queries routed by prefecture;
how each question's latency grows from one prefecture's cases to fourteen's.

    .venv/bin/python bench/citus_proxy.py                       # 14 x 300,000 cases
    .venv/bin/python bench/citus_proxy.py --per-city 700000     # ~10 million, slower to make

Citus places a distributed table's shards on worker nodes by the distribution column; a query
with an equality on that column goes to one shard on one node, any other to every shard, merged by
the coordinator. Here each prefecture is a LIST partition (the shard) of one table on this one
PostgreSQL, sub-partitioned by month as the server partitions `cases` (migration 0015), and a
routed query reads the prefecture's partition by its name (`pcases_6501`), as Citus's router
planner sends it to that shard on its worker; the others read the partitioned table. What the
proxy cannot show: the network hop to a worker and the coordinator's planning of each query, nor
the parallel execution of fan-out queries on several machines (here they share 2 cores), nor each
node's own memory (here one cache holds all fourteen prefectures' pages).

Phase one: only the first prefecture (Urumqi) has cases; every question is asked N times. Phase
fourteen: the other 13 get as many; the same questions are asked again (same sample points,
numbers and months, in a new random order). Printed per question: p50 / p95 / p99 of both phases
and the ratio of p95s. Each prefecture's cases are spread over two years around its seat (real
seats of `../shared/data/real/xinjiang_prefectures_cgcs2000.geojson`), classes and stages by
fixed shares; generation is seeded. The database urbangis_bench_citus_proxy is made anew each run
and dropped at the end (--keep keeps it).
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time

from common import log  # noqa: E402  (puts ROOT on sys.path)
from psycopg.conninfo import make_conninfo  # noqa: E402

from urbangis.layers import database as db  # noqa: E402
from urbangis.layers.settings import Settings  # noqa: E402

DB_NAME = "urbangis_bench_citus_proxy"
# Xinjiang's 14 prefecture-level divisions: admin code prefix and seat (lon, lat) as the real
# prefectures file gives them (its 12 XPCC cities are left out: they are served by their own)
PREFECTURES = [("6501", 87.6, 43.7), ("6502", 85.1, 45.5), ("6504", 89.8, 42.4), ("6505", 93.2, 43.5),
               ("6523", 89.6, 44.4), ("6527", 82.6, 44.5), ("6528", 88.1, 39.6), ("6529", 81.6, 41.3),
               ("6530", 74.6, 39.5), ("6531", 77.2, 37.8), ("6532", 80.7, 37.0), ("6540", 82.3, 43.5),
               ("6542", 84.2, 46.0), ("6543", 88.8, 46.5)]
START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
MONTHS = 24
STAGES = ["reported", "registered", "dispatched", "handling", "handled", "verified", "closed", "cancelled"]

SCHEMA = """
CREATE TABLE pcases (
    city        text        NOT NULL,
    case_no     text        NOT NULL,
    kind        text        NOT NULL,
    major_class text        NOT NULL,
    minor_class text        NOT NULL,
    status      text        NOT NULL,
    reported_at timestamptz NOT NULL,
    geom        geometry(Point, 4490) NOT NULL
) PARTITION BY LIST (city);
"""

GENERATE = """
INSERT INTO pcases (city, case_no, kind, major_class, minor_class, status, reported_at, geom)
SELECT %(city)s, %(city)s || lpad(g::text, 10, '0'), CASE WHEN g %% 5 = 0 THEN 'component' ELSE 'event' END,
       lpad((1 + g %% 6)::text, 2, '0'), lpad((1 + (g / 7) %% 12)::text, 2, '0'),
       (%(stages)s::text[])[1 + (g / 3) %% 8],
       %(start)s::timestamptz + random() * (%(end)s::timestamptz - %(start)s::timestamptz),
       ST_SetSRID(ST_MakePoint(%(lon)s + (random() + random() - 1) * 0.15,
                               %(lat)s + (random() + random() - 1) * 0.1), 4490)
FROM generate_series(1, %(n)s) g
"""

QUESTIONS = {
    # routed: one prefecture named (one shard, one node under Citus)
    "similar cases (72 h, 50 m)": (True, """
        SELECT case_no FROM {t}
        WHERE city = %(city)s AND kind = 'event' AND major_class = %(major)s
          AND status = ANY('{{reported,registered,dispatched,handling}}')
          AND reported_at BETWEEN %(at)s::timestamptz - interval '72 hours' AND %(at)s::timestamptz
          AND ST_DWithin(geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490), 0.0007)
          AND ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490)::geography, 50)"""),
    "a case by number and prefecture": (True, "SELECT * FROM {t} WHERE city = %(city)s AND case_no = %(no)s"),
    "prefecture month statistics": (True, """
        SELECT status, count(*) FROM {t}
        WHERE city = %(city)s AND reported_at >= %(month)s AND reported_at < %(month)s::timestamptz + interval '1 month'
        GROUP BY 1"""),
    "cases in a street-sized box, 7 days": (True, """
        SELECT count(*) FROM {t}
        WHERE city = %(city)s AND reported_at >= %(at)s::timestamptz - interval '7 days' AND reported_at < %(at)s
          AND geom && ST_Expand(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490), 0.01)"""),
    # the same as the routed one, but through the partitioned table on one node: PostgreSQL 15 locks
    # every partition of a generic plan (psycopg prepares a statement from its 5th use) before
    # pruning, so its cost grows with the partitions of all prefectures; Citus's router does not
    "a case by number, prefecture filter": (True, "SELECT * FROM pcases WHERE city = %(city)s AND case_no = %(no)s"),
    # not routed: every shard (all nodes under Citus, merged by the coordinator)
    "a case by number alone": (False, "SELECT * FROM {t} WHERE case_no = %(no)s"),
    "province month statistics": (False, """
        SELECT city, status, count(*) FROM {t}
        WHERE reported_at >= %(month)s AND reported_at < %(month)s::timestamptz + interval '1 month'
        GROUP BY 1, 2"""),
}


def percentiles(ms: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return q[49], q[94], q[98]


def month(i: int) -> dt.datetime:
    y, m = divmod(START.month - 1 + i, 12)
    return START.replace(year=START.year + y, month=m + 1)


def make_city(conn, code: str, lon: float, lat: float, n: int) -> float:
    """The prefecture's shard (a LIST partition) with its months, filled with ``n`` cases; seconds."""
    t0 = time.perf_counter()
    conn.execute(f"CREATE TABLE pcases_{code} PARTITION OF pcases FOR VALUES IN ('{code}') "
                 "PARTITION BY RANGE (reported_at)")
    for i in range(MONTHS):
        conn.execute(f"CREATE TABLE pcases_{code}_{month(i):%Y%m} PARTITION OF pcases_{code} "
                     f"FOR VALUES FROM ('{month(i).isoformat()}') TO ('{month(i + 1).isoformat()}')")
    conn.execute("SELECT setseed(%s)", (int(code) / 10_000,))
    conn.execute(GENERATE, {"city": code, "stages": STAGES, "start": START, "end": month(MONTHS), "lon": lon,
                            "lat": lat, "n": n})
    conn.commit()
    return time.perf_counter() - t0


def ask(conn, plan: list[tuple[str, dict]]) -> dict[str, list[float]]:
    """Each question of the plan once, in its order; milliseconds per question."""
    out: dict[str, list[float]] = {name: [] for name in QUESTIONS}
    for name, params in plan:
        routed, query = QUESTIONS[name]
        # routed: the prefecture's shard by its name, as Citus's router planner rewrites a query
        # with an equality on the distribution column; otherwise the whole table
        query = query.format(t=f"pcases_{params['city']}" if routed else "pcases")
        t0 = time.perf_counter()
        conn.execute(query, params).fetchall()
        out[name].append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-city", type=int, default=300_000, help="cases per prefecture")
    ap.add_argument("--n", type=int, default=1000, help="times each question is asked per phase")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args()
    info = make_conninfo(db.conninfo(Settings.from_env().database), dbname=DB_NAME)
    db.drop_database(info)
    db.create_database(info)
    rng = random.Random(24)
    try:
        with db.connect(info) as conn:
            conn.execute(SCHEMA)
            first = PREFECTURES[0]
            log(f"phase one: prefecture {first[0]}, {args.per_city:,} cases ...")
            seconds = make_city(conn, *first, args.per_city)
            t0 = time.perf_counter()
            conn.execute("ALTER TABLE pcases ADD PRIMARY KEY (city, case_no, reported_at)")
            conn.execute("CREATE INDEX ON pcases USING gist (geom)")
            conn.execute("CREATE INDEX ON pcases (reported_at)")
            conn.execute("CREATE INDEX ON pcases (case_no)")
            conn.commit()
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE pcases")
            log(f"  made in {seconds:.0f} s, indexed in {time.perf_counter() - t0:.0f} s")
            sample = conn.execute(
                "SELECT case_no, major_class, reported_at, ST_X(geom), ST_Y(geom) FROM pcases TABLESAMPLE "
                "BERNOULLI (1) REPEATABLE (7) WHERE city = %s LIMIT %s", (first[0], args.n)).fetchall()
            plan = []
            for i in range(args.n):
                no, major, at, lon, lat = sample[i % len(sample)]
                params = {"city": first[0], "no": no, "major": major, "at": at, "lon": lon, "lat": lat,
                          "month": month(rng.randrange(MONTHS))}
                plan.extend((name, params) for name in QUESTIONS)
            rng.shuffle(plan)
            ask(conn, plan)  # warm: every page the questions read is cached, as in a running server
            one = ask(conn, plan)
            conn.autocommit = False
            log("phase fourteen: the other 13 prefectures ...")
            for code, lon, lat in PREFECTURES[1:]:
                s = make_city(conn, code, lon, lat, args.per_city)
                log(f"  {code}: {s:.0f} s")
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE pcases")
            total = conn.execute("SELECT count(*) FROM pcases").fetchone()[0]
            parts = conn.execute("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                 "WHERE c.relkind = 'r' AND c.relname LIKE 'pcases%%'").fetchone()[0]
            rng.shuffle(plan)
            ask(conn, plan)  # warm, as in phase one (generating the others evicted the first one's pages)
            fourteen = ask(conn, plan)
    finally:
        if not args.keep:
            db.drop_database(info)
    print(f"Citus proxy: {len(PREFECTURES)} prefectures x {args.per_city:,} cases = {total:,} "
          f"({parts} month partitions); each question {args.n} times per phase, one connection")
    print(f"{'question':38} {'routed':7} {'one: p50 / p95 / p99 ms':>26} {'fourteen: p50 / p95 / p99 ms':>30} "
          f"{'p95 x':>6}")
    for name, (routed, _) in QUESTIONS.items():
        a, b = percentiles(one[name]), percentiles(fourteen[name])
        print(f"{name:38} {'yes' if routed else 'no':7} {a[0]:8.3f} / {a[1]:7.3f} / {a[2]:7.3f} "
              f"{b[0]:10.3f} / {b[1]:7.3f} / {b[2]:7.3f} {b[1] / a[1]:6.2f}")


if __name__ == "__main__":
    main()
