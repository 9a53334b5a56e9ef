"""Every case in memory, for the similar-case alert: columns (numpy) sorted by class and time, so
that the cases of one class within hours of a report are a binary search away, whatever the
table's size (PostgreSQL's answer to the same question reads every case of every class near the
point, and a city-management centre's hot spots hold thousands).

Why by hand: no library keeps "points of one category within a time window and a radius" in a
structure answering in microseconds; an R-tree answers the radius and leaves time and class to a
filter over everything nearby. Memory: 39 bytes a case plus its number (430 MB for 10 million
cases of 14-16 characters); it is built from one COPY read by Arrow, a million cases a second.

The index holds what the table held when it was read, plus the cases this process stored since
(:meth:`CaseIndex.add`) and the stages it moved them to (:meth:`CaseIndex.set_status`); changes
made elsewhere are picked up by a rebuild (:class:`cases.service.CaseService` watches
``layer_state``).
"""
from __future__ import annotations

import ctypes
import io
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from urbangis.layers.contract import CASE_STATUS

from .event_marks import RECENT
from .kernels import recent_within_radius, within_radius
from .similarity import Similarity, SimilarityRules

EPOCH = 946_684_800  # 2000-01-01 UTC: times are kept as int32 seconds from it (good to 2068)
NONE = np.iinfo(np.int32).min  # no closing time
STATUSES = CASE_STATUS.values
_CODE = {s: i for i, s in enumerate(STATUSES)}


