"""Set-based validation in PostGIS, on the staging table: geometry (type, coordinates, validity
with safe repair), duplicates within the file and against the database, parents and references,
and geometry inside the area a row declares. Each check inserts its findings into the layer's
issues table; rows with an error are then left out of the merge.
"""
from __future__ import annotations

import logging
import time

import psycopg
from psycopg import sql
from psycopg.abc import Params

from urbangis.layers.contract import LAYERS, Derived, Inside, Layer, Ref

from .. import fetch

log = logging.getLogger("urbangis.ingest")

# Geometry types each layer takes (GeometryType() names) and the dimension repairs must keep.
GEOM_TYPES: dict[str, tuple[tuple[str, ...], int | None]] = {
    "multipolygon": (("POLYGON", "MULTIPOLYGON"), 3),
    "multilinestring": (("LINESTRING", "MULTILINESTRING"), 2),
    "point": (("POINT", "MULTIPOINT"), 1),
    "areal_or_point": (("POINT", "POLYGON", "MULTIPOLYGON"), None),
    "any": (("POINT", "MULTIPOINT", "LINESTRING", "MULTILINESTRING", "POLYGON", "MULTIPOLYGON"), None),
}
# The rules between rows, from the contract (layers/contract.py), by layer.
OPTIONAL_GEOMETRY = {layer.name for layer in LAYERS if layer.optional_geometry}
# China's extent with a margin: data outside it is in the wrong CRS or has lon/lat swapped.
CHINA = (73.0, 3.0, 136.0, 54.0)
WORLD = (-180.0, -90.0, 180.0, 90.0)  # a load with --outside-china (demonstration data over foreign imagery)
REFS: dict[str, tuple[Ref, ...]] = {layer.name: layer.refs for layer in LAYERS if layer.refs}
INSIDE: dict[str, tuple[Inside, ...]] = {layer.name: layer.inside for layer in LAYERS if layer.inside}
# The merge derives these codes in SQL (merge._derive), a bulk load's reading process with GEOS
# (prechecks.Deriver).
DERIVED: dict[tuple[str, str], Derived] = {(layer.name, f.name): f.derived for layer in LAYERS
                                           for f in layer.fields if f.derived}

# A point this close to its area's edge counts as inside (degrees: ~4 m east-west, ~5.5 m
# north-south in Xinjiang): field surveys of components are good to a few metres, and a point
# snapped onto a shared boundary falls on either side by rounding.
ON_EDGE = "0.00005"

# Natural keys: the same thing under two ids is a duplicate even when the ids differ.
NATURAL_KEYS: dict[str, tuple[str, ...]] = {layer.name: layer.natural_key for layer in LAYERS if layer.natural_key}


