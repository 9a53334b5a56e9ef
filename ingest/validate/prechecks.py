"""The PostGIS checks of ``relations`` redone in the reading process, vectorised (shapely, numpy),
to sort rows into two lanes for a bulk load into an empty layer: rows that pass every check go
straight into the layer's table; the others go through staging, where the SQL checks decide and
word the report. So these checks only need to be as strict as the SQL ones, never more lenient:
a row they let through must be one the SQL would accept; a row they hold back costs only time.

They run in the reader thread while PostgreSQL takes the COPY of the previous batch (GEOS releases
the GIL), which is what puts the machine's second core to work.
"""
from __future__ import annotations

import io
import re
from typing import Callable

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
from psycopg import sql

from urbangis.layers.contract import Layer

from .relations import CHINA, DERIVED, GEOM_TYPES, INSIDE, NATURAL_KEYS, ON_EDGE, OPTIONAL_GEOMETRY, REFS

# Layers whose every SQL check has a Python twin here. A reference check holds the referenced keys
# in memory as a Python set (cases: every component code, ~100 MB per million; see KeySet).
LAYERS = {"unit_grids", "components", "responsibility_grids", "roads", "place_names", "courtyards", "storefronts",
          "organisations", "cases", "house_numbers", "buildings"}
# The SQL expressions of INSIDE rules, as (field, function of its value).
_EXPR = {"left(s.code, 6)": ("code", lambda v: pc.utf8_slice_codeunits(v, 0, 6))}
_SHAPELY_TYPES = {"POINT": 0, "LINESTRING": 1, "POLYGON": 3, "MULTIPOINT": 4, "MULTILINESTRING": 5,
                  "MULTIPOLYGON": 6}


def supported(layer: Layer) -> bool:
    """True when every check of ``layer`` has a Python twin (so the direct lane can be used)."""
    return (layer.name in LAYERS and layer.geometry is not None and layer.name not in OPTIONAL_GEOMETRY
            and all(not r.when or _WHEN.match(r.when) for r in REFS.get(layer.name, ())))


# The condition of a reference that applies to some rows only (Ref.when), as the twin reads it.
_WHEN = re.compile(r"^s\.(\w+) = '([^']*)'$")


def _condition(when: str) -> tuple[str, str]:
    """(field, value) of a reference's condition ``s.<field> = '<value>'`` (Ref.when)."""
    m = _WHEN.match(when)
    if m is None:  # supported() keeps such a layer out of the direct lane
        raise ValueError(f"a reference's condition the prechecks cannot read: {when}")
    return m[1], m[2]