def seconds(epoch: float) -> int:
    """Unix time -> the index's int32 seconds."""
    return int(epoch) - EPOCH


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and latitude at ``lat`` (CGCS2000 series), as the geocoder's
    local planes use: over a few hundred metres, exact to a millimetre."""
    phi = math.radians(lat)
    my = 111132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    mx = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi)
    return mx, my


@dataclass(frozen=True)
class Match:
    """A known case similar to a report."""

    case_no: str
    distance_m: float
    hours: float  # how long before the report it was reported
    same_minor: bool
    status: str
    score: float
    major: str
    minor: str


@dataclass
class _Columns:
    """Cases as columns: number, class id, times, stage, position."""

    case_no: np.ndarray  # bytes
    cls: np.ndarray  # int16
    t: np.ndarray  # int32 seconds from EPOCH
    closed: np.ndarray  # int32, NONE when not closed
    status: np.ndarray  # int8, index into STATUSES
    lon: np.ndarray
    lat: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def empty(cls) -> _Columns:
        return cls(np.empty(0, "S1"), np.empty(0, np.int16), np.empty(0, np.int32), np.empty(0, np.int32),
                   np.empty(0, np.int8), np.empty(0), np.empty(0))


class CaseIndex:
    """The cases of one database, by class and time."""

    def __init__(self, classes: dict[tuple[str, str, str], int], main: _Columns, version: int,
                 build_seconds: float = 0.0) -> None:
        self.classes = classes  # (kind, major, minor) -> class id
        self.majors: dict[tuple[str, str], list[int]] = {}
        for (kind, major, _), cid in classes.items():
            self.majors.setdefault((kind, major), []).append(cid)
        self._names = {cid: key for key, cid in classes.items()}
        self.main = main
        # where each class's rows start and end in ``main`` (sorted by class, then time)
        ids = np.arange(len(classes) + 1)
        self._bounds = np.searchsorted(main.cls, ids) if len(main) else np.zeros(len(ids), np.intp)
        self.version = version  # layer_state version of cases the table had when read
        self.build_seconds = build_seconds
        self._tail = _Tail()  # cases added since
        self._moved: dict[bytes, tuple[int, int]] = {}  # case_no -> (status, closed) changed since

    def __len__(self) -> int:
        return len(self.main) + len(self._tail)

    @property
    def added(self) -> int:
        """How many cases were added since the table was read."""
        return len(self._tail)

    # -- what this process changed ----------------------------------------------------------
    def class_id(self, kind: str, major: str, minor: str) -> int:
        """The id of a class, added if the index has not seen it yet."""
        key = (kind, major, minor)
        cid = self.classes.get(key)
        if cid is None:
            cid = self.classes[key] = len(self.classes) + 10_000  # beyond the sorted ids: tail only
            self.majors.setdefault((kind, major), []).append(cid)
            self._names[cid] = key
        return cid

    def add(self, case_no: str, kind: str, major: str, minor: str, status: str, reported: float,
            closed: float | None, lon: float, lat: float) -> None:
        """A case this process stored (times as Unix seconds)."""
        self._tail.append(case_no.encode(), self.class_id(kind, major, minor), seconds(reported),
                          NONE if closed is None else seconds(closed), _CODE[status], lon, lat)

    def set_status(self, case_no: str, status: str, closed: float | None) -> None:
        """A case this process moved to ``status``."""
        self._moved[case_no.encode()] = (_CODE[status], NONE if closed is None else seconds(closed))

    # -- the alert --------------------------------------------------------------------------
    def similar(self, kind: str, major: str, minor: str, lon: float, lat: float, at: float,
                rules: SimilarityRules, limit: int = 10, exclude: str | None = None) -> list[Match]:
        """The known cases similar to a report of class ``kind`` ``major``/``minor`` at ``lon``,
        ``lat``, Unix time ``at``, best first (reported at or before it)."""
        rule = rules.of(kind, major, minor)
        t = seconds(at)
        window = int(rule.window_h * 3600)
        own = self.classes.get((kind, major, minor))
        wanted = [(cid, cid == own) for cid in self.majors.get((kind, major), ())
                  if cid == own or rule.same_major > 0]
        mx, my = metres_per_degree(lat)
        parts = [self._near_main(wanted, lon, lat, t - window, t, mx, my, rule),
                 self._near_tail(wanted, own, lon, lat, t - window, t, mx, my, rule)]
        found: list[Match] = []
        # best first: the rounded score, then the distance, then the number (as the peer orders);
        # Match objects only for the best (a hot spot holds hundreds of near cases)
        rows_all = [(cols, r, d, h, sc, same) for cols, rows, d, h, sc, sames in parts
                    for r, d, h, sc, same in zip(rows.tolist(), d.tolist(), h.tolist(), sc.tolist(), sames.tolist())]
        rows_all.sort(key=lambda x: (-x[4], x[2], x[0].case_no[x[1]]))
        for cols, r, dist, hours, score, same in rows_all:
            number = cols.case_no[r]
            case_no = number.decode()
            if case_no == exclude:
                continue
            status = self._moved.get(number, (int(cols.status[r]), 0))[0]
            if STATUSES[status] not in rules.counted:
                continue
            _, major, minor = self._names[int(cols.cls[r])]
            found.append(Match(case_no, dist, hours, same, STATUSES[status], score, major, minor))
            if len(found) == limit:
                break
        return found

    def _near_main(self, wanted: list[tuple[int, bool]], lon: float, lat: float, start: int, end: int,
                   mx: float, my: float, rule: Similarity):
        """The cases read from the table of the classes ``wanted`` (class id, same minor class)
        reported within [start, end] and within the rule's radius: a binary search per class
        (rows are sorted by class, then time), then one compiled pass over the ranges."""
        main = self.main
        starts, ends, same = [], [], []
        for cid, is_own in wanted:
            if cid < len(self._bounds) - 1:
                lo, hi = int(self._bounds[cid]), int(self._bounds[cid + 1])
                # the bounds as int32: a Python int would make numpy cast the whole column (1 ms)
                starts.append(lo + int(main.t[lo:hi].searchsorted(np.int32(start), "left")))
                ends.append(lo + int(main.t[lo:hi].searchsorted(np.int32(end), "right")))
                same.append(is_own)
        rows, seg, d = within_radius(main.lon, main.lat, np.array(starts, np.int64), np.array(ends, np.int64),
                                     lon, lat, mx, my, rule.radius_m)
        return self._scored(main, rows, d, np.array(same, bool)[seg], end, rule)

    def _near_tail(self, wanted: list[tuple[int, bool]], own: int | None, lon: float, lat: float, start: int,
                   end: int, mx: float, my: float, rule: Similarity):
        """As :meth:`_near_main` for the cases this process stored since the table was read."""
        tail = self._tail.columns()
        rows, d = recent_within_radius(tail.lon, tail.lat, tail.t, tail.cls, len(tail),
                                       np.array([cid for cid, _ in wanted], np.int64), start, end, lon, lat,
                                       mx, my, rule.radius_m)
        return self._scored(tail, rows, d, tail.cls[rows] == own, end, rule)

    @staticmethod
    def _scored(cols: _Columns, rows: np.ndarray, d: np.ndarray, same: np.ndarray, t: int, rule: Similarity):
        """The candidates scoring above 0: (columns, positions, metres, hours, score, same minor
        class), rounded as the alert shows them (1 dm, 36 s, 1e-4)."""
        hours = (t - cols.t[rows].astype(np.int64)) / 3600
        score = rule.scores(d, hours, same)
        keep = score > 0
        return cols, rows[keep], np.round(d[keep], 1), np.round(hours[keep], 2), np.round(score[keep], 4), same[keep]


class _Tail:
    """Cases added after the table was read: columns grown by doubling, read as views of the rows
    written so far (a reader never sees a half-written row: the count moves last)."""

    def __init__(self) -> None:
        self._n = 0
        self._cols = self._alloc(1024, 16)

    @staticmethod
    def _alloc(n: int, width: int) -> _Columns:
        return _Columns(np.zeros(n, f"S{width}"), np.zeros(n, np.int32), np.zeros(n, np.int32),
                        np.zeros(n, np.int32), np.zeros(n, np.int8), np.zeros(n), np.zeros(n))

    def __len__(self) -> int:
        return self._n

    def append(self, case_no: bytes, cls: int, t: int, closed: int, status: int, lon: float, lat: float) -> None:
        c, n = self._cols, self._n
        width = int(c.case_no.dtype.itemsize)
        if n == len(c.t) or len(case_no) > width:
            grown = self._alloc(max(len(c.t) * 2, n + 1), max(width, len(case_no)))
            for name in ("case_no", "cls", "t", "closed", "status", "lon", "lat"):
                getattr(grown, name)[:n] = getattr(c, name)[:n]
            c = self._cols = grown
        c.case_no[n], c.cls[n], c.t[n], c.closed[n], c.status[n], c.lon[n], c.lat[n] = \
            case_no, cls, t, closed, status, lon, lat
        self._n = n + 1

    def columns(self) -> _Columns:
        c, n = self._cols, self._n
        return _Columns(c.case_no[:n], c.cls[:n], c.t[:n], c.closed[:n], c.status[:n], c.lon[:n], c.lat[:n])


READ = ("SELECT case_no, kind || '/' || major_class || '/' || minor_class AS cls, status, "
        "extract(epoch FROM reported_at)::bigint - {epoch} AS t, "
        "coalesce(extract(epoch FROM closed_at)::bigint - {epoch}, {none}) AS closed, "
        "ST_X(geom) AS lon, ST_Y(geom) AS lat, source, grid_code, district_code, responsibility_grid, supervisor_id "
        "FROM cases")
NAMES = ["case_no", "cls", "status", "t", "closed", "lon", "lat", "source", "grid_code", "district_code",
         "responsibility_grid", "supervisor_id"]
TYPES = {"case_no": pa.binary(), "cls": pa.string(), "status": pa.string(), "t": pa.int32(), "closed": pa.int32(),
         "lon": pa.float64(), "lat": pa.float64(), **{n: pa.string() for n in NAMES[7:]}}


@dataclass
class CaseTable:
    """Every case as read in one snapshot: the table's layer_state version and how many of its
    changes were not logged in case_events (migration 0010), the last case event, the rows, how
    long it took."""

    version: int
    table: pa.Table
    seconds: float
    unlogged: int = 0
    last_event: int = 0
    recent_events: list[int] = field(default_factory=list)  # the ids of the last events (cases/event_marks.py)


def read_cases(conn) -> CaseTable:
    """Read every case with one COPY, in the snapshot the version is read in (Arrow parses it: a
    million cases a second)."""
    t0 = time.perf_counter()
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        # the last event id handed out, present or not (greater than the last present when the
        # events after it were deleted or rolled back, or are not committed yet): reading on from
        # the last present, the first new event made every id between them a gap, asked for in
        # each catch-up (once a second) for GAP_TTL: 67,781 ids on a bench database whose events
        # earlier runs had deleted
        state = conn.execute("SELECT version, version - logged, "
                             "greatest((SELECT coalesce(max(id), 0) FROM case_events), "
                             "coalesce(pg_sequence_last_value(pg_get_serial_sequence('case_events', 'id')), 0)) "
                             "FROM layer_state WHERE layer = 'cases'").fetchone()
        recent = conn.execute("SELECT coalesce(array_agg(id), '{}') FROM case_events WHERE id > %s",
                              ((state[2] if state else 0) - RECENT,)).fetchone()
        buf = io.BytesIO()
        query = sql.SQL(READ.format(epoch=EPOCH, none=int(NONE)))
        with conn.cursor().copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)) as copy:
            for chunk in copy:
                buf.write(chunk)
    finally:
        conn.execute("ROLLBACK")
    if buf.tell():
        buf.seek(0)
        table = pacsv.read_csv(buf, pacsv.ReadOptions(column_names=NAMES),
                               convert_options=pacsv.ConvertOptions(column_types=TYPES))
    else:
        table = pa.table({n: pa.array([], type=TYPES[n]) for n in NAMES})
    version, unlogged, last_event = state or (0, 0, 0)
    return CaseTable(version, table, time.perf_counter() - t0, unlogged, last_event, recent[0] if recent else [])


def release_memory() -> None:
    """Give the memory of a table read and dropped back to the system: Arrow's allocator keeps it
    otherwise (2.5 GB after reading 10 million cases), and so does glibc's for numpy's temporaries."""
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


def build_case_index(conn, cases: CaseTable | None = None) -> CaseIndex:
    """The :class:`CaseIndex` of every case (read now unless ``cases`` were read already)."""
    t0 = time.perf_counter()
    cases = cases or read_cases(conn)
    classes, main = _columns(cases.table)
    return CaseIndex(classes, main, cases.version, cases.seconds + time.perf_counter() - t0)


def _columns(table: pa.Table) -> tuple[dict[tuple[str, str, str], int], _Columns]:
    """The table's cases sorted by class, then time; the class ids in that order."""
    if table.num_rows == 0:
        return {}, _Columns.empty()
    cls = table.column("cls").combine_chunks().dictionary_encode()
    names = cls.dictionary.to_pylist()
    order_of = np.argsort(np.array(names, dtype=object))  # ids in the order of the class names
    rank = np.empty(len(names), np.int16)
    rank[order_of] = np.arange(len(names), dtype=np.int16)
    ids = rank[cls.indices.to_numpy(zero_copy_only=False)]
    classes = {tuple(names[k].split("/")): int(rank[k]) for k in range(len(names))}
    status = table.column("status").combine_chunks().dictionary_encode()
    status_code = np.array([_CODE[s] for s in status.dictionary.to_pylist()], np.int8)
    t = table.column("t").to_numpy()
    order = np.lexsort((t, ids))
    number = _fixed_bytes(table.column("case_no").combine_chunks())
    main = _Columns(number[order], ids[order], t[order], table.column("closed").to_numpy()[order],
                    status_code[status.indices.to_numpy(zero_copy_only=False)][order],
                    table.column("lon").to_numpy()[order], table.column("lat").to_numpy()[order])
    return classes, main


def _fixed_bytes(column: pa.Array) -> np.ndarray:
    """A binary column as a numpy array of fixed-width bytes, straight from Arrow's buffers (10
    million Python bytes objects on the way would cost seconds and a gigabyte)."""
    n = len(column)
    if n == 0:
        return np.empty(0, "S1")
    offsets = np.frombuffer(column.buffers()[1], np.int32)[column.offset:column.offset + n + 1]
    data = np.frombuffer(column.buffers()[2], np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    width = max(int(lengths.max()), 1)
    out = np.zeros((n, width), np.uint8)
    for j in range(width):
        has = lengths > j
        out[has, j] = data[starts[has] + j]
    return out.view(f"S{width}").ravel()
