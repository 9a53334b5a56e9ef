"""The case operations of one server: intake with its alerts, the alerts alone, the workflow, and
the in-memory state they need (the case index, the supervisors), kept fresh in the background.

Freshness: the cases this process stores or moves are put into the indexes at once. What another
server process stores or moves through the API is logged in ``case_events`` (and counted as logged
in ``layer_state``, migration 0010): seen within a second, it is read from the log and added (the
watch loop's interval). Any other change (a bulk load, an UPDATE in psql) makes the indexes be read
again in the background, the old ones answering meanwhile.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import zoneinfo
from typing import Callable

import psycopg

from urbangis.geocoder.engine import Geocoder
from urbangis.layers import partitions, scope
from urbangis.layers.classes import Classes
from urbangis.layers.errors import Conflict, Forbidden, NotFound, Unavailable, UrbangisError
from urbangis.layers.settings import CasesSettings
from urbangis.layers.watch import Watcher

from . import aggregate, heat, intake, stats, workflow
from .areas import Areas
from .event_marks import EventMarks
from .filters import CaseFilter, parse_filter
from .grids import Supervisors, cross_grid
from .index import CaseIndex, Match, build_case_index, read_cases, release_memory
from .mapindex import MapIndex
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
                 classes: Classes, rules: SimilarityRules, zone: str, reads=None, interval: float = 1.0) -> None:
        super().__init__(conninfo, interval)
        self.pool = pool
        self.reads = reads if reads is not None else pool  # a case and its history: a ReadPool may use a standby
        self.geocoder = geocoder
        self.settings = settings
        self.classes = classes
        self.rules = rules
        self.zone = zone
        self.index: CaseIndex | None = None
        self.maps: MapIndex | None = None  # the same cases for maps and statistics
        self.areas = Areas()
        self._grid_codes: tuple[int, frozenset[str]] = (0, frozenset())
        self.supervisors = Supervisors({}, {}, {})
        self._people: tuple = ()  # versions of supervisors, supervisor_grids read
        self._seen = 0  # the cases' layer_state version the indexes hold
        self._unlogged = -1  # its changes not logged in case_events when the table was read
        self._events = EventMarks()  # the case events read (cases/event_marks.py)
        self._lock = threading.Lock()
        self.months = partitions.Months()  # the month partitions of cases known to exist
        self._ahead_on: dt.date | None = None  # the day the months ahead were last made

    def current(self) -> CaseIndex:
        """The index (503 while the first one is still being read)."""
        if self.index is None:
            self.wait_ready(READY_WAIT)
        if self.index is None:
            raise Unavailable("the case index is still being built" + (f": {self.error}" if self.error else ""))
        return self.index

    def maps_ready(self) -> MapIndex:
        """The map index (503 while the first one is still being read)."""
        self.current()
        if self.maps is None:
            raise Unavailable("the case map index is still being built")
        return self.maps

    def refresh(self, conn) -> None:
        """Read the supervisors again when they changed; the cases' changes from the log when all of
        them were logged, the whole table otherwise."""
        rows = conn.execute("SELECT layer, version, version - logged FROM layer_state WHERE layer = ANY(%s)",
                            (["cases", "supervisors", "supervisor_grids"],)).fetchall()
        versions = {layer: (v, unlogged) for layer, v, unlogged in rows}
        today = dt.datetime.now(zoneinfo.ZoneInfo(self.zone)).date()
        if today != self._ahead_on:  # at start and each new day: this month's and the next ones' partitions
            partitions.ahead(conn, today)
            partitions.settle(conn)  # cases that waited in the default partition (a month not made in time)
            self._ahead_on = today
        people = (versions.get("supervisors"), versions.get("supervisor_grids"))
        if people != self._people:
            self.supervisors = Supervisors.read(conn)
            self._people = people
        version, unlogged = versions.get("cases", (0, 0))
        ix = self.index
        if ix is None or ix.added > REBUILD_AFTER or unlogged != self._unlogged:
            self._rebuild(conn)
        elif version != self._seen:
            self._seen = version
            self._catch_up(conn)

    def _rebuild(self, conn) -> None:
        table = read_cases(conn)  # one read for both indexes
        fresh = build_case_index(conn, table)
        t0 = time.perf_counter()
        maps = MapIndex.from_table(table.table, table.version, self._reporter_grids())
        maps.build_seconds = table.seconds + time.perf_counter() - t0
        with self._lock:
            self.index, self.maps = fresh, maps
            self._seen, self._unlogged = table.version, table.unlogged
            self._events = EventMarks.after_read(table.last_event, table.recent_events, time.monotonic())
        del table
        release_memory()
        warm_kernels(maps, self.classes)
        self.areas.level(conn, "district")  # what the first map requests need, read now
        self.areas.contiguity(conn)
        self.ready()
        log.info("case index of %s cases read in %.1f s, map index in %.1f s", f"{len(fresh):,}",
                 fresh.build_seconds, maps.build_seconds)
        self._catch_up(conn)  # what was stored while the table was read

    def _catch_up(self, conn) -> None:
        """Add the cases the log shows stored since the indexes were read, and set the stages of
        those it shows moved (as the table has them now: applying one twice changes nothing)."""
        rows = conn.execute(CATCH_UP, self._events.wanted()).fetchall()
        for row in rows:
            self._remember(*row[1:])
        self._events.seen((i for row in rows for i in row[0]), time.monotonic())

    def _remember(self, case_no: str, kind: str, major: str, minor: str, status: str, source: str | None,
                  reported: float, closed: float | None, lon: float, lat: float, district: str | None,
                  grid: str | None, resp: str | None, reporter: str | None) -> None:
        """Put a stored case into both indexes, or its stage when they hold it."""
        with self._lock:
            ix, maps = self.index, self.maps
            if ix is None or maps is None:
                return
            if maps.has(case_no):
                ix.set_status(case_no, status, closed)
                maps.set_status(case_no, status, closed)
                return
            ix.add(case_no, kind, major, minor, status, reported, closed, lon, lat)
            areas = {"district": district or (grid[:6] if grid else None), "street": grid[:9] if grid else None,
                     "community": grid[:12] if grid else None, "unit_grid": grid, "responsibility_grid": resp,
                     "reporter_grid": (self.supervisors.grids_of.get(reporter) or (None,))[0] if reporter
                     else None}
            maps.add(case_no, kind, major, minor, status, source, reported, closed, lon, lat, areas)

    def _reporter_grids(self) -> dict[str, str]:
        """Each supervisor's (first) responsibility grid: where a flow line of theirs starts."""
        return {who: grids[0] for who, grids in self.supervisors.grids_of.items() if grids}

    # -- the alerts ---------------------------------------------------------------------------
    def alerts(self, prepared: intake.Prepared, exclude: str | None = None, conn=None) -> dict:
        """The cross-grid and similar-case alerts of a prepared report (a caller bound to an area
        is told only of the cases it may see: ``conn``, scoped, asks the cases table)."""
        ix = self.current()
        geocoder = self.geocoder()
        crossing, note = cross_grid(geocoder.ix, self.supervisors, prepared.report.reporter, prepared.place.x,
                                    prepared.place.y, self.settings.boundary_m, here=prepared.place.resp_index)
        cls = prepared.cls
        similar = ix.similar(cls.kind, cls.major, cls.minor, prepared.place.lon, prepared.place.lat,
                             prepared.at.timestamp(), self.rules, exclude=exclude)
        if conn is not None and similar and scope.current() is not None:
            seen = scope.visible(conn, "cases", "case_no", [m.case_no for m in similar])
            similar = [m for m in similar if m.case_no in seen]
        notes = [n for n in (note, prepared.component_note) if n]
        return {"cross_grid": crossing, "similar": [_match(m, self.classes, cls.kind) for m in similar],
                "notes": notes}

    def check(self, report: intake.CaseReport) -> dict:
        """The alerts a report would raise, nothing stored (GET /cases/check)."""
        prepared = self._prepare(report)
        with scope.connection(self.pool) as conn:
            _in_area(conn, prepared)
            intake.match_component(conn, prepared, self.settings.component_m)
            return {**self.alerts(prepared, conn=conn), "place": _place(prepared)}

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
        with scope.connection(self.pool) as conn:
            _in_area(conn, prepared)
            intake.match_component(conn, prepared, self.settings.component_m)
            alerts = self.alerts(prepared, conn=conn)
            values = intake.row_of(prepared, alerts)
            self.months.ensure(conn, prepared.at.astimezone(zoneinfo.ZoneInfo(self.zone)).date())
            try:
                row = intake.store(conn, values).fetchone()  # one statement, its own transaction
            except psycopg.errors.UniqueViolation as exc:
                if exc.diag.constraint_name != intake.KEY_TAKEN:
                    raise
                row = None
            if row is None:  # the same key arrived meanwhile from another request
                stored = self._by_key(report)
                if stored is None:
                    raise Conflict("a case with this idempotency key was stored and removed meanwhile; retry")
                return stored, False
            case_no = row[0]
            self._remember(case_no, prepared.cls.kind, prepared.cls.major, prepared.cls.minor, "reported",
                           values["source"], prepared.at.timestamp(), None, values["lon"], values["lat"],
                           values["district"], values["grid"], values["resp"], values["supervisor"])
            return self._stored(case_no, values, alerts), True

    def _stored(self, case_no: str, values: dict, alerts: dict) -> dict:
        """The body GET /cases/{no} answers for a case just stored from ``values`` (no read)."""
        at = values["at"].astimezone(zoneinfo.ZoneInfo(self.zone))  # as the database's session shows it
        stored = dict(zip(CASE_COLUMNS, (
            case_no, values["kind"], values["major"], values["minor"], values["component"], "reported",
            values["source"], values["description"], values["address"], values["supervisor"], values["reporter"],
            values["grid"], values["district"], values["resp"], None, at, None, values["lon"], values["lat"])))
        cls = self.classes.get(values["kind"], values["major"], values["minor"])
        stored["class_name"] = cls.label if cls else None
        history = [{"stage": "reported", "at": at, "actor": values["actor"], "note": values["note"],
                    "assigned_to": None}]
        return {"case": stored, "history": history, "cross_grid": alerts.get("cross_grid"),
                "similar": alerts.get("similar", []), "notes": alerts.get("notes", [])}

    def _by_key(self, report: intake.CaseReport) -> dict | None:
        with scope.connection(self.pool) as conn:
            row = conn.execute("SELECT c.case_no, c.request_hash FROM urbangis_case_by_key(%s) k JOIN cases c "
                               "ON c.case_no = k.case_no AND c.reported_at = k.reported_at",
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
        with scope.connection(self.pool) as conn:
            with conn.transaction():
                conn.execute(LOGGED)
                done = workflow.apply(conn, case_no, move)
            closed = done["at"].timestamp() if done["stage"] in workflow.ENDS else None
            with self._lock:
                if self.index is not None and self.maps is not None:
                    self.index.set_status(case_no, done["stage"], closed)
                    self.maps.set_status(case_no, done["stage"], closed)
            return {"event": done, "case": self.get(case_no, conn)}

    # -- the maps ------------------------------------------------------------------------------
    def filter(self, params: dict[str, str]) -> CaseFilter:
        """The case-map filter of a request's parameters (400 naming a bad one)."""
        geocoder = self.geocoder()
        ix = geocoder.ix
        if self._grid_codes[0] != id(ix):
            self._grid_codes = (id(ix), frozenset(ix.resp.codes))
        grids = self._grid_codes[1]
        return parse_filter(params, self.classes, self.zone, lambda code: code in ix.admin_by_code,
                            lambda code: code in grids)

    def get(self, case_no: str, conn=None) -> dict:
        """A case with its history (GET /cases/{no}); 404 when there is none."""
        if conn is None:
            with scope.connection(self.reads) as c:  # a standby's when usable (layers/replicas.py)
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


# this transaction logs each of its changes of cases in case_events (migration 0010)
LOGGED = "SET LOCAL urbangis.logged = 'on'"
CATCH_UP = """
SELECT array_agg(e.id), c.case_no, c.kind, c.major_class, c.minor_class, c.status, c.source,
       extract(epoch FROM c.reported_at)::float8, extract(epoch FROM c.closed_at)::float8, ST_X(c.geom), ST_Y(c.geom),
       c.district_code, c.grid_code, c.responsibility_grid, c.supervisor_id
FROM case_events e JOIN cases c USING (case_no)
WHERE e.id > %s OR e.id = ANY(%s::bigint[])  -- the new events, and those missing when last read
GROUP BY c.case_no, c.reported_at  -- the key (the columns depend on it)
ORDER BY max(e.id)
"""

CASE_COLUMNS = ("case_no", "kind", "major_class", "minor_class", "component_code", "status", "source", "description",
                "address", "supervisor_id", "reporter", "grid_code", "district_code", "responsibility_grid",
                "verifier_id", "reported_at", "closed_at", "lon", "lat", "alerts")
CASE_SQL = ("SELECT " + ", ".join(CASE_COLUMNS[:-3]) + ", ST_X(geom), ST_Y(geom), alerts FROM cases WHERE case_no = %s")


def warm_kernels(ix: MapIndex, classes: Classes) -> None:
    """Run every compiled pass of the case maps once (on the tile of z18 holding the first case), so
    that no request waits for numba to load them (a second or more each, the first time in a process)."""
    if not ix.main.n:
        return
    f = ix.compile(CaseFilter())
    for tms, (x, y) in (("WebMercatorQuad", (int(ix.main.xm[0]) >> 14, int(ix.main.ym[0]) >> 14)),
                        ("CGCS2000Quad", (int(ix.main.xc[0]) >> 13, int(ix.main.yc[0]) >> 13))):
        for kind in aggregate.KINDS:
            aggregate.tile(ix, classes, tms, 18, x, y, f, kind)
        heat.heat_tile(ix, tms, 18, x, y, f)
    stats.group_counts(ix, "district", f)
    stats.pair_counts(ix, f)


def _match(m: Match, classes: Classes, kind: str) -> dict:
    cls = classes.get(kind, m.major, m.minor)
    return {"case_no": m.case_no, "distance_m": m.distance_m, "hours_before": m.hours, "score": m.score,
            "status": m.status, "same_minor_class": m.same_minor, "major_class": m.major, "minor_class": m.minor,
            "class_name": cls.label if cls else None}


def _in_area(conn, prepared: intake.Prepared) -> None:
    """A caller bound to an area reports and checks cases inside it only (403 otherwise; the
    table's policy would refuse the row as well)."""
    p = prepared.place
    if not scope.inside(conn, [(p.lon, p.lat)])[0]:
        raise Forbidden(f"the case's point ({p.lon:.6f}, {p.lat:.6f}) lies outside the caller's area "
                        f"{scope.current() or '(none)'}", parameter="lon")


def _place(prepared: intake.Prepared) -> dict:
    p = prepared.place
    return {"lon": round(p.lon, 8), "lat": round(p.lat, 8), "chain": p.chain, "unit_grid": p.unit_grid,
            "responsibility_grid": p.resp_grid, "component": prepared.component, "class": prepared.cls.label,
            "reported_at": prepared.at}


def open_service(conninfo: str, pool, geocoder: Callable[[], Geocoder], settings: CasesSettings,
                 zone: str, reads=None) -> CaseService:
    """A started case service (its index read in the background)."""
    from urbangis.layers.classes import load_classes

    from .similarity import load_rules

    service = CaseService(conninfo, pool, geocoder, settings, load_classes(settings.classes),
                          load_rules(settings.similarity), zone, reads)
    service.start()
    return service