class Checker:
    """Runs the checks of one layer against its staging and issues tables."""

    def __init__(self, conn: psycopg.Connection, layer: Layer, stage: str, issues: str, columns: dict[str, str],
                 extent: tuple[float, float, float, float] = CHINA):
        self.conn = conn
        self.layer = layer
        self.extent = extent  # where rows may lie (lon0, lat0, lon1, lat1)
        self.s = sql.Identifier(stage)
        self.i = sql.Identifier(issues)
        self.columns = columns  # contract field -> name in the file, for messages

    def col(self, field: str) -> str:
        return self.columns.get(field, field)

    def ok(self, alias: str = "s") -> sql.Composable:
        """Rows without an error so far."""
        return sql.SQL("NOT EXISTS (SELECT 1 FROM {i} e WHERE e.row_no = {a}.row_no AND e.severity = 'error')").format(
            i=self.i, a=sql.Identifier(alias))

    def add(self, select: sql.Composable, params: Params = ()) -> int:
        """Insert (row_no, field, value, reason, severity) rows produced by ``select``."""
        t0 = time.perf_counter()
        cur = self.conn.execute(
            sql.SQL("INSERT INTO {i} (row_no, field, value, reason, severity) {q}").format(i=self.i, q=select), params)
        if cur.rowcount > 1000:  # the next checks' plans must know how many rows are now in error
            self.conn.execute(sql.SQL("ANALYZE {}").format(self.i))
        log.debug("%s check: %d issue(s) in %.2f s: %s", self.layer.name, cur.rowcount, time.perf_counter() - t0,
                  select.as_string(self.conn)[:90])
        return cur.rowcount

    # -- geometry ---------------------------------------------------------------------------
    def geometry(self) -> None:
        """No geometry, empty, wrong type, not lon/lat, outside China (one pass: the first problem of
        each row), then invalid ones (repaired if safe)."""
        if not self.layer.geometry:
            return
        types, dim = GEOM_TYPES[self.layer.geometry]
        xy = "format('%%s %%s', round(ST_XMin(geom)::numeric, 6), round(ST_YMin(geom)::numeric, 6))"
        self.add(sql.SQL(
            "SELECT row_no, 'geometry', v, r, 'error' FROM (SELECT row_no, CASE "
            "  WHEN geom IS NULL THEN NULL WHEN ST_IsEmpty(geom) THEN NULL "
            "  WHEN NOT (GeometryType(geom) = ANY(%(types)s)) OR GeometryType(geom) = 'MULTIPOINT' "
            "    AND NOT %(any)s AND ST_NumGeometries(geom) <> 1 THEN GeometryType(geom) ELSE " + xy + " END v, CASE "
            "  WHEN geom IS NULL THEN CASE WHEN %(optional)s THEN NULL ELSE 'the row has no geometry' END "
            "  WHEN ST_IsEmpty(geom) THEN 'the geometry is empty' "
            "  WHEN NOT (GeometryType(geom) = ANY(%(types)s)) OR GeometryType(geom) = 'MULTIPOINT' "
            "    AND NOT %(any)s AND ST_NumGeometries(geom) <> 1 "
            "    THEN 'a ' || GeometryType(geom) || ' where layer {l} takes ' || %(names)s "
            "  WHEN ST_XMin(geom) < -180 OR ST_XMax(geom) > 180 OR ST_YMin(geom) < -90 OR ST_YMax(geom) > 90 "
            "    OR ST_XMin(geom) = 'NaN' OR ST_YMin(geom) = 'NaN' "
            "    THEN 'coordinates are not longitude/latitude degrees: the CRS is wrong or undeclared "
            "(pass --source-crs, e.g. EPSG:4538 or EPSG:3857)' "
            "  WHEN NOT (ST_XMin(geom) >= %(x0)s AND ST_YMin(geom) >= %(y0)s AND ST_XMax(geom) <= %(x1)s "
            "    AND ST_YMax(geom) <= %(y1)s) "
            "    THEN 'lies outside China (lon 73..136, lat 3..54): wrong CRS, or longitude and latitude swapped?' "
            "  END r FROM {s}) g WHERE r IS NOT NULL").format(s=self.s, l=sql.SQL(self.layer.name)),
            {"types": list(types), "any": self.layer.geometry == "any", "names": " or ".join(types),
             "optional": self.layer.name in OPTIONAL_GEOMETRY, "x0": self.extent[0], "y0": self.extent[1],
             "x1": self.extent[2], "y1": self.extent[3]})
        self._repair(dim)

    def _repair(self, dim: int | None) -> None:
        """Invalid geometries: repaired when two repair methods agree (the fix is unambiguous),
        rejected otherwise. A bow-tie splits into two triangles either way; a hole poking out of
        its shell gives different answers, so nobody but its author knows what was meant."""
        rows = self.conn.execute(sql.SQL(
            "SELECT row_no, ST_IsValidReason(geom), GeometryType(geom) FROM {s} s "
            "WHERE geom IS NOT NULL AND NOT ST_IsEmpty(geom) AND {ok} AND NOT ST_IsValid(geom)")
            .format(s=self.s, ok=self.ok())).fetchall()
        for row_no, reason, gtype in rows:
            target = dim or {"POINT": 1, "MULTIPOINT": 1, "LINESTRING": 2, "MULTILINESTRING": 2}.get(gtype, 3)
            safe, fixed_wkb = fetch.one(self.conn.execute(sql.SQL(
                "WITH g AS (SELECT geom FROM {s} WHERE row_no = %s), "
                "f AS (SELECT ST_CollectionExtract(ST_MakeValid(geom), %s) a, "
                "  CASE WHEN %s = 3 THEN ST_CollectionExtract(ST_MakeValid(geom, 'method=structure'), 3) END b, "
                "  geom FROM g) "
                "SELECT CASE WHEN ST_IsEmpty(a) THEN false "
                "  WHEN %s = 3 THEN ST_Area(ST_SymDifference(a, b)) <= 0.001 * ST_Area(a) "
                "  WHEN %s = 2 THEN abs(ST_Length(a) - ST_Length(geom)) <= 0.001 * ST_Length(geom) "
                "  ELSE false END, a FROM f").format(s=self.s),
                (row_no, target, target, target, target)))
            if safe:
                self.conn.execute(sql.SQL("UPDATE {s} SET geom = %s WHERE row_no = %s").format(s=self.s),
                                  (fixed_wkb, row_no))
                self.add(sql.SQL("SELECT %s, 'geometry', %s, %s, 'warning'"),
                         (row_no, reason, "invalid geometry repaired (the repair is unambiguous); check it"))
            else:
                self.add(sql.SQL("SELECT %s, 'geometry', %s, %s, 'error'"),
                         (row_no, reason, "invalid geometry that cannot be repaired safely; fix it at the source"))

    # -- duplicates -------------------------------------------------------------------------
    def duplicates(self, key_in_db_is_update: bool = True) -> None:
        """The key twice in the file; the same thing (natural key) twice in the file or the database."""
        key = self.layer.key
        q = sql.SQL
        # keys seen twice first (a hash aggregate), then only their rows: cheap when there are none
        self.add(q("SELECT row_no, %s, {k}, 'duplicate ' || %s || ' ' || {k} || ' (first at row ' || first || ')', "
                   "'error' FROM (SELECT s.row_no, s.{k}, min(s.row_no) OVER (PARTITION BY s.{k}) first FROM {s} s "
                   "WHERE s.{k} IN (SELECT {k} FROM {s} GROUP BY {k} HAVING count(*) > 1)) d WHERE row_no > first")
                 .format(k=sql.Identifier(key), s=self.s), (self.col(key), key))
        nk = NATURAL_KEYS.get(self.layer.name)
        if not nk:
            return
        cols = [sql.Identifier(c) for c in nk]
        tup = q("({})").format(q(", ").join(q("s.{}").format(c) for c in cols))
        shown = q(" || ' / ' || ").join(q("coalesce(s.{}::text, '')").format(c) for c in cols)
        self.add(q("SELECT row_no, %s, {shown}, 'the same ' || %s || ' as row ' || first || ' under another ' || %s, "
                   "'error' FROM (SELECT s.*, min(row_no) OVER (PARTITION BY {tup}) first FROM {s} s WHERE {ok}) s "
                   "WHERE row_no > first").format(shown=shown, tup=tup, s=self.s, ok=self.ok()),
                 (" + ".join(self.col(c) for c in nk), " + ".join(nk), key))
        self.add(q("SELECT s.row_no, %s, {shown}, 'the database already holds the same ' || %s || ' under ' || "
                   "%s || ' ' || t.{k}, 'error' FROM {s} s JOIN {t} t ON {join} AND t.{k} <> s.{k} WHERE {ok}")
                 .format(shown=shown, s=self.s, t=sql.Identifier(self.layer.table), k=sql.Identifier(key),
                         join=q(" AND ").join(q("t.{c} = s.{c}").format(c=c) for c in cols), ok=self.ok()),
                 (" + ".join(self.col(c) for c in nk), " + ".join(nk), key))

    # -- references -------------------------------------------------------------------------
    def references(self) -> None:
        """Parents and referenced rows exist: in the database, or among this load's accepted rows."""
        if self.layer.name == "admin_areas":
            self._admin_parents()
            return
        if self.layer.name == "supervisors":
            self.add(sql.SQL(
                "SELECT s.row_no, %s, g, 'responsibility grid ' || g || ' does not exist', 'error' "
                "FROM {s} s, unnest(s.grid_codes) g WHERE {ok} AND NOT EXISTS "
                "(SELECT 1 FROM responsibility_grids t WHERE t.code = g)").format(s=self.s, ok=self.ok()),
                (self.col("grid_codes"),))
            return
        for ref in REFS.get(self.layer.name, ()):
            f = sql.Identifier(ref.field)
            cond = sql.SQL(" AND " + ref.where) if ref.where else sql.SQL("")
            when = sql.SQL(" AND " + ref.when) if ref.when else sql.SQL("")
            self.add(sql.SQL(
                "SELECT s.row_no, %s, s.{f}, %s || ' ' || s.{f} || ' does not exist (neither in the database nor "
                "among the rows accepted so far)', 'error' FROM {s} s WHERE s.{f} IS NOT NULL{when} AND {ok} "
                "AND NOT EXISTS (SELECT 1 FROM {t} t WHERE t.{c} = s.{f}{cond})").format(
                    f=f, s=self.s, when=when, ok=self.ok(), t=sql.Identifier(ref.table),
                    c=sql.Identifier(ref.column), cond=cond),
                (self.col(ref.field), ref.what))
        if self.layer.name == "components":
            self.add(sql.SQL(
                "SELECT s.row_no, %s, s.code, 'district ' || left(s.code, 6) || ' (first 6 digits of the code) "
                "does not exist', 'error' FROM {s} s WHERE {ok} AND NOT EXISTS "
                "(SELECT 1 FROM admin_areas t WHERE t.code = left(s.code, 6))").format(s=self.s, ok=self.ok()),
                (self.col("code"),))

    def _admin_parents(self) -> None:
        """A street's and a community's parent exists; repeated because a rejected street takes its
        communities with it."""
        while True:
            n = self.add(sql.SQL(
                "SELECT s.row_no, %s, s.parent_code, 'parent ' || s.parent_code || ' does not exist (neither in "
                "the database nor among the accepted rows of this file)', 'error' FROM {s} s "
                "WHERE s.level IN ('street', 'community') AND s.parent_code IS NOT NULL AND {ok} "
                "AND NOT EXISTS (SELECT 1 FROM admin_areas t WHERE t.code = s.parent_code "
                "  AND NOT EXISTS (SELECT 1 FROM {s} x WHERE x.code = t.code)) "
                "AND NOT EXISTS (SELECT 1 FROM {s} p WHERE p.code = s.parent_code AND {okp})").format(
                    s=self.s, ok=self.ok(), okp=self.ok("p")), (self.col("parent_code"),))
            if n == 0:
                break

    # -- inside the declared area -----------------------------------------------------------
    def inside(self) -> None:
        """A row's geometry lies in the district / community / grid it names."""
        if self.layer.name == "admin_areas":
            self.add(sql.SQL(
                "SELECT s.row_no, 'geometry', s.parent_code, 'lies outside its parent ' || s.parent_code, 'error' "
                "FROM {s} s JOIN LATERAL (SELECT coalesce((SELECT p.geom FROM {s} p WHERE p.code = s.parent_code "
                "  LIMIT 1), (SELECT t.geom FROM admin_areas t WHERE t.code = s.parent_code)) AS geom) a ON true "
                "WHERE s.level IN ('street', 'community') AND s.geom IS NOT NULL AND a.geom IS NOT NULL AND {ok} "
                "AND NOT (ST_Covers(a.geom, ST_PointOnSurface(s.geom)) "
                "  OR ST_DWithin(a.geom, ST_PointOnSurface(s.geom), {e}))").format(
                    s=self.s, ok=self.ok(), e=sql.SQL(ON_EDGE)))
            return
        rules = INSIDE.get(self.layer.name, ())
        if not rules:
            return
        # one pass for all of a layer's areas: rows sorted by area, so PostGIS's prepared-geometry
        # cache holds each area's polygon while its rows are tested; only the columns needed
        inside = ("(ST_Covers(a.geom, s.p) OR ST_DWithin(a.geom, s.p, {e}) "
                  "OR ST_Dimension(s.g) = 1 AND ST_Intersects(a.geom, s.g))")
        parts = []
        for rule in rules:
            test = "ST_Intersects(a.geom, s.g)" if rule.lines else inside
            # the value shown is the field as given (a component's full code), the reason names the
            # area derived from it (its district 650102)
            parts.append(sql.SQL(
                "SELECT s.row_no, %s AS field, s.given AS value, 'lies outside its ' || %s || ' ' || s.v AS reason "
                "FROM (SELECT s.row_no, " + rule.expr + " AS v, s.{f}::text AS given, s.geom g, "
                "ST_PointOnSurface(s.geom) p "
                "FROM {s} s WHERE s.geom IS NOT NULL AND " + rule.expr + " IS NOT NULL AND {ok} ORDER BY 2) s "
                "JOIN {t} a ON a.code = s.v WHERE a.geom IS NOT NULL AND NOT " + test).format(
                    s=self.s, t=sql.Identifier(rule.table), ok=self.ok(), e=sql.SQL(ON_EDGE),
                    f=sql.Identifier(rule.field)))
        params = tuple(x for rule in rules for x in (self.col(rule.field), rule.what))
        self.add(sql.SQL("SELECT row_no, field, value, reason, 'error' FROM ({}) x").format(
            sql.SQL(" UNION ALL ").join(parts)), params)

    def in_callers_area(self, area: str) -> None:
        """Rows whose geometry misses the caller's area, or whose key names a feature stored outside
        it (an update would move another area's feature), are errors: what a caller bound to an area
        may not write (the same rule as the tables' row-level security, migration 0013)."""
        layer = self.layer
        if layer.geometry is None:
            return
        self.add(sql.SQL(
            "SELECT s.row_no, 'geometry', NULL, 'lies outside the caller''s area ' || %s, 'error' "
            "FROM {s} s LEFT JOIN admin_areas a ON a.code = %s WHERE s.geom IS NOT NULL AND {ok} "
            "AND (a.geom IS NULL OR NOT ST_Intersects(a.geom, s.geom)) "
            "UNION ALL "
            "SELECT s.row_no, %s, s.{k}::text, 'updates a feature outside the caller''s area ' || %s, 'error' "
            "FROM {s} s JOIN {t} x ON x.{k} = s.{k} LEFT JOIN admin_areas a ON a.code = %s WHERE {ok} "
            "AND (a.geom IS NULL OR NOT ST_Intersects(a.geom, x.geom))").format(
                s=self.s, t=sql.Identifier(layer.table), k=sql.Identifier(layer.key), ok=self.ok()),
            (area, area, self.col(layer.key), area, area))


def geometry_checks(checker: Checker) -> None:
    """Geometry checks only (run before anything that reads the geometry)."""
    checker.geometry()


def check_relations(checker: Checker, area: str | None = None) -> None:
    """Duplicates, references and areas, in that order (later checks skip rows already rejected);
    with ``area`` (a caller bound to it, docs/access.md), the rows must lie in it."""
    checker.duplicates()
    checker.references()
    checker.inside()
    if area is not None:
        checker.in_callers_area(area)
