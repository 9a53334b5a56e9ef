"""Faults survived (issue 24): 60 s of the mixed load of bench/load_mixed.py at 64 connections
while the embedded PostgreSQL is stopped twice and started again, with the server left running.

Timeline (seconds from the start of the load): 12 stop (``pg_ctl -m fast``), 20 start, 32 stop
(``-m immediate``: no checkpoint, the start replays the WAL), 40 start. Loopback only, bounded in
time: every request has a 40 s client-side limit (the server's pool wait is 30 s).

What is checked and printed:

- during each outage, what every endpoint answered: 503 with ``Retry-After`` expected; never a
  500, never an answer later than the limit (a hang); requests to the in-memory geocoder keep
  being answered 200;
- recovery without restarting the server: the first 2xx of each endpoint after each start;
- intake: every ``POST /cases`` carries an idempotency key of its own. Afterwards every key that
  was not answered 201 is sent again once (what a client told "retry" does), and 100 keys that
  were answered 201 are sent again too; then every key answered 201 must be in the database once,
  and no key twice;
- durability: the cluster runs with ``fsync``, ``synchronous_commit`` and ``full_page_writes``
  on (printed from the server), so a case answered 201 was on disk before the answer; the
  immediate stop shows it.

    .venv/bin/python bench/faults.py
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from common import ROOT, free_port, log  # noqa: E402
from load_mixed import MIX, material, wait_ready  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402

from urbangis.layers import database as db  # noqa: E402
from urbangis.layers.settings import Settings  # noqa: E402

LIMIT = 40.0  # seconds a request may take before it counts as a hang
SCHEDULE = ((12.0, "stop", "fast"), (20.0, "start", None), (32.0, "stop", "immediate"), (40.0, "start", None))


async def client(port: int, queue: asyncio.Queue, out: list) -> None:
    """One keep-alive connection sending requests from ``queue`` until its end mark; each answer
    recorded as (sent at, tag, key, status, seconds, retry-after given, body text)."""
    reader = writer = None
    while True:  # until its end mark (the feeder stops at stop_at)
        tag, method, path, body, key = await queue.get()
        if tag == "end":
            break
        t = time.monotonic()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            if body is not None:
                head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            writer.write(head.encode() + b"\r\n" + (body or b""))
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), LIMIT)
            length, retry = 0, False
            for line in answer.split(b"\r\n"):
                low = line.lower()
                if low.startswith(b"content-length:"):
                    length = int(line[15:])
                retry = retry or low.startswith(b"retry-after:")
            text = (await asyncio.wait_for(reader.readexactly(length), LIMIT)).decode(errors="replace")
            out.append((t, tag, key, int(answer[9:12]), time.monotonic() - t, retry, text[:200]))
        except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            out.append((t, tag, key, 0, time.monotonic() - t, False, type(exc).__name__))
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def load(port: int, parts: dict, seconds: float, clients: int, cluster, t0: float,
               sent: dict) -> tuple[list, list]:
    """The mix for ``seconds`` with the outages of SCHEDULE; (answers, events); the body of each
    intake by its key in ``sent``."""
    import random

    rnd = random.Random(13)
    queue: asyncio.Queue = asyncio.Queue(maxsize=clients * 2)
    stop_at = t0 + seconds
    out: list = []
    events: list = []
    counter = iter(range(10**9))

    async def feed() -> None:
        tags = [t for t, _ in MIX]
        weights = [w for _, w in MIX]
        while time.monotonic() < stop_at:
            tag = rnd.choices(tags, weights)[0]
            pick = rnd.choice(parts[tag])
            if tag == "case intake":
                key = f"faults-{next(counter)}"
                body = json.loads(pick)
                body.update(source="bench-faults", idempotency_key=key)
                sent[key] = json.dumps(body).encode()
                await queue.put((tag, "POST", "/cases", sent[key], key))
            else:
                await queue.put((tag, "GET", pick, None, None))
        for _ in range(clients):  # one end mark for each client
            await queue.put(("end", "GET", "", None, None))

    async def faults() -> None:
        for at, action, mode in SCHEDULE:
            await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
            start = time.monotonic()
            if action == "stop":
                await asyncio.to_thread(cluster.stop, mode)
            else:
                await asyncio.to_thread(cluster.start)
            events.append((start - t0, time.monotonic() - t0, action, mode))
            log(f"{start - t0:5.1f} s: {action} {mode or ''} ({time.monotonic() - start:.1f} s)")

    await asyncio.gather(feed(), faults(), *(client(port, queue, out) for _ in range(clients)))
    return out, events


def phase_of(t: float, events: list) -> str:
    """Which part of the timeline a request sent at ``t`` (seconds) belongs to."""
    name, starts = "before", 0
    for start, _, action, mode in events:
        if t >= start:
            if action == "stop":
                name = f"down ({mode})"
            else:
                starts += 1
                name = f"after start {starts}"
    return name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=64)
    args = ap.parse_args()
    settings = Settings.from_env().database
    if settings.external:
        raise SystemExit("bench/faults.py stops the embedded cluster: not for an external database")
    cluster = db.cluster_for(settings)
    base = db.conninfo(settings)
    name = f"urbangis_bench_faults_{int(time.time())}"
    info = make_conninfo(base, dbname=name)
    with db.connect(make_conninfo(base, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                      sql.Identifier(db.database_name(base))))
    port = free_port()
    env = dict(os.environ, URBANGIS_DATABASE_URL=info, URBANGIS_AUTH="off", URBANGIS_LOG_LEVEL="error")
    server = subprocess.Popen([sys.executable, "-m", "urbangis.api.cli", "serve", "--host", "127.0.0.1",
                               "--port", str(port)], cwd=ROOT, env=env)
    try:
        parts = material(info)
        with db.connect(info) as conn:
            durable = {k: conn.execute(f"SHOW {k}").fetchone()[0]
                       for k in ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method")}
        wait_ready(port, 1)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            for path in parts["tiles"] + parts["items"]:
                c.get(path)
        t0 = time.monotonic()
        sent: dict[str, bytes] = {}
        out, events = asyncio.run(load(port, parts, args.seconds, args.clients, cluster, t0, sent))
        if not cluster.running():
            cluster.start()
        # the retries a client makes: every intake not answered 201, and 100 that were
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            deadline = time.monotonic() + 60
            while c.get("/healthz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.5)
            intakes = [(key, status) for _, tag, key, status, _, _, _ in out if tag == "case intake"]
            answered = {key for key, status in intakes if status == 201}
            retried: Counter = Counter()
            again = [k for k, s in intakes if s != 201] + sorted(answered)[:100]
            for key in again:
                r = c.post("/cases", content=sent[key], headers={"Content-Type": "application/json"})
                retried[(key in answered, r.status_code)] += 1
                if r.status_code in (200, 201):  # stored now, or stored before and replayed
                    answered.add(key)
        with db.connect(info) as conn:
            stored = Counter(k for (k,) in conn.execute(
                "SELECT idempotency_key FROM cases WHERE source = 'bench-faults'").fetchall())
    finally:
        if not cluster.running():
            cluster.start()
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        db.drop_database(info)
    report(out, events, durable, answered, stored, retried, len(sent))
    return 0


def report(out, events, durable, answered, stored, retried, sent: int) -> None:
    t0 = min(t for t, *_ in out)
    print(f"\nfaults: {len(out):,} requests over {max(t for t, *_ in out) - t0:.0f} s; PostgreSQL {durable}")
    for start, end, action, mode in events:
        print(f"  {start:5.1f} - {end:5.1f} s  {action} {mode or ''}")
    table: dict = defaultdict(Counter)
    slowest: dict = defaultdict(float)
    order: list[str] = []
    no_retry_after = 0
    why: dict = defaultdict(Counter)
    for t, tag, key, status, took, retry, text in sorted(out):
        if tag == "end":
            continue
        phase = phase_of(t + took - t0, events)  # by when it was answered
        if phase not in order:
            order.append(phase)
        table[(phase, tag)][status] += 1
        slowest[phase] = max(slowest[phase], took)
        no_retry_after += status == 503 and not retry
        if status == 503:
            why[phase][text.split('"description":"')[-1].split('"')[0]] += 1
    print(f"\n{'phase':<18}{'endpoint':<13} answers (status: count)")
    for phase in order:
        for tag, _ in MIX:
            counts = table.get((phase, tag))
            if counts:
                print(f"{phase:<18}{tag:<13} " + ", ".join(f"{s or 'none'}: {n}" for s, n in sorted(counts.items())))
    for phase in order:
        if why[phase]:
            print(f"503 {phase}: " + "; ".join(f"{n} x {d!r}" for d, n in why[phase].most_common()))
    print("\nslowest answer per phase: " + ", ".join(f"{p} {slowest[p]:.1f} s" for p in order))
    total = Counter(o[3] for o in out if o[1] != "end")
    print(f"500s and other 5xx but 503: {sum(n for s, n in total.items() if s >= 500 and s != 503)}; "
          f"503 without Retry-After: {no_retry_after}; no answer within {LIMIT:.0f} s: {total.get(0, 0)}")
    for start, end, action, _ in events:  # recovery: the first 2xx of each endpoint after each start
        if action != "start":
            continue
        first: dict[str, float] = {}
        for t, tag, key, status, took, _, _ in sorted(out):
            if t - t0 >= start and 200 <= status < 300 and tag not in first and tag != "end":
                first[tag] = t + took - t0 - end
        print(f"after the start at {start:.0f} s, first 2xx (s after the cluster was up): "
              + ", ".join(f"{tag} {v:.1f}" for tag, v in sorted(first.items())))
    twice = {k: n for k, n in stored.items() if n > 1}
    missing = sorted(answered - set(stored))
    print(f"\nintake: {sent:,} keys sent in the load; sent again afterwards: "
          + ", ".join(f"{'answered 201 before' if a else 'not answered 201'} -> {s}: {n}"
                      for (a, s), n in sorted(retried.items())))
    print(f"answered 201 in the load, or 201 / 200 (replayed) on retry: {len(answered):,}; "
          f"stored: {sum(stored.values()):,} rows, {len(stored):,} keys; answered but missing: {len(missing)}; "
          f"stored twice: {len(twice)}")


if __name__ == "__main__":
    raise SystemExit(main())
