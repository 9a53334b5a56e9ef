"""Loads submitted over HTTP: a job per uploaded file, run one at a time in a background thread,
its state, progress and report kept in ``ingest_jobs`` (written on its own autocommit connection,
so they are visible while the load's transaction is still open).

A server that stops mid-load takes the load's transaction with it (nothing is written); the job
is then marked failed when a server starts again.
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

from layers import database as db

from . import crs as crs_mod
from .gazetteer import LoadError, LoadOptions, load_gazetteer
from .report import SAMPLE_LIMIT

log = logging.getLogger("urbangis.ingest.jobs")

OWNER = f"{socket.gethostname()}:{os.getpid()}"
_STATE_EVERY = 0.5  # seconds between progress writes


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
                 max_unpacked: int | None = None) -> None:
        self.conninfo = conninfo
        self.workdir = Path(workdir)
        self.geocode_factory = geocode_factory
        self.max_unpacked = max_unpacked
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Mark jobs orphaned by a stopped server as failed, then start the worker thread."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            with db.connect(self.conninfo, autocommit=True) as conn:
                stale = conn.execute("SELECT id, owner FROM ingest_jobs WHERE state IN ('queued', 'running')").fetchall()
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
        """Register a job (state queued) and return its id; the upload goes in job_dir(id)."""
        with db.connect(self.conninfo, autocommit=True) as conn:
            job_id = conn.execute("INSERT INTO ingest_jobs (filename, options, owner) VALUES (%s, %s, %s) "
                                  "RETURNING id", (filename, Jsonb(options), OWNER)).fetchone()[0]
        self.job_dir(job_id).mkdir(parents=True, exist_ok=True)
        return str(job_id)

    def submit(self, job_id: str, upload: Path) -> None:
        self._queue.put((job_id, Path(upload)))

    def fail(self, job_id: str, message: str) -> None:
        with db.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("UPDATE ingest_jobs SET state = 'failed', finished_at = now(), message = %s WHERE id = %s",
                         (message, job_id))

    def get(self, job_id: str) -> dict | None:
        with db.connect(self.conninfo, autocommit=True) as conn:
            cur = conn.execute("SELECT id::text, state, filename, options, layer, phase, rows_done, rows_total, "
                               "message, report, created_at, started_at, finished_at FROM ingest_jobs WHERE id = %s",
                               (job_id,))
            row = cur.fetchone()
            if row is None:
                return None
            return dict(zip([d.name for d in cur.description], row))

    def recent(self, limit: int = 50) -> list[dict]:
        with db.connect(self.conninfo, autocommit=True) as conn:
            cur = conn.execute("SELECT id::text, state, filename, layer, phase, rows_done, rows_total, message, "
                               "created_at, finished_at FROM ingest_jobs ORDER BY created_at DESC LIMIT %s", (limit,))
            names = [d.name for d in cur.description]
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
            opts = state_conn.execute("SELECT options FROM ingest_jobs WHERE id = %s", (job_id,)).fetchone()[0]
            state_conn.execute("UPDATE ingest_jobs SET state = 'running', started_at = now(), owner = %s "
                               "WHERE id = %s", (OWNER, job_id))
            last = [0.0]

            def progress(layer: str, done: int, total: int | None, phase: str) -> None:
                now = time.monotonic()
                if phase == "reading" and now - last[0] < _STATE_EVERY:
                    return
                last[0] = now
                state_conn.execute("UPDATE ingest_jobs SET layer = %s, phase = %s, rows_done = %s, rows_total = %s "
                                   "WHERE id = %s", (layer, phase, done, total, job_id))

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
            )
            if self.max_unpacked:
                options.max_unpacked = self.max_unpacked
            try:
                with db.connect(self.conninfo) as conn:
                    report = load_gazetteer(conn, upload, options)
                state, message = report.outcome, report.message  # loaded, or checked
            except LoadError as exc:
                report = exc.report
                state = "rejected" if report is not None and report.outcome == "rejected" else "failed"
                message = str(exc)
            except psycopg.Error as exc:
                report, state, message = None, "failed", f"database failure, nothing was loaded: {exc}"
            body = None
            if report is not None:
                body = report.to_dict()
                body["issues"] = body["issues"][:SAMPLE_LIMIT]
                body = json.loads(json.dumps(body, default=str))
            state_conn.execute("UPDATE ingest_jobs SET state = %s, message = %s, report = %s, phase = 'done', "
                               "finished_at = now() WHERE id = %s",
                               (state, message, Jsonb(body) if body is not None else None, job_id))
        # keep the reports, drop the upload and anything unpacked from it
        for p in self.job_dir(job_id).iterdir():
            if p.name.startswith("upload"):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        return state
