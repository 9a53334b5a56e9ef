"""The case operations of one server: intake with its alerts, the alerts alone, the workflow, and
the in-memory state they need (the case index, the supervisors), kept fresh in the background.

Freshness: the cases this process stores or moves are put into the index at once. A change made
by anything else (a load, another server process) is seen in ``layer_state`` within a second and
the index is read again in the background, the old one answering meanwhile: what another process
stored in the last seconds may be missed by a similar-case check here until then.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Callable

from urbangis.geocoder.engine import Geocoder
from urbangis.layers.classes import Classes
from urbangis.layers.errors import Conflict, NotFound, Unavailable, UrbangisError
from urbangis.layers.settings import CasesSettings
from urbangis.layers.watch import Watcher

from . import intake, workflow
from .grids import Supervisors, cross_grid
from .index import CaseIndex, Match, build_case_index
from .similarity import SimilarityRules

log = logging.getLogger("urbangis.cases")
READY_WAIT = 60.0
REBUILD_AFTER = 200_000  # cases added here since the index was read: read it again (a sorted index is faster)


class ReusedKey(UrbangisError):
    """An idempotency key sent again with another report (422, as the IETF draft asks)."""

    status, code = 422, "IdempotencyKeyReused"


class CaseService(Watcher):
    """Intake, checks and moves of cases on one database."""

    name = "case-index"

    def __init__(self, conninfo: str, pool, geocoder: Callable[[], Geocoder], settings: CasesSettings,
                 classes: Classes, rules: SimilarityRules, zone: str, interval: float = 1.0) -> None:
        super().__init__(conninfo, interval)
        self.pool = pool
        self.geocoder = geocoder
        self.settings = settings
        self.classes = classes
        self.rules = rules
        self.zone = zone
        self.index: CaseIndex | None = None
        self.supervisors = Supervisors({}, {}, {})
        self._people: tuple = ()  # versions of supervisors, supervisor_grids read
        self._own: set[int] = set()  # layer_state versions of cases this process wrote since the index
        self._lock = threading.Lock()

    def current(self) -> CaseIndex:
        """The index (503 while the first one is still being read)."""
        if self.index is None:
            self.wait_ready(READY_WAIT)
        if self.index is None:
            raise Unavailable("the case index is still being built" + (f": {self.error}" if self.error else ""))
        return self.index

    def refresh(self, conn) -> None:
        """Read the supervisors again when they changed, the cases when someone else changed them."""
        versions = dict(conn.execute("SELECT layer, version FROM layer_state WHERE layer = ANY(%s)",
                                     (["cases", "supervisors", "supervisor_grids"],)).fetchall())
        people = (versions.get("supervisors"), versions.get("supervisor_grids"))
        if people != self._people:
            self.supervisors = Supervisors.read(conn)
            self._people = people
        ix = self.index
        current = versions.get("cases", 0)
        if ix is None or ix.added > REBUILD_AFTER or self._foreign_change(ix, current):
            fresh = build_case_index(conn)
            with self._lock:
                self._own = {v for v in self._own if v > fresh.version}
                self.index = fresh
            self.ready()
            log.info("case index of %s cases read in %.1f s", f"{len(fresh):,}", fresh.build_seconds)

    def _foreign_change(self, ix: CaseIndex, current: int) -> bool:
        """Whether the table changed other than by this process since the index was read."""
        with self._lock:
            unknown = [v for v in range(ix.version + 1, current + 1) if v not in self._own]
        if unknown:
            time.sleep(0.05)  # one of ours may have committed and not yet been counted: look again
            with self._lock:
                unknown = [v for v in unknown if v not in self._own]
        return bool(unknown)

    # -- the alerts ---------------------------------------------------------------------------
    def alerts(self, prepared: intake.Prepared, exclude: str | None = None) -> dict:
        """The cross-grid and similar-case alerts of a prepared report."""
        ix = self.current()
        geocoder = self.geocoder()
        crossing, note = cross_grid(geocoder.ix, self.supervisors, prepared.report.reporter, prepared.place,
                                    self.settings.boundary_m)
        cls = prepared.cls
        similar = ix.similar(cls.kind, cls.major, cls.minor, prepared.place.lon, prepared.place.lat,
                             prepared.at.timestamp(), self.rules, exclude=exclude)
        notes = [n for n in (note, prepared.component_note) if n]
        return {"cross_grid": crossing, "similar": [_match(m, self.classes, cls.kind) for m in similar],
                "notes": notes}

    def check(self, report: intake.CaseReport) -> dict:
        """The alerts a report would raise, nothing stored (GET /cases/check)."""
        prepared = self._prepare(report)
        with self.pool.connection() as conn:
            intake.match_component(conn, prepared, self.settings.component_m)
        return {**self.alerts(prepared), "place": _place(prepared)}

    def _prepare(self, report: intake.CaseReport) -> intake.Prepared:
        return intake.prepare(report, self.classes, self.geocoder(), self.supervisors, self.zone,
                              dt.datetime.now(dt.timezone.utc))

    # -- intake ---------------------------------------------------------------------------------
    def take(self, report: intake.CaseReport) -> tuple[dict, bool]:
        """Store a report with its alerts: (the case as GET /cases/{no} answers it, True), or for a
        retried request the case stored the first time (its body, False)."""
        if report.idempotency_key:
            stored = self._by_key(report)
            if stored is not None:
                return stored, False
        prepared = self._prepare(report)
        with self.pool.connection() as conn:
            intake.match_component(conn, prepared, self.settings.component_m)
            alerts = self.alerts(prepared)
            with conn.transaction():
                case_no = intake.store(conn, prepared, alerts)
                if case_no is not None:
                    version = conn.execute("SELECT version FROM layer_state WHERE layer = 'cases'").fetchone()[0]
            if case_no is None:  # the same key arrived meanwhile from another request
                stored = self._by_key(report)
                if stored is None:
                    raise Conflict("a case with this idempotency key was stored and removed meanwhile; retry")
                return stored, False
            self._record(version, case_no, prepared)
            return self.get(case_no, conn), True

    def _record(self, version: int, case_no: str, prepared: intake.Prepared) -> None:
        with self._lock:
            self._own.add(version)
            ix = self.index
            if ix is not None:
                cls = prepared.cls
                ix.add(case_no, cls.kind, cls.major, cls.minor, "reported", prepared.at.timestamp(), None,
                       prepared.place.lon, prepared.place.lat)

    def _by_key(self, report: intake.CaseReport) -> dict | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT case_no, request_hash FROM cases WHERE idempotency_key = %s",
                               (report.idempotency_key,)).fetchone()
            if row is None:
                return None
            if row[1] != report.fingerprint():
                raise ReusedKey(f"idempotency key {report.idempotency_key!r} was used for another report (case "
                                f"{row[0]}); a new report needs a new key", parameter="idempotency_key")
            return self.get(row[0], conn)

    # -- the workflow ---------------------------------------------------------------------------
    def move(self, case_no: str, move: workflow.Move) -> dict:
        """Move a case on (POST /cases/{no}/events); the case as it is then."""
        with self.pool.connection() as conn:
            with conn.transaction():
                done = workflow.apply(conn, case_no, move)
                version = conn.execute("SELECT version FROM layer_state WHERE layer = 'cases'").fetchone()[0]
            with self._lock:
                self._own.add(version)
                if self.index is not None:
                    closed = done["at"].timestamp() if done["stage"] in workflow.ENDS else None
                    self.index.set_status(case_no, done["stage"], closed)
            return {"event": done, "case": self.get(case_no, conn)}

    def get(self, case_no: str, conn=None) -> dict:
        """A case with its history (GET /cases/{no}); 404 when there is none."""
        if conn is None:
            with self.pool.connection() as c:
                return self.get(case_no, c)
        row = conn.execute(CASE_SQL, (case_no,)).fetchone()
        if row is None:
            raise NotFound(f"no case {case_no!r}", parameter="case_no", value=case_no)
        case = dict(zip(CASE_COLUMNS, row))
        cls = self.classes.get(case["kind"], case["major_class"], case["minor_class"])
        case["class_name"] = cls.label if cls else None
        alerts = case.pop("alerts") or {}
        return {"case": case, "history": workflow.history(conn, case_no),
                "cross_grid": alerts.get("cross_grid"), "similar": alerts.get("similar", []),
                "notes": alerts.get("notes", [])}


CASE_COLUMNS = ("case_no", "kind", "major_class", "minor_class", "component_code", "status", "source", "description",
                "address", "supervisor_id", "reporter", "grid_code", "district_code", "responsibility_grid",
                "verifier_id", "reported_at", "closed_at", "lon", "lat", "alerts")
CASE_SQL = ("SELECT " + ", ".join(CASE_COLUMNS[:-3]) + ", ST_X(geom), ST_Y(geom), alerts FROM cases WHERE case_no = %s")


def _match(m: Match, classes: Classes, kind: str) -> dict:
    cls = classes.get(kind, m.major, m.minor)
    return {"case_no": m.case_no, "distance_m": m.distance_m, "hours_before": m.hours, "score": m.score,
            "status": m.status, "same_minor_class": m.same_minor, "major_class": m.major, "minor_class": m.minor,
            "class_name": cls.label if cls else None}


def _place(prepared: intake.Prepared) -> dict:
    p = prepared.place
    return {"lon": round(p.lon, 8), "lat": round(p.lat, 8), "chain": p.chain, "unit_grid": p.unit_grid,
            "responsibility_grid": p.resp_grid, "component": prepared.component, "class": prepared.cls.label,
            "reported_at": prepared.at}


def open_service(conninfo: str, pool, geocoder: Callable[[], Geocoder], settings: CasesSettings,
                 zone: str) -> CaseService:
    """A started case service (its index read in the background)."""
    from urbangis.layers.classes import load_classes

    from .similarity import load_rules

    service = CaseService(conninfo, pool, geocoder, settings, load_classes(settings.classes),
                          load_rules(settings.similarity), zone)
    service.start()
    return service