class PreChecker:
    """Reference keys and area polygons of one layer's checks, fetched once from the database."""

    def __init__(self, conn: psycopg.Connection, layer: Layer) -> None:
        self.layer = layer
        if layer.geometry is None:  # supported() layers have one
            raise ValueError(f"{layer.name}: a layer without geometry has no prechecks")
        types, _ = GEOM_TYPES[layer.geometry]
        if layer.geometry == "point":
            types = ("POINT",)  # a one-point MULTIPOINT is unpacked by the merge: staging lane
        self.type_ids = np.array([_SHAPELY_TYPES[t] for t in types])
        # (field, function of its values, set of existing keys, (field, value) the rows meet)
        self.refs: list[tuple[str, Callable[[pa.Array], pa.Array] | None, KeySet, tuple[str, str] | None]] = []
        for ref in REFS.get(layer.name, ()):
            where = sql.SQL(" AND " + ref.where) if ref.where else sql.SQL("")
            keys = _keys(conn, sql.SQL("SELECT {c} FROM {t} t WHERE {c} IS NOT NULL{w}").format(
                c=sql.Identifier(ref.column), t=sql.Identifier(ref.table), w=where))
            self.refs.append((ref.field, None, KeySet(keys), _condition(ref.when) if ref.when else None))
        if layer.name == "components":  # the district the code names (Checker.references)
            keys = _keys(conn, sql.SQL("SELECT code FROM admin_areas"))
            self.refs.append(("code", _EXPR["left(s.code, 6)"][1], KeySet(keys), None))
        # natural keys (the same house number under two ids): every row's, whichever lane it takes,
        # joined into one string per row and counted at the end (Checker.duplicates)
        self.natural = NATURAL_KEYS.get(layer.name)
        self._natural: list[pa.Array] = []
        self.areas = []  # (field, function, codes, prepared polygons, lines only)
        loaded = {}  # table -> (rows, polygons)
        for rule in INSIDE.get(layer.name, ()):
            field, fn = _EXPR.get(rule.expr, (rule.expr.removeprefix("s."), None))
            rows = conn.execute(sql.SQL("SELECT code, ST_AsBinary(geom) FROM {} WHERE geom IS NOT NULL").format(
                sql.Identifier(rule.table))).fetchall()
            polys = shapely.from_wkb(np.array([r[1] for r in rows], dtype=object))
            shapely.prepare(polys)
            self.areas.append((field, fn, pa.array([r[0] for r in rows], type=pa.string()), polys, rule.lines))
            loaded[(rule.table, "")] = (rows, polys)
        self.deriver = Deriver(conn, layer, loaded)

    def passes(self, typed: dict[str, list], geoms: np.ndarray, points: "Points | None" = None) -> np.ndarray:
        """Per row: True when every geometry, reference and inside-area check of the SQL would
        pass (and nothing is left for the merge to derive). ``points``: rows given as plain x/y
        (their ``geoms`` entry is None), which skips building a GEOS point for each."""
        n = len(geoms)
        pt = points.mask if points is not None else np.zeros(n, bool)
        ok = self._geometry(geoms, pt, points)
        arrays = {}
        surface = None

        def arrow(name):  # the column as an Arrow array: set lookups in C, not per row in Python
            if name not in arrays:
                arrays[name] = pa.array(typed[name], type=pa.string())
            return arrays[name]

        for field, fn, keys, when in self.refs:
            if when is None:
                ok &= keys.holds(typed[field] if fn is None else fn(arrow(field)).to_pylist())
                continue
            rows = np.flatnonzero(pc.equal(arrow(when[0]), when[1]).fill_null(False).to_numpy(zero_copy_only=False))
            values = typed[field]
            ok[rows] &= keys.holds([values[i] for i in rows.tolist()])
        if self.natural:
            self._natural.append(pc.binary_join_element_wise(
                *(arrow(c) for c in self.natural), "\x1f", null_handling="replace", null_replacement="\x00"))
        for field, fn, index, polys, lines in self.areas:
            values = arrow(field)
            if fn is not None:
                values = fn(values)
            # the area each row names (-1: none named or not found; the reference check decides)
            idx = pc.index_in(values, value_set=index).fill_null(-1).to_numpy(zero_copy_only=False)
            test = ok & (idx >= 0)
            if not test.any():
                continue
            rows = np.flatnonzero(test & pt)
            if points is not None and len(rows):  # points: in the area, or within ON_EDGE of it
                a, x, y = polys[idx[rows]], points.x[rows], points.y[rows]
                inside = shapely.intersects_xy(a, x, y) if lines else shapely.contains_xy(a, x, y)
                out = ~inside
                if out.any():
                    inside[out] = shapely.dwithin(a[out], shapely.points(x[out], y[out]), float(ON_EDGE))
                ok[rows] = inside
            rows = np.flatnonzero(test & ~pt)
            if len(rows):
                a, g = polys[idx[rows]], geoms[rows]
                if lines:
                    inside = shapely.intersects(a, g)
                else:
                    if surface is None:  # ST_PointOnSurface, once for all rules
                        surface = np.full(n, None, dtype=object)
                        rest = np.flatnonzero(~pt)
                        surface[rest] = shapely.point_on_surface(geoms[rest])
                    p = surface[rows]
                    inside = shapely.covers(a, p)
                    out = ~inside
                    if out.any():
                        a2, g2, p2 = a[out], g[out], p[out]
                        inside[out] = shapely.dwithin(a2, p2, float(ON_EDGE)) | (
                            (shapely.get_dimensions(g2) == 1) & shapely.intersects(a2, g2))
                ok[rows] = inside
        return ok

    def natural_duplicates(self) -> bool:
        """True when two rows of the file, in either lane, share a natural key. The staging lane alone
        can word that issue as the SQL would (which row came first, among the rows without an
        error so far), so the caller then loads the layer through staging."""
        if not self._natural:
            return False
        joined = pa.chunked_array(self._natural, type=pa.string())
        return pc.count_distinct(joined).as_py() != len(joined)

    def derive(self, typed: dict[str, list], geoms: np.ndarray, points: "Points | None", ok: np.ndarray) -> dict:
        """Values the merge would derive, for the rows in ``ok`` that leave them empty (Deriver)."""
        return self.deriver.fill(typed, geoms, points, ok)

    def _geometry(self, geoms: np.ndarray, pt: np.ndarray, points: "Points | None") -> np.ndarray:
        """Present, not empty, of the layer's type, 2D, inside China, valid (Checker.geometry)."""
        ok = np.zeros(len(geoms), bool)
        if points is not None and pt.any():  # a finite 2D point is valid; its bounds are itself
            x, y = points.x[pt], points.y[pt]
            with np.errstate(invalid="ignore"):
                ok[pt] = (0 in self.type_ids) & (x >= CHINA[0]) & (y >= CHINA[1]) & (x <= CHINA[2]) & (y <= CHINA[3])
        rest = np.flatnonzero(~pt)
        if not len(rest):
            return ok
        g = geoms[rest]
        good = ~shapely.is_missing(g)
        good &= ~shapely.is_empty(g)
        kind = shapely.get_type_id(g)
        good &= np.isin(kind, self.type_ids)
        if self.layer.geometry != "any":
            good &= ~((kind == 4) & (shapely.get_num_geometries(g) != 1))
        good &= ~shapely.has_z(g)
        b = shapely.bounds(g)
        with np.errstate(invalid="ignore"):
            good &= (b[:, 0] >= CHINA[0]) & (b[:, 1] >= CHINA[1]) & (b[:, 2] <= CHINA[2]) & (b[:, 3] <= CHINA[3])
        sel = np.flatnonzero(good)
        good[sel] = shapely.is_valid(g[sel])
        ok[rest] = good
        return ok


