"""The geocoder's index for a province: build time and memory at >= 10,000,000 house numbers
(issue 23).

A provincial server loads every city's gazetteer into one database and the geocoder holds one
in-memory index over all of it. This copies a loaded gazetteer database (``--template``: by default
the ``--scale 20`` sample city of ``bench/cases_alerts.py``, 1.7 M house numbers), adds generated
house numbers under its roads until there are ``--houses`` in all (each road's numbers again,
1000 higher per copy, a few metres aside: more numbers per road, as a province's long roads
have), builds the index once on the original and once on the grown copy, and prints for each the
rows, the build time, the process's resident memory before and after, and a check that a
generated number geocodes. The copy is dropped at the end (``--keep`` keeps it).

    .venv/bin/python bench/geocode_index_scale.py                       # 10,000,000 houses
    .venv/bin/python bench/geocode_index_scale.py --houses 3000000 --template urbangis

Peer: none that holds the same index (Nominatim keeps its search in PostgreSQL); the figure is
stated, per million house numbers, beside the template's own.
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import log  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402

from urbangis.layers import database as db  # noqa: E402
from urbangis.layers.settings import Settings  # noqa: E402


def rss_mb() -> float:
    """Resident memory of this process now (MB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def grow(info: str, houses: int) -> int:
    """Add copies of the road house numbers until ``houses`` rows in all; returns the count."""
    with db.connect(info, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM house_numbers").fetchone()[0]
        base = conn.execute("SELECT count(*) FROM house_numbers WHERE parent_kind = 'road' AND num IS NOT NULL"
                            ).fetchone()[0]
        copies = max(0, -(-(houses - have) // max(base, 1)))
        log(f"{have:,} house numbers, {base:,} on roads: adding {copies} copies")
        # the index reads the table in one pass; the spatial index would only slow the insert
        conn.execute("DROP INDEX IF EXISTS house_numbers_geom")
        for k in range(1, copies + 1):
            t0 = time.perf_counter()
            conn.execute(
                """INSERT INTO house_numbers (id, parent_kind, parent_id, number, geom)
                   SELECT id || '-g' || %(k)s, parent_kind, parent_id, (num + 1000 * %(k)s)::text,
                          ST_Translate(geom, 0.00003 * %(k)s, 0.00002 * %(k)s)
                   FROM house_numbers WHERE parent_kind = 'road' AND num IS NOT NULL AND id NOT LIKE '%%-g%%'""",
                {"k": k})
            log(f"  copy {k}/{copies} in {time.perf_counter() - t0:.0f} s")
        conn.execute("VACUUM ANALYZE house_numbers")
        return conn.execute("SELECT count(*) FROM house_numbers").fetchone()[0]


def measure(info: str, label: str) -> dict:
    from urbangis.geocoder.engine import Geocoder
    from urbangis.geocoder.index import build_index

    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    with db.connect(info) as conn:
        ix = build_index(conn)
    seconds = time.perf_counter() - t0
    gc.collect()
    after = rss_mb()
    g = Geocoder(ix)
    # a generated number (the first copy's) on the first road that has one
    probe = None
    for (kind, pidx), table in ix.houses.by_parent.items():
        if kind == "r":
            big = [k for k in table if k.isdigit() and int(k) > 1000]
            if big:
                probe = f"{ix.roads[pidx].name}{big[0]}号"
                break
    t1 = time.perf_counter()
    found = g.geocode(probe, 5).candidates if probe else []
    ms = (time.perf_counter() - t1) * 1000
    out = {"label": label, "houses": ix.stats["house_numbers"], "seconds": seconds, "rss_before": before,
           "rss_after": after, "probe": probe, "probe_level": found[0].level if found else None, "probe_ms": ms,
           "stats": ix.stats}
    return out


def measure_apart(info: str, label: str) -> dict:
    """:func:`measure` in a process of its own, so that each build starts from a clean heap."""
    import json
    import subprocess

    proc = subprocess.run([sys.executable, __file__, "--measure", info, label], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"measuring {label} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":  # the child of measure_apart
        import json

        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--template", default="urbangis_bench_cases_s20",
                    help="database holding a loaded gazetteer to copy [default: %(default)s]")
    ap.add_argument("--houses", type=int, default=10_000_000, help="house numbers in the grown copy")
    ap.add_argument("--keep", action="store_true", help="keep the grown copy")
    args = ap.parse_args()

    settings = Settings.from_env().database
    admin = make_conninfo(db.conninfo(settings), dbname="postgres")
    src = make_conninfo(db.conninfo(settings), dbname=args.template)
    name = f"urbangis_bench_geo_province_{int(time.time())}"
    dst = make_conninfo(db.conninfo(settings), dbname=name)
    with db.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.template,)).fetchone():
            print(f"no database {args.template}: make it with `.venv/bin/python bench/cases_alerts.py --scale 20`"
                  " or name a loaded one with --template", file=sys.stderr)
            return 2
        t0 = time.perf_counter()
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                      sql.Identifier(args.template)))
        log(f"copied {args.template} in {time.perf_counter() - t0:.0f} s")
    try:
        rows = [measure_apart(src, args.template)]
        total = grow(dst, args.houses)
        log(f"{total:,} house numbers in {name}")
        rows.append(measure_apart(dst, f"{args.template} + generated"))
        print(f"{'index':34} {'house numbers':>14} {'build s':>8} {'s / M houses':>13} {'RSS MB':>8} "
              f"{'+MB':>7} {'MB / M houses':>14}  probe")
        for r in rows:
            grow_mb = r["rss_after"] - r["rss_before"]
            per_m = r["houses"] / 1e6
            print(f"{r['label']:34} {r['houses']:>14,} {r['seconds']:>8.1f} {r['seconds'] / per_m:>13.1f} "
                  f"{r['rss_after']:>8.0f} {grow_mb:>7.0f} {grow_mb / per_m:>14.0f}  "
                  f"{r['probe']} -> {r['probe_level']} in {r['probe_ms']:.1f} ms")
        a, b = rows
        print(f"grown / template: houses x{b['houses'] / a['houses']:.2f}, "
              f"build time x{b['seconds'] / a['seconds']:.2f}, "
              f"memory x{(b['rss_after'] - b['rss_before']) / max(a['rss_after'] - a['rss_before'], 1):.2f}")
        print(f"other rows of the index: {a['stats']}")
    finally:
        if not args.keep:
            db.drop_database(dst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
