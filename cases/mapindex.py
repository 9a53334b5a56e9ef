"""Every case in memory as the case maps read them: positions on the two tile grids (Web Mercator
and CGCS2000, 2**32 units around the world), time, class, stage, source, and the ids of the areas
it lies in, sorted along the Web Mercator Z-order curve, so that any tile's cases are one
contiguous run, found by binary search (and on the CGCS2000 grid, one run of a second order).

Memory: 60 bytes a case (600 MB for 10 million). Cases stored by this process since the index was
read are kept in a tail the kernels read whole; stages this process moved cases to are written
into the columns at once (found by case number). Everything else comes with a rebuild
(cases/service.py).
"""
from __future__ import annotations

import datetime as dt
import math
import threading
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from urbangis.layers.contract import CASE_STATUS

from . import kernels
from .filters import CaseFilter, admin_prefix
from .index import EPOCH, NONE, _fixed_bytes

WORLD = 2.0 ** 32
STATUS_ID = {s: i for i, s in enumerate(CASE_STATUS.values)}
N_STATUS = len(CASE_STATUS.values)
LEVELS = ("district", "street", "community", "unit_grid", "responsibility_grid", "reporter_grid")
INT_MAX = np.iinfo(np.int32).max


def mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator world units (2**32 across the world, y down from 85.0511° N)."""
    lat = np.clip(lat, -85.05112878, 85.05112878)
    x = (lon + 180.0) / 360.0 * WORLD
    phi = np.radians(lat)
    y = (1.0 - np.log(np.tan(phi) + 1.0 / np.cos(phi)) / math.pi) / 2.0 * WORLD
    return np.clip(x, 0, WORLD - 1).astype(np.uint32), np.clip(y, 0, WORLD - 1).astype(np.uint32)


def plate(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CGCS2000Quad (and WorldCRS84Quad) units: 2**32 across 360°, 2**31 down 180° from 90° N."""
    x = (lon + 180.0) / 360.0 * WORLD
    y = (90.0 - lat) / 180.0 * (WORLD / 2)
    return np.clip(x, 0, WORLD - 1).astype(np.uint32), np.clip(y, 0, WORLD / 2 - 1).astype(np.uint32)


