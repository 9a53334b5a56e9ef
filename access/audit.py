"""The audit log: who did what, when and from where, append-only and hash-chained.

Requests hand their entries to :class:`AuditWriter`, which writes them in batches from one thread
(a request never waits for the log, and entries of concurrent requests do not queue on one row
lock as a per-row trigger would make them). Each batch takes an advisory lock, reads the last
row's hash and writes its rows with consecutive ``seq`` numbers, each row's ``hash`` the SHA-256
of the previous hash and the row's canonical form. :func:`verify` walks the chain: a removed row
is a gap in ``seq`` or a broken link, a changed row a hash that does not match. The table refuses
UPDATE, DELETE and TRUNCATE (migration 0013), the API's role cannot read or write it, and its
partitions are made a month ahead.
"""
from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

import psycopg
from psycopg import sql

log = logging.getLogger("urbangis.audit")
GENESIS = b"\x00" * 32
LOCK = 0x75726261  # advisory lock of the chain's writers


@dataclass
class Entry:
    actor: str
    action: str
    target: str | None = None
    status: int | None = None
    role: str | None = None
    area: str | None = None
    client: str | None = None
    detail: dict = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def canonical(seq: int, e: Entry) -> bytes:
    """The bytes a row's hash covers (times in UTC to the microsecond, as PostgreSQL keeps them)."""
    at = e.at.astimezone(timezone.utc).isoformat(timespec="microseconds")
    return json.dumps([seq, at, e.actor, e.role, e.area, e.action, e.target, e.status, e.client, e.detail],
                      ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def link(prev: bytes, seq: int, e: Entry) -> bytes:
    return hashlib.sha256(prev + canonical(seq, e)).digest()


def ensure_partitions(conn: psycopg.Connection, months: Iterator[datetime] | list[datetime]) -> None:
    """Monthly partitions of audit_log for each of ``months`` (made if missing)."""
    for m in {(d.year, d.month) for d in months}:
        start = datetime(m[0], m[1], 1, tzinfo=timezone.utc)
        end = datetime(m[0] + (m[1] == 12), m[1] % 12 + 1, 1, tzinfo=timezone.utc)
        name = f"audit_log_{m[0]:04d}{m[1]:02d}"
        found = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
        if found is not None and found[0] is not None:
            continue  # (CREATE TABLE IF NOT EXISTS would lock the parent every time)
        made = sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF audit_log FOR VALUES FROM ({}) TO ({})")
        conn.execute(made.format(
            sql.Identifier(name), sql.Literal(start), sql.Literal(end)))


def append(conn: psycopg.Connection, entries: list[Entry]) -> None:
    """Write ``entries`` at the end of the chain, in one transaction (``conn`` not in one)."""
    if not entries:
        return
    now = datetime.now(timezone.utc)
    ensure_partitions(conn, [e.at for e in entries] + [now, now.replace(day=28) + timedelta(days=4)])  # a month ahead
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        last = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0], bytes(last[1])) if last else (0, GENESIS)
        rows = []
        for e in entries:
            seq += 1
            h = link(prev, seq, e)
            rows.append((seq, e.at, e.actor, e.role, e.area, e.action, e.target, e.status, e.client,
                         json.dumps(e.detail, ensure_ascii=False), prev, h))
            prev = h
        with conn.cursor() as cur:
            with cur.copy("COPY audit_log (seq, at, actor, role, area, action, target, status, client, detail, "
                          "prev_hash, hash) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)


@dataclass
class Verdict:
    rows: int
    ok: bool
    problem: str | None = None   # the first break found, with its seq
    head: str | None = None      # "seq:hash" of the last row: kept elsewhere, it anchors the chain


def verify(conn: psycopg.Connection, anchor: str | None = None) -> Verdict:
    """Walk the chain in ``seq`` order; the first gap, broken link or changed row is the verdict.
    A chain cut at its end and written on looks whole: ``anchor`` (a head printed by an earlier
    check, "seq:hash", kept off the server) must still be in it."""
    want = None
    if anchor:
        seq_text, _, hash_text = anchor.partition(":")
        want = (int(seq_text), bytes.fromhex(hash_text))
    prev, expected, n = GENESIS, 1, 0
    with conn.transaction(), conn.cursor(name="audit_verify") as cur:
        cur.itersize = 5000
        cur.execute("SELECT seq, at, actor, role, area, action, target, status, client, detail, prev_hash, hash "
                    "FROM audit_log ORDER BY seq")
        for seq, at, actor, role, area, action, target, status, client, detail, prev_hash, h in cur:
            if seq != expected:
                return Verdict(n, False, f"rows {expected}..{seq - 1} are missing (removed from the log)")
            if bytes(prev_hash) != prev:
                return Verdict(n, False, f"row {seq} does not follow row {seq - 1} (the chain is broken)")
            e = Entry(actor, action, target, status, role, area, client, detail, at)
            if link(prev, seq, e) != bytes(h):
                return Verdict(n, False, f"row {seq} was changed after it was written")
            if want is not None and seq == want[0] and bytes(h) != want[1]:
                return Verdict(n, False, f"row {seq} is not the row the anchor names (the log was cut and "
                                         "rewritten)")
            prev, expected, n = bytes(h), seq + 1, n + 1
    if want is not None and want[0] >= expected:
        return Verdict(n, False, f"the log ends at row {expected - 1}, before the anchor's row {want[0]} "
                                 "(rows removed)")
    return Verdict(n, True, head=f"{expected - 1}:{prev.hex()}")


class AuditWriter:
    """Entries queued by requests, written by one thread every ``every`` seconds (and on stop).
    ``gathered`` (optional) returns entries summed up meanwhile (key use), added to each write."""

    def __init__(self, conninfo: str, every: float = 0.2, gathered: Callable[[], list[Entry]] | None = None):
        self.conninfo, self.every, self.gathered = conninfo, every, gathered
        self._queue: queue.SimpleQueue[Entry | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="urbangis-audit", daemon=True)
        self._written = threading.Condition()
        self._added = self._done = 0

    def start(self) -> None:
        self._thread.start()

    def add(self, entry: Entry) -> None:
        with self._written:
            self._added += 1
        self._queue.put(entry)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every entry added so far is written (tests, shutdown)."""
        with self._written:
            target = self._added
            return self._written.wait_for(lambda: self._done >= target, timeout)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        stopping = False
        while not stopping:
            batch: list[Entry] = []
            deadline = time.monotonic() + self.every
            while True:  # what comes in the next `every` seconds goes into one write
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            taken = len(batch)
            if self.gathered is not None:
                batch.extend(self.gathered())
            if batch:
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(self.conninfo, autocommit=True)
                    append(conn, batch)
                except Exception:  # the log must not stop the server; the loss is logged loudly
                    log.exception("audit: %d entries could not be written", len(batch))
                    conn = None
            with self._written:
                self._done += taken
                self._written.notify_all()
        if conn is not None:
            conn.close()