class Deriver:
    """The areas (STRtrees) whose codes a layer's rows may leave to their location (DERIVED)."""

    def __init__(self, conn: psycopg.Connection, layer: Layer, loaded: dict | None = None) -> None:
        loaded = {} if loaded is None else loaded  # (table, where) -> (rows, polygons) already fetched
        self.derived = []  # (field, codes, STRtree of the areas, rank of each code)
        for f in layer.fields:
            derived = DERIVED.get((layer.name, f.name))
            if derived is None:
                continue
            table, where = derived.table, derived.where
            if (table, where) not in loaded:
                rows = conn.execute(sql.SQL("SELECT code, ST_AsBinary(geom) FROM {} WHERE geom IS NOT NULL{}").format(
                    sql.Identifier(table), sql.SQL(" AND " + where if where else ""))).fetchall()
                loaded[(table, where)] = (rows, shapely.from_wkb(np.array([r[1] for r in rows], dtype=object)))
            rows, polys = loaded[(table, where)]
            codes = np.array([r[0] for r in rows], dtype=object)
            rank = np.empty(len(codes), np.intp)
            rank[np.argsort(codes.astype(str), kind="stable")] = np.arange(len(codes))
            self.derived.append((f.name, codes, shapely.STRtree(polys), rank))

    def fill(self, typed: dict[str, list], geoms: np.ndarray, points: "Points | None", ok: np.ndarray) -> dict:
        """Values the merge would derive, for the rows in ``ok`` that leave them empty: field ->
        the whole column with them filled in (as merge._derive does in SQL)."""
        out = {}
        for field, codes, tree, rank in self.derived:
            values = typed[field]
            need = np.flatnonzero(ok & np.fromiter((v is None for v in values), bool, len(values)))
            if not len(need):
                continue
            p = np.empty(len(need), dtype=object)
            pm = points.mask[need] if points is not None else np.zeros(len(need), bool)
            if points is not None and pm.any():
                p[pm] = shapely.points(points.x[need[pm]], points.y[need[pm]])
            if (~pm).any():
                p[~pm] = shapely.point_on_surface(geoms[need[~pm]])
            inp, hit = tree.query(p, predicate="covered_by")
            order = np.lexsort((rank[hit], inp))  # per row, the smallest code first
            inp, hit = inp[order], hit[order]
            first = np.r_[True, inp[1:] != inp[:-1]] if len(inp) else np.zeros(0, bool)
            filled = list(values)
            for i, h in zip(inp[first].tolist(), hit[first].tolist()):
                filled[need[i]] = codes[h]
            out[field] = filled
        return out