def point_units(lon: float, lat: float) -> tuple[int, int, int, int]:
    """:func:`mercator` and :func:`plate` of one point, in plain floats (numpy's overhead on
    one-element arrays was 64 µs of an intake; these give the same units, tests/cases/test_mapindex.py)."""
    x = (lon + 180.0) / 360.0 * WORLD
    phi = math.radians(min(max(lat, -85.05112878), 85.05112878))
    ym = (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0 * WORLD
    yc = (90.0 - lat) / 180.0 * (WORLD / 2)
    xi = int(min(max(x, 0), WORLD - 1))
    return xi, int(min(max(ym, 0), WORLD - 1)), xi, int(min(max(yc, 0), WORLD / 2 - 1))


class Vocabulary:
    """Values <-> ids of one column (id 0: none)."""

    def __init__(self, values: list[str] | None = None) -> None:
        self.values: list[str | None] = [None]
        self.ids: dict[str, int] = {}
        for v in values or ():
            self.add(v)

    def add(self, value: str | None) -> int:
        if value is None:
            return 0
        found = self.ids.get(value)
        if found is None:
            found = self.ids[value] = len(self.values)
            self.values.append(value)
        return found

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class Compiled:
    """A filter as the kernels take it."""

    t0: int
    t1: int
    cls_ok: np.ndarray
    st_ok: np.ndarray
    src_ok: np.ndarray
    area_level: str
    area_ok: np.ndarray
    rg_ok: np.ndarray
    # the tail as it was when compiled: its rows hold only ids the tables above cover (a case added
    # later may bring a new source or area, beyond them; the kernels do not check bounds)
    tail: Columns
    tail_n: int

    def args(self, cols: Columns) -> tuple:
        return (cols.t, cols.cls, cols.st, cols.src, cols.level(self.area_level), cols.level("responsibility_grid"),
                self.t0, self.t1, self.cls_ok, self.st_ok, self.src_ok, self.area_ok, self.rg_ok, self.use)

    @property
    def use(self) -> int:
        """The filters that exclude anything (kernels.USE_*): the others' columns are not read."""
        return ((kernels.USE_TIME if self.t0 > -INT_MAX or self.t1 < INT_MAX else 0)
                | (kernels.USE_CLASS if not self.cls_ok.all() else 0)
                | (kernels.USE_STAGE if not self.st_ok.all() else 0)
                | (kernels.USE_SOURCE if not self.src_ok.all() else 0)
                | (kernels.USE_AREA if not self.area_ok.all() else 0)
                | (kernels.USE_GRID if not self.rg_ok.all() else 0))


COLUMNS = ("xm", "ym", "xc", "yc", "t", "closed", "cls", "mix", "st", "src", "district", "street", "community",
           "unit_grid", "responsibility_grid", "reporter_grid")
_DTYPES = {"xm": np.uint32, "ym": np.uint32, "xc": np.uint32, "yc": np.uint32, "t": np.int32, "closed": np.int32,
           "cls": np.int32, "mix": np.int32, "st": np.int8, "src": np.int32, "district": np.int32,
           "street": np.int32, "community": np.int32, "unit_grid": np.int32, "responsibility_grid": np.int32,
           "reporter_grid": np.int32}


class Columns:
    """One set of case columns (the sorted main part, or the tail)."""

    xm: np.ndarray  # Web Mercator world units
    ym: np.ndarray
    xc: np.ndarray  # CGCS2000Quad world units
    yc: np.ndarray
    t: np.ndarray  # reported, int32 seconds from cases.index.EPOCH
    closed: np.ndarray  # closed (NONE: not)
    cls: np.ndarray  # class id (vocabulary "cls": kind/major/minor)
    mix: np.ndarray  # major class id (vocabulary "mix": kind/major)
    st: np.ndarray  # stage, index into CASE_STATUS
    src: np.ndarray  # source id
    district: np.ndarray  # area ids per level (0: none)
    street: np.ndarray
    community: np.ndarray
    unit_grid: np.ndarray
    responsibility_grid: np.ndarray
    reporter_grid: np.ndarray  # the reporting supervisor's (first) responsibility grid

    def __init__(self, n: int) -> None:
        for name in COLUMNS:
            setattr(self, name, np.zeros(n, _DTYPES[name]))
        self.n = n

    def level(self, name: str) -> np.ndarray:
        return getattr(self, name)


class MapIndex:
    """The cases of one database for maps and statistics (see the module's docstring)."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.vocab = {name: Vocabulary() for name in ("cls", "mix", "src", *LEVELS)}
        self.main = Columns(0)
        self.keys_m = np.zeros(0, np.uint64)  # Web Mercator Z-order keys of main, sorted
        self.keys_c = np.zeros(0, np.uint64)  # CGCS2000 Z-order keys, sorted
        self.order_c = np.zeros(0, np.int32)  # main positions in CGCS2000 order
        self._by_no = np.zeros(0, np.int64)  # main positions ordered by case number
        self._sorted_no = np.zeros(0, "S1")  # main's case numbers in that order
        self.tail = Columns(1024)
        self.tail_n = 0
        self._tail_no: dict[str, int] = {}
        self._lock = threading.Lock()
        self.build_seconds = 0.0

    def __len__(self) -> int:
        return self.main.n + self.tail_n

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def from_table(cls, table: pa.Table, version: int, reporter_grid: dict[str, str]) -> MapIndex:
        """The index of the cases read by cases.index.read_cases (the same COPY as the case index)."""
        ix = cls(version)
        n = table.num_rows
        if n == 0:
            return ix
        lon, lat = table.column("lon").to_numpy(), table.column("lat").to_numpy()
        cols = Columns(n)
        cols.xm, cols.ym = mercator(lon, lat)
        cols.xc, cols.yc = plate(lon, lat)
        cols.t = table.column("t").to_numpy().astype(np.int32)
        cols.closed = table.column("closed").to_numpy().astype(np.int32)
        klass = table.column("cls").combine_chunks()
        cols.cls = ix._encode("cls", klass)
        cols.mix = ix._encode("mix", pc.replace_substring_regex(klass, r"/[^/]*$", ""))
        status = table.column("status").combine_chunks().dictionary_encode()
        cols.st = np.array([STATUS_ID[s] for s in status.dictionary.to_pylist()], np.int8)[
            status.indices.to_numpy(zero_copy_only=False)]
        cols.src = ix._encode("src", table.column("source").combine_chunks())
        grid = table.column("grid_code").combine_chunks()
        district = pc.coalesce(table.column("district_code").combine_chunks(), pc.utf8_slice_codeunits(grid, 0, 6))
        cols.district = ix._encode("district", district)
        cols.street = ix._encode("street", pc.utf8_slice_codeunits(grid, 0, 9))
        cols.community = ix._encode("community", pc.utf8_slice_codeunits(grid, 0, 12))
        cols.unit_grid = ix._encode("unit_grid", grid)
        resp = table.column("responsibility_grid").combine_chunks()
        cols.responsibility_grid = ix._encode("responsibility_grid", resp)
        who = table.column("supervisor_id").combine_chunks().dictionary_encode()
        grids = pa.array([reporter_grid.get(s) for s in who.dictionary.to_pylist()], pa.string())
        cols.reporter_grid = ix._encode("reporter_grid", pc.take(grids, who.indices))
        keys = kernels.morton(cols.xm, cols.ym)
        order = np.argsort(keys, kind="stable")
        for name in COLUMNS:
            setattr(cols, name, getattr(cols, name)[order])
        ix.main, ix.keys_m = cols, keys[order]
        keys_c = kernels.morton(cols.xc, cols.yc)
        ix.order_c = np.argsort(keys_c, kind="stable").astype(np.int32)
        ix.keys_c = keys_c[ix.order_c]
        numbers = _fixed_bytes(table.column("case_no").combine_chunks())[order]
        ix._by_no = np.argsort(numbers, kind="stable")
        ix._sorted_no = numbers[ix._by_no]
        return ix

    def _encode(self, name: str, column: pa.Array) -> np.ndarray:
        """Ids of a text column's values in vocabulary ``name`` (0 for null)."""
        vocab = self.vocab[name]
        enc = column.dictionary_encode()
        ids = np.array([0] + [vocab.add(v) for v in enc.dictionary.to_pylist()], np.int32)
        idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
        return ids[idx]

    # -- what this process changes -----------------------------------------------------------
    def has(self, case_no: str) -> bool:
        """Whether the index holds the case."""
        return case_no in self._tail_no or self._main_position(case_no) is not None

    def _main_position(self, case_no: str) -> int | None:
        key = case_no.encode()
        width = self._sorted_no.dtype.itemsize
        if not len(self._by_no) or len(key) > width:
            return None
        # the key in the column's own dtype: another width would make numpy cast the whole column
        k = int(self._sorted_no.searchsorted(np.array(key, dtype=self._sorted_no.dtype)))
        if k < len(self._by_no) and self._sorted_no[k] == key:
            return int(self._by_no[k])
        return None

    def add(self, case_no: str, kind: str, major: str, minor: str, status: str, source: str | None,
            reported: float, closed: float | None, lon: float, lat: float, areas: dict[str, str | None]) -> None:
        """A case stored since the index was read (times as Unix seconds; areas: its codes per
        level of LEVELS)."""
        with self._lock:
            if self.tail_n == self.tail.n:
                grown = Columns(self.tail.n * 2)
                for name in COLUMNS:
                    getattr(grown, name)[: self.tail_n] = getattr(self.tail, name)[: self.tail_n]
                self.tail = grown
            c, i = self.tail, self.tail_n
            c.xm[i], c.ym[i], c.xc[i], c.yc[i] = point_units(lon, lat)
            c.t[i], c.closed[i] = int(reported) - EPOCH, NONE if closed is None else int(closed) - EPOCH
            c.cls[i] = self.vocab["cls"].add(f"{kind}/{major}/{minor}")
            c.mix[i] = self.vocab["mix"].add(f"{kind}/{major}")
            c.st[i] = STATUS_ID[status]
            c.src[i] = self.vocab["src"].add(source)
            for level in LEVELS:
                c.level(level)[i] = self.vocab[level].add(areas.get(level))
            self._tail_no[case_no] = i
            self.tail_n = i + 1  # the row is complete before readers count it

    def set_status(self, case_no: str, status: str, closed: float | None) -> None:
        """A case this process moved to another stage."""
        closed_t = NONE if closed is None else int(closed) - EPOCH
        pos = self._tail_no.get(case_no)
        if pos is not None:
            self.tail.st[pos], self.tail.closed[pos] = STATUS_ID[status], closed_t
            return
        i = self._main_position(case_no)
        if i is not None:
            self.main.st[i], self.main.closed[i] = STATUS_ID[status], closed_t

    def extent(self, zone: str) -> dict:
        """The span of the cases' report times (in ``zone``), the stages, the sources (for a filter
        panel)."""
        parts = [c.t[:n] for c, n in ((self.main, self.main.n), (self.tail, self.tail_n)) if n]
        times = [int(p.min()) for p in parts], [int(p.max()) for p in parts]

        def when(t: int) -> str:
            return dt.datetime.fromtimestamp(t + EPOCH, ZoneInfo(zone)).isoformat()

        return {"cases": len(self), "start": when(min(times[0])) if parts else None,
                "end": when(max(times[1])) if parts else None, "statuses": list(CASE_STATUS.values),
                "sources": sorted(v for v in self.vocab["src"].values if v is not None)}

    # -- filters and runs ----------------------------------------------------------------------
    def compile(self, f: CaseFilter) -> Compiled:
        """A filter as the kernels take it (tables sized to the vocabularies as they are now)."""
        with self._lock:
            tail, tail_n = self.tail, self.tail_n
        t0 = -INT_MAX if f.start is None else max(-INT_MAX, int(f.start.timestamp()) - EPOCH)
        t1 = INT_MAX if f.end is None else min(INT_MAX, math.floor(f.end.timestamp()) - EPOCH)
        cls_ok = _table(self.vocab["cls"], None if f.classes is None else {"/".join(k) for k in f.classes})
        st_ok = np.ones(N_STATUS, np.bool_)
        if f.statuses:
            st_ok[:] = False
            st_ok[[STATUS_ID[s] for s in f.statuses]] = True
        src_ok = _table(self.vocab["src"], set(f.sources) if f.sources else None)
        level, area_ok = "district", np.ones(len(self.vocab["district"]), np.bool_)
        if f.area is not None:
            level = {12: "community", 9: "street"}.get(len(f.area), "district")
            prefix = admin_prefix(f.area) if len(f.area) == 6 else f.area
            vocab = self.vocab[level]
            area_ok = np.array([v is not None and v.startswith(prefix) for v in vocab.values], np.bool_)
        rg_ok = _table(self.vocab["responsibility_grid"], {f.responsibility_grid} if f.responsibility_grid else None)
        return Compiled(t0, t1, cls_ok, st_ok, src_ok, level, area_ok, rg_ok, tail, tail_n)

    def mercator_run(self, z: int, x: int, y: int) -> tuple[int, int]:
        """The main rows of Web Mercator tile z/x/y: [a, b)."""
        return _run(self.keys_m, 32 - z, x, y)

    def plate_run(self, z: int, x: int, y: int) -> tuple[int, int]:
        """The rows (positions in ``order_c``) of CGCS2000Quad tile z/x/y: [a, b)."""
        return _run(self.keys_c, 31 - z, x, y)


def _table(vocab: Vocabulary, allowed: set[str] | None) -> np.ndarray:
    if allowed is None:
        return np.ones(len(vocab), np.bool_)
    return np.array([v in allowed for v in vocab.values], np.bool_)


def _run(keys: np.ndarray, shift: int, x: int, y: int) -> tuple[int, int]:
    base = int(kernels.morton(np.array([x], np.uint32), np.array([y], np.uint32))[0])
    lo = np.uint64(base << (2 * shift))
    hi = np.uint64(((base + 1) << (2 * shift)) - 1)
    return int(np.searchsorted(keys, lo, "left")), int(np.searchsorted(keys, hi, "right"))


def seconds(when: dt.datetime) -> int:
    return int(when.timestamp()) - EPOCH
