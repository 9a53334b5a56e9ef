"""Loads submitted over HTTP: a job per uploaded file, run one at a time in a background thread,
its state, progress and report kept in ``ingest_jobs`` (written on its own autocommit connection,
so they are visible while the load's transaction is still open).

A server that stops mid-load takes the load's transaction with it (nothing is written); the job
is then marked failed when a server starts again. A job can be cancelled (:meth:`JobRunner.cancel`):
from any server process, as the request is kept in the table and the running statement is
cancelled in PostgreSQL; its transaction is then rolled back.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Callable

import psycopg
from psycopg.types.json import Jsonb

from urbangis.layers import database as db
from urbangis.layers import scope

from . import crs as crs_mod
from . import fetch
from .gazetteer import LoadError, LoadOptions, load_gazetteer
from .report import SAMPLE_LIMIT

log = logging.getLogger("urbangis.ingest.jobs")

OWNER = f"{socket.gethostname()}:{os.getpid()}"
_STATE_EVERY = 0.5  # seconds between progress writes
CANCELLED = "cancelled on request; the load's transaction was rolled back, nothing was loaded"


class JobCancelled(BaseException):
    """Raised in a job's load when its cancellation was asked for. A BaseException, like Ctrl-C, so
    that no ``except Exception`` on the way turns it into a row issue or a read error."""


def _alive(owner: str | None) -> bool:
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True  # another machine's job: not ours to judge
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    return True


class JobRunner:
    """Runs ingest jobs of one server process, one after the other."""

    def __init__(self, conninfo: str, workdir: Path, geocode_factory: Callable | None = None,
                 max_unpacked: int | None = None, timezone: str = "Asia/Shanghai") -> None:
        self.conninfo = conninfo
        self.workdir = Path(workdir)
        self.geocode_factory = geocode_factory
        self.max_unpacked = max_unpacked
        self.timezone = timezone  # of times written without an offset
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Mark jobs orphaned by a stopped server as failed, then start the worker thread."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            with db.connect(self.conninfo, autocommit=True) as conn:
                stale = conn.execute(
                    "SELECT id, owner FROM ingest_jobs WHERE state IN ('queued', 'running')").fetchall()
                for job_id, owner in stale:
                    if owner != OWNER and not _alive(owner):
                        conn.execute("UPDATE ingest_jobs SET state = 'failed', finished_at = now(), message = "
                                     "'the server stopped during this job; nothing was loaded' WHERE id = %s",
                                     (job_id,))
        except psycopg.Error as exc:  # the server still starts with its database down (/healthz says so)
            log.warning("ingest jobs: cannot check for interrupted jobs (%s)", str(exc).splitlines()[0])
        # a daemon thread: stopping the server drops the load's connection, which rolls it back
        self._thread = threading.Thread(target=self._work, name="urbangis-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)

    # -- jobs -------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        return self.workdir / str(job_id)

    def create(self, filename: str, options: dict) -> str:
        """Register a job (state queued) and return its id; the upload goes in job_dir(id). A caller
        bound to an area (layers/scope.py) makes jobs of that area: ``options["area"]``."""
        with db.connect(self.conninfo, autocommit=True) as conn, scope.scoped(conn):
            job_id = fetch.one(conn.execute("INSERT INTO ingest_jobs (filename, options, owner) VALUES (%s, %s, %s) "
                                            "RETURNING id", (filename, Jsonb(options), OWNER)))[0]
        self.job_dir(job_id).mkdir(parents=True, exist_ok=True)
        return str(job_id)

    def submit(self, job_id: str, upload: Path) -> None:
        self._queue.put((job_id, Path(upload)))

    def cancel(self, job_id: str) -> str | None:
        """Cancel a job: a queued one at once, a running one by asking its server and cancelling the
        statement its load is running. Returns the job's state after the request (None: no such job);
        'running' means the cancellation is under way, 'loaded' etc. that the job had already ended."""
        with db.connect(self.conninfo, autocommit=True) as conn, scope.scoped(conn):
            if conn.execute("UPDATE ingest_jobs SET state = 'cancelled', phase = 'done', finished_at = now(), "
                            "message = 'cancelled before it started; nothing was loaded' "
                            "WHERE id = %s AND state = 'queued' RETURNING id", (job_id,)).fetchone():
                return "cancelled"
            row = conn.execute("UPDATE ingest_jobs SET cancel_requested = true WHERE id = %s AND state = 'running' "
                               "RETURNING backend_pid", (job_id,)).fetchone()
            if row is None:
                state = conn.execute("SELECT state FROM ingest_jobs WHERE id = %s", (job_id,)).fetchone()
                return state[0] if state else None
            self._interrupt(conn, job_id)
            return "running"

    @staticmethod
    def _interrupt(conn: psycopg.Connection, job_id: str) -> None:
        """Cancel the statement the job's load connection is running, if it still runs that job."""
        conn.execute("SELECT pg_cancel_backend(backend_pid) FROM ingest_jobs WHERE id = %s AND state = 'running' "
                     "AND backend_pid IS NOT NULL", (job_id,))

    def wait_cancelled(self, job_id: str, timeout: float = 15.0) -> str | None:
        """Wait up to ``timeout`` s for a job being cancelled to end (its rollback); its state then.
        The statement is cancelled again each second: between two statements, the first request
        finds nothing to cancel."""
        deadline = time.monotonic() + timeout
        with db.connect(self.conninfo, autocommit=True) as conn:
            polls = 0
            while True:
                polls += 1
                state = conn.execute("SELECT state FROM ingest_jobs WHERE id = %s", (job_id,)).fetchone()
                if state is None or state[0] != "running" or time.monotonic() >= deadline:
                    return state[0] if state else None
                time.sleep(0.2)
                if polls % 5 == 0:
                    self._interrupt(conn, job_id)

    def fail(self, job_id: str, message: str) -> None:
        with db.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("UPDATE ingest_jobs SET state = 'failed', finished_at = now(), message = %s WHERE id = %s",
                         (message, job_id))

    def get(self, job_id: str) -> dict | None:
        """A job (None if there is none, or it is of another area than the caller's)."""
        with db.connect(self.conninfo, autocommit=True) as conn, scope.scoped(conn):
            cur = conn.execute("SELECT id::text, state, filename, options, layer, phase, rows_done, rows_total, "
                               "message, report, created_at, started_at, finished_at FROM ingest_jobs WHERE id = %s",
                               (job_id,))
            row = cur.fetchone()
            if row is None:
                return None
            return dict(zip(fetch.names(cur), row))

    def recent(self, limit: int = 50) -> list[dict]:
        with db.connect(self.conninfo, autocommit=True) as conn, scope.scoped(conn):
            cur = conn.execute("SELECT id::text, state, filename, options, layer, phase, rows_done, rows_total, "
                               "message, created_at, finished_at FROM ingest_jobs ORDER BY created_at DESC LIMIT %s",
                               (limit,))
            names = fetch.names(cur)
            return [dict(zip(names, r)) for r in cur.fetchall()]

    # -- the worker ---------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job_id, upload = item
            try:
                self.run(job_id, upload)
            except Exception:  # never let one job kill the worker
                log.exception("ingest job %s crashed", job_id)
                self.fail(job_id, "internal error during the load; nothing was loaded")

    def run(self, job_id: str, upload: Path) -> str:
        """Run one job to its end; returns its final state."""
        with db.connect(self.conninfo, autocommit=True) as state_conn:
            started = state_conn.execute("UPDATE ingest_jobs SET state = 'running', started_at = now(), owner = %s "
                                         "WHERE id = %s AND state = 'queued' RETURNING options",
                                         (OWNER, job_id)).fetchone()
            if started is None:  # cancelled while it waited
                self._drop_upload(job_id)
                return "cancelled"
            opts = started[0]
            last = [0.0]

            def progress(layer: str, done: int, total: int | None, phase: str) -> None:
                now = time.monotonic()
                if phase == "reading" and now - last[0] < _STATE_EVERY:
                    return
                last[0] = now
                cancel = fetch.one(state_conn.execute(
                    "UPDATE ingest_jobs SET layer = %s, phase = %s, rows_done = %s, rows_total = %s WHERE id = %s "
                    "RETURNING cancel_requested", (layer, phase, done, total, job_id)))[0]
                if cancel:
                    raise JobCancelled()

            options = LoadOptions(
                source_crs=crs_mod.parse_source_crs(opts["source_crs"]) if opts.get("source_crs") else None,
                strict=opts.get("mode", "strict") == "strict",
                check_only=opts.get("mode") == "check",
                replace=bool(opts.get("replace")),
                layer=opts.get("layer") or None,
                report_path=self.job_dir(job_id) / "report.json",
                source_label=upload.name,  # not the server's path
                progress=progress,
                geocode=self.geocode_factory() if self.geocode_factory else None,
                timezone=self.timezone,
                area=opts.get("area"),
            )
            if self.max_unpacked:
                options.max_unpacked = self.max_unpacked
            try:
                with db.connect(self.conninfo) as conn:
                    state_conn.execute("UPDATE ingest_jobs SET backend_pid = %s WHERE id = %s",
                                       (conn.info.backend_pid, job_id))
                    report = load_gazetteer(conn, upload, options)
                state, message = report.outcome, report.message  # loaded, or checked
            except JobCancelled:
                report, state, message = None, "cancelled", CANCELLED
            except LoadError as exc:
                report = exc.report
                state = "rejected" if report is not None and report.outcome == "rejected" else "failed"
                message = str(exc)
            except psycopg.Error as exc:
                report, state, message = None, "failed", f"database failure, nothing was loaded: {exc}"
            if state == "failed" and fetch.one(state_conn.execute(  # e.g. its statement cancelled by pg_cancel_backend
                    "SELECT cancel_requested FROM ingest_jobs WHERE id = %s", (job_id,)))[0]:
                report, state, message = None, "cancelled", CANCELLED
            body = None
            if report is not None:
                body = report.to_dict()
                body["issues"] = body["issues"][:SAMPLE_LIMIT]
                body = json.loads(json.dumps(body, default=str))
            state_conn.execute("UPDATE ingest_jobs SET state = %s, message = %s, report = %s, phase = 'done', "
                               "finished_at = now(), backend_pid = NULL WHERE id = %s",
                               (state, message, Jsonb(body) if body is not None else None, job_id))
        self._drop_upload(job_id)
        return state

    def _drop_upload(self, job_id: str) -> None:
        """Keep the reports, drop the upload and anything unpacked from it."""
        for p in self.job_dir(job_id).iterdir():
            if p.name.startswith("upload"):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