def _keys(conn: psycopg.Connection, query: sql.Composable) -> pa.Array:
    """The values of a one-column query as an Arrow string array, fetched by COPY in CSV and parsed
    by Arrow: a million component codes arrive in well under a second."""
    buf = io.BytesIO()
    with conn.cursor().copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)) as copy:
        for chunk in copy:
            buf.write(chunk)
    if not buf.tell():
        return pa.array([], type=pa.string())
    buf.seek(0)
    table = pacsv.read_csv(buf, pacsv.ReadOptions(column_names=["v"]),
                           pacsv.ParseOptions(newlines_in_values=True),
                           pacsv.ConvertOptions(column_types={"v": pa.string()}, strings_can_be_null=False,
                                                quoted_strings_can_be_null=False))
    return table.column("v").combine_chunks()


class KeySet:
    """The keys a reference check looks values up in, batch after batch.

    Arrow's ``is_in`` builds a hash table of its value set on every call: with a million component
    codes, each 50,000-row batch of cases hashed the million again (5 s of CPU for 1M cases, on
    the core PostgreSQL needs for the COPY). A Python set is hashed once, and a batch is probed by
    ``map(set.__contains__)``, which runs in C: ~30 ns per value, for ~100 bytes per key held.
    """

    def __init__(self, keys: pa.Array) -> None:
        self._keys = frozenset(keys.to_pylist())

    def holds(self, values: list) -> np.ndarray:
        """Per value: empty (None: nothing to check) or one of the keys."""
        found = np.fromiter(map(self._keys.__contains__, values), bool, len(values))
        if None in values:
            found |= np.fromiter((v is None for v in values), bool, len(values))
        return found


class Points:
    """Rows whose geometry is a plain 2D point, read straight from their WKB (no GEOS object)."""

    def __init__(self, wkb: list) -> None:
        n = len(wkb)
        self.mask = np.fromiter((w is not None and len(w) == 21 and w[:5] == _POINT_LE for w in wkb), bool, n)
        self.x = np.full(n, np.nan)
        self.y = np.full(n, np.nan)
        rows = np.flatnonzero(self.mask)
        if len(rows):
            raw = np.frombuffer(b"".join([wkb[i] for i in rows]), dtype=np.uint8).reshape(-1, 21)
            self.x[rows] = raw[:, 5:13].copy().view("<f8").ravel()
            self.y[rows] = raw[:, 13:21].copy().view("<f8").ravel()


_POINT_LE = b"\x01\x01\x00\x00\x00"  # little-endian WKB, type 1 (2D point)


def to_table_geometry(geoms: np.ndarray, layer: Layer) -> np.ndarray:
    """Geometries as the table stores them (merge._GEOM_SQL): single polygons and lines become
    one-part multi-geometries; everything else is stored as it is (checked 2D above)."""
    if layer.geometry not in ("multipolygon", "multilinestring"):
        return geoms
    single = 3 if layer.geometry == "multipolygon" else 1
    rows = np.flatnonzero(shapely.get_type_id(geoms) == single)
    if len(rows):
        geoms = geoms.copy()
        make = shapely.multipolygons if single == 3 else shapely.multilinestrings
        geoms[rows] = make(geoms[rows], indices=np.arange(len(rows)))
    return geoms
