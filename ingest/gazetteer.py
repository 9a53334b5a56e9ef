"""Loading a gazetteer (a folder of layer files, a GeoPackage, a zip of either) or one layer file
into the database, validated, in one transaction.

Each layer is read in batches, COPYed into a temporary staging table, checked (values in Python,
relations and geometry in PostGIS), and its rows without errors are upserted into the real table.
Layers go in contract order, parents first, so a child is checked against parents accepted in the
same load. ``strict`` (the default) commits only when no row has an error; ``strict=False`` loads
the good rows and reports the others. Anything unexpected rolls the whole load back.
"""
from __future__ import annotations

import contextlib
import logging
import queue
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from pathlib import Path

import numpy as np
import psycopg
import shapely
from psycopg import sql
from psycopg.pq import TransactionStatus

from urbangis.layers import migrate as migrate_mod
from urbangis.layers import partitions
from urbangis.layers.contract import BY_NAME

from . import crs as crs_mod
from . import direct as direct_mod
from . import fetch, locks, staging
from . import merge as merge_mod
from .formats import TABLE_SUFFIXES, ReadError, open_layer, rejected
from .formats.base import LayerReader
from .lanes import Lane, Prepared
from .options import LoadError, LoadOptions, LoadRejected, Progress  # noqa: F401 (imported from here by callers)
from .plan import Task, plan
from .report import IssueLog, LayerReport, RejectedWriter, Report, is_special, write_json, write_table
from .validate import RowConverter, check_relations, gauss_kruger, geometry_checks, match_columns, offsets
from .validate.prechecks import Deriver
from .validate.relations import CHINA, DERIVED, OPTIONAL_GEOMETRY, WORLD, Checker
from .validate.rows import missing_required

log = logging.getLogger("urbangis.ingest")

BULK_ROWS = 100_000  # a load this big into an empty layer rebuilds the layer's indexes once at the end
# a staging load this big whose file lacks a column derived from the location (a case's grid and
# district) derives it in the reading process (an STRtree over the areas, ~1 us a row) rather than
# leave it to PostGIS in the merge (~20 us a row for the grid: one index probe each)
DERIVE_ROWS = 5_000


@dataclass
class _Context:
    conn: psycopg.Connection
    options: LoadOptions
    report: Report
    issues: IssueLog
    rejected: RejectedWriter | None
    workdir: Path
    extra: list = field(default_factory=list)
    replaced: set = field(default_factory=set)  # layers --replace has emptied in this load


def prefetch(items, depth: int = 1):
    """Produce ``items`` in a thread, ``depth`` ahead: the next batch is read and converted while
    the database takes the COPY of this one (GDAL and libpq release the GIL while they work)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=work, name="urbangis-read", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


# -- one layer ---------------------------------------------------------------------------------
def _file_issue(ctx: _Context, task: Task, reason: str, severity: str = "error") -> None:
    ctx.issues.add([{"file": task.label, "layer": task.layer.name, "row": None, "field": None, "value": None,
                     "reason": reason, "severity": severity}])


def _first_rows_checks(conn: psycopg.Connection, task: Task, reader, mapping: dict[str, str],
                       source: crs_mod.SourceCRS) -> None:
    """LoadError when the file's first rows are metres though taken as degrees (no CRS said:
    validate/gauss_kruger.py), or look like GCJ-02 or BD-09 coordinates (validate/offsets.py)."""
    try:
        with contextlib.closing(iter(reader.batches(offsets.SAMPLE))) as batches:
            batch = next(batches, None)
    except ReadError as exc:
        raise LoadError(str(exc)) from exc
    if batch is None:
        return
    geoms = batch.geoms if batch.geoms is not None else (
        shapely.from_wkb(np.asarray(batch.wkb, dtype=object), on_invalid="ignore") if batch.wkb is not None else None)
    if geoms is None:
        return
    said = gauss_kruger.verdict(conn, geoms) if source.assumed else None
    if not said and offsets.applies(task.layer, mapping):
        said = offsets.verdict(conn, task.layer, mapping, batch.columns, geoms)
    if said:
        raise LoadError(f"{task.label}: {said}")


def _quiet(*_) -> None:
    """No progress callback: nothing to say."""


def _load_layer(ctx: _Context, task: Task, last: bool = False) -> LayerReport:
    """Load one file (sheet, feature class) into its layer; ``last``: nothing is loaded after it.
    Three stages: prepare the file, choose the lane (direct COPY or staged upsert), load through it."""
    t0 = time.perf_counter()
    result = LayerReport(task.layer.name, task.label)
    ctx.report.layers.append(result)
    job = _prepare(ctx, task, result, t0)
    if job is None:  # an empty sheet of a file said to be one layer: skipped
        return result
    lane = _choose_lane(ctx, job, last)
    done = _load_direct(ctx, job, lane) if lane.direct else None
    if done is None:
        done = _load_staged(ctx, job, lane)
    if job.layer.table in partitions.BY_MONTH and lane.finish:  # rows of months without a partition: moved into theirs
        partitions.settle(ctx.conn)
    return done


# -- stage 1: prepare --------------------------------------------------------------------------
def _prepare(ctx: _Context, task: Task, result: LayerReport, t0: float) -> Prepared | None:
    """Open the file, decide its CRS, match its columns, build its converter; None: an empty file skipped."""
    reader = _open(ctx, task)
    if reader is None:
        return None
    source, override = _decide_crs(ctx, task, reader, result)
    outlines = _geometry(ctx, task, reader, source)
    mapping, converter = _convert(task, reader, ctx.options.timezone)
    if outlines and source.is_target and override is None and not getattr(reader, "geocoded", False) \
            and (source.assumed or offsets.applies(task.layer, mapping)):
        _first_rows_checks(ctx.conn, task, reader, mapping, source)
    return Prepared(task, reader, mapping, converter, source, outlines, reader.total, reader.estimate, result, t0)


def _open(ctx: _Context, task: Task) -> LayerReader | None:
    """The file's reader, its warnings into the report; None when it is empty and may be skipped."""
    try:
        reader = open_layer(task.path, task.inner, geocode=ctx.options.geocode, encoding=ctx.options.encoding,
                            where=task.where)
    except ReadError as exc:
        raise LoadError(str(exc)) from exc
    if reader.total == 0:  # before asking for columns or geometry an empty file does not have
        if task.optional:
            _file_issue(ctx, task, f"{task.label}: empty, skipped", "warning")
            return None
        raise LoadError(f"{task.label}: no rows to load (the layer is empty)")
    for w in reader.warnings:
        _file_issue(ctx, task, w.reason, w.severity)
    return reader


def _decide_crs(ctx: _Context, task: Task, reader: LayerReader,
                result: LayerReport) -> tuple[crs_mod.SourceCRS, crs_mod.SourceCRS | None]:
    """The file's source CRS, and the one --source-crs imposes on it (None: the file's own)."""
    layer = task.layer
    override = ctx.options.source_crs
    if getattr(reader, "geocoded", False):
        override = None  # the geocoder answers in CGCS2000 whatever the file's coordinates would be
    if reader.crs_error and override is None:
        raise LoadError(reader.crs_error)
    source = crs_mod.resolve(reader.declared_crs, override)
    result.source_crs = source.label if layer.geometry and reader.has_geometry else ""
    shift_unknown = crs_mod.unknown_shift(source) if layer.geometry and reader.has_geometry else None
    if shift_unknown and override is None:
        raise LoadError(f"{task.label}: {shift_unknown}")
    if shift_unknown:
        _file_issue(ctx, task, f"converted from {source.label} by the ellipsoid alone, as --source-crs asked: "
                               "tens of metres off CGCS2000 (no datum shift is known)", "warning")
    return source, override


def _geometry(ctx: _Context, task: Task, reader: LayerReader, source: crs_mod.SourceCRS) -> bool:
    """Whether the file has the layer's geometry (its outlines); refused where the layer needs it."""
    layer = task.layer
    outlines = bool(layer.geometry) and reader.has_geometry  # what this file says of the layer's geometry
    if layer.geometry and not reader.has_geometry and layer.name not in OPTIONAL_GEOMETRY:
        raise LoadError(f"{task.label}: layer {layer.name} needs geometry, and this file has none "
                        "(for CSV/XLSX: columns lon/lng/x/经度 and lat/y/纬度, a WKT column, or an address column)")
    if layer.geometry and not outlines and ctx.options.replace:
        raise LoadError(f"{task.label}: has no geometry, and replacing {layer.name} with it (--replace, replace over "
                        "HTTP) would drop every outline; load it without replacing (names, levels and parents are "
                        "updated, outlines kept, codes it lacks stay), or replace with a file that has the outlines")
    if layer.geometry and not outlines:  # a code list of admin areas: names, levels, parents
        _file_issue(ctx, task, f"{task.label}: no geometry; the outlines the database holds for these codes are "
                               "kept, and new codes are loaded without one", "warning")
    elif layer.geometry and source.assumed:
        _file_issue(ctx, task, "the file declares no CRS; coordinates taken as EPSG:4490 (CGCS2000). "
                               "Give the source CRS (--source-crs, source_crs over HTTP; e.g. gcj02 for Amap/Tencent, "
                               "bd09 for Baidu) if not", "warning")
    return outlines


def _convert(task: Task, reader: LayerReader, zone: str) -> tuple[dict[str, str], RowConverter]:
    """The file's column for each field of the layer, and the converter of its rows."""
    layer = task.layer
    mapping = match_columns(layer, reader.columns)
    missing = missing_required(layer, mapping)
    if missing:
        raise LoadError(f"{task.label}: layer {layer.name} lacks required field(s) {', '.join(missing)}; "
                        f"the file has {', '.join(reader.columns) or 'no fields'}")
    used = set(mapping.values())
    if rejected.is_rejected_file(reader.columns):  # a rejected-rows file, fixed: its bookkeeping is not data
        used |= set(rejected.FIELDS)
    return mapping, RowConverter(layer, mapping, [c for c in reader.columns if c not in used], zone)


# -- stage 2: choose the lane ------------------------------------------------------------------
def _choose_lane(ctx: _Context, job: Prepared, last: bool) -> Lane:
    """Settle --replace for this file (emptying the layer unless built aside) and choose direct COPY or staging."""
    conn, options, layer, expected = ctx.conn, ctx.options, job.layer, job.expected
    # once per layer: the files, sheets or feature classes after the first one of a layer
    # (案件5月.csv, 案件6月.csv; 部件_点, 部件_线) add to what it loaded, they do not replace it
    replacing = options.replace and layer.name not in ctx.replaced
    if replacing:
        ctx.replaced.add(layer.name)
    # a big load built in a new table swapped in at the end (readers keep the old rows meanwhile)
    # replaces the old rows there; any other replace empties the layer first
    aside = direct_mod.eligible_aside(conn, layer, expected, replacing)
    if replacing and not aside:
        job.result.deleted = merge_mod.replace(conn, layer, bulk=direct_mod.big(layer, expected))
    # rows just deleted from a table other tables' deferred foreign keys point at: its indexes stay
    keep_indexes = bool(job.result.deleted) and merge_mod.referenced(conn, layer)
    (options.progress or _quiet)(layer.name, 0, expected, "reading")
    # a caller bound to an area loads through staging, where its rows are checked against the area
    direct = options.area is None and not options.outside_china and (
        aside or (not keep_indexes and direct_mod.eligible(conn, layer, expected)))
    return Lane(direct, aside, replacing, keep_indexes, finish=not (options.check_only and last))


# -- stage 3: load, through the direct lane ----------------------------------------------------
def _load_direct(ctx: _Context, job: Prepared, lane: Lane) -> LayerReport | None:
    """The direct lane in a savepoint; None when it cannot settle the load (rolled back): staging takes it."""
    conn, layer = ctx.conn, job.layer
    try:
        with conn.transaction():  # a savepoint: what the direct lane cannot settle goes through staging
            return _run_direct(ctx, job, lane)
    except (direct_mod.Fallback, psycopg.errors.IntegrityError, psycopg.errors.DataError,
            psycopg.errors.ObjectInUse, psycopg.errors.DependentObjectsStillExist) as exc:
        # ObjectInUse: pending trigger events; DependentObjectsStillExist: a view made on the
        # table while it was built aside (the swap cannot drop the old one)
        log.info("%s: loading through staging instead (%s)", layer.name, _pg_message(exc)
                 if isinstance(exc, psycopg.Error) else exc)
        job.result.rows = 0
        if lane.aside and lane.replacing:  # the old rows are still there: empty the layer as any replace does
            job.result.deleted = merge_mod.replace(conn, layer, bulk=True)
        return None


def _run_direct(ctx: _Context, job: Prepared, lane: Lane) -> LayerReport:
    """The direct lane (ingest/direct.py) of a big load into an empty layer, or, ``lane.aside``, into a
    new table swapped in for the layer's (ingest/swap.py)."""
    conn, options, layer, task, reader, result = ctx.conn, ctx.options, job.layer, job.task, job.reader, job.result
    progress = options.progress or _quiet
    try:
        out, stage, issues_table = direct_mod.load(
            conn, job, lane, reader.batches(options.batch_size), prefetch,
            lambda done, phase: progress(layer.name, done, reader.estimate, phase))
    except ReadError as exc:
        raise LoadError(str(exc)) from exc
    result.rows = out.rows
    if reader.total is not None and result.rows != reader.total:
        raise LoadError(f"{task.label}: the file says it holds {reader.total} rows but only {result.rows} could "
                        "be read; it is truncated or damaged")
    progress(layer.name, result.rows, result.rows, "reporting")
    _collect(ctx, task, stage, issues_table, result, job.mapping)
    result.inserted = out.inserted
    result.unchanged = result.updated = 0
    if lane.aside and lane.replacing:
        result.deleted = out.deleted
    conn.execute(sql.SQL("DROP TABLE {}, {}").format(sql.Identifier(stage), sql.Identifier(issues_table)))
    result.seconds = time.perf_counter() - job.t0
    progress(layer.name, result.rows, result.rows, "done")
    log.info("%s: %d rows from %s (%s): %d inserted (direct), %d rejected in %.1f s", layer.name, result.rows,
             task.label, job.source.label, result.inserted, result.rejected, result.seconds)
    return result


# -- stage 3: load, through staging ------------------------------------------------------------
def _load_staged(ctx: _Context, job: Prepared, lane: Lane) -> LayerReport:
    """The staging lane: COPY into a staging table, check there, report, upsert into the layer."""
    conn, layer, result = ctx.conn, job.layer, job.result
    progress = ctx.options.progress or _quiet
    stage, issues_table = _stage(ctx, job)
    t_read = time.perf_counter()
    progress(layer.name, result.rows, result.rows, "validating")
    checker = Checker(conn, layer, stage, issues_table, job.mapping,
                      extent=WORLD if ctx.options.outside_china else CHINA)
    geometry_checks(checker)
    check_relations(checker, ctx.options.area)
    t_check = time.perf_counter()
    progress(layer.name, result.rows, result.rows, "reporting")
    _collect(ctx, job.task, stage, issues_table, result, job.mapping)
    progress(layer.name, result.rows, result.rows, "merging")
    t_collect = time.perf_counter()
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(issues_table)))
    rebuild = []
    empty = merge_mod.is_empty(conn, layer)
    if result.rows >= BULK_ROWS and empty and not lane.keep_indexes:
        rebuild = merge_mod.drop_indexes(conn, layer)
    counts = merge_mod.merge(conn, layer, stage, issues_table, empty=empty, geometry=job.outlines,
                             kept=merge_mod.kept_fields(layer, job.mapping, job.converter.extras))
    merge_mod.create_indexes(conn, rebuild)
    log.debug("%s: read+copy %.1f s, checks %.1f s, report %.1f s, merge %.1f s", layer.name, t_read - job.t0,
              t_check - t_read, t_collect - t_check, time.perf_counter() - t_collect)
    result.inserted, result.updated, result.unchanged = counts.inserted, counts.updated, counts.unchanged
    conn.execute(sql.SQL("DROP TABLE {}, {}").format(sql.Identifier(stage), sql.Identifier(issues_table)))
    result.seconds = time.perf_counter() - job.t0
    progress(layer.name, result.rows, result.rows, "done")
    log.info("%s: %d rows from %s (%s): %d inserted, %d updated, %d unchanged, %d rejected in %.1f s",
             layer.name, result.rows, job.task.label, job.source.label, result.inserted, result.updated,
             result.unchanged, result.rejected, result.seconds)
    return result


def _stage(ctx: _Context, job: Prepared) -> tuple[str, str]:
    """Read the file into a new staging table (its rows) and issues table (the values' issues), analysed."""
    conn, layer, result, task = ctx.conn, job.layer, job.result, job.task
    progress = ctx.options.progress or _quiet
    stage, issues_table = staging.create(conn, layer)
    kinds = [f.kind for f in staging.stage_fields(layer)]
    names = [f.name for f in staging.stage_fields(layer)]
    deriver = _deriver(ctx, job)
    batches = _staged_batches(job, ctx.options.batch_size, deriver, names)
    try:
        with staging.short_gil_slices(), contextlib.closing(prefetch(batches)) as items:
            for batch, columns, issues, geom in items:
                _copy_batch(conn, stage, columns, geom, kinds, batch, task.label)
                if issues:
                    staging.copy_issues(conn, issues_table, issues)
                result.rows += len(batch)
                progress(layer.name, result.rows, job.expected, "reading")
    except ReadError as exc:
        raise LoadError(str(exc)) from exc
    if job.total is not None and result.rows != job.total:
        # GDAL stops quietly at the end of a cut .dbf or .shp; the header knows how many there were
        raise LoadError(f"{task.label}: the file says it holds {job.total} rows but only {result.rows} could be "
                        "read; it is truncated or damaged")
    if result.rows == 0:
        raise LoadError(f"{task.label}: no rows to load (the layer is empty)")
    # temporary tables get no autovacuum statistics; without them the planner picks nested loops
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(stage)))
    return stage, issues_table


def _deriver(ctx: _Context, job: Prepared) -> Deriver | None:
    """What derives the columns the file lacks from the location in the reading process, when it is worth it."""
    layer = job.layer
    if layer.geometry and (job.expected is None or job.expected >= DERIVE_ROWS) and any(
            field not in job.mapping for name, field in DERIVED if name == layer.name):
        return Deriver(ctx.conn, layer)
    return None


def _staged_batches(job: Prepared, batch_size: int, deriver: Deriver | None, names: list[str]):
    """The file's batches converted for staging (in the prefetch thread): (batch, columns, issues, geometry)."""
    layer, source = job.layer, job.source
    for batch in job.reader.batches(batch_size):
        columns, issues = job.converter.convert(batch)
        geom = staging.geometry_hex(batch, source) if layer.geometry else None
        if deriver is not None:
            geoms, points = direct_mod.batch_geometry(batch, source)
            located = ~shapely.is_missing(geoms) | (points.mask if points is not None else False)
            for name, values in deriver.fill(dict(zip(names, columns[1:-1])), geoms, points, located).items():
                columns[names.index(name) + 1] = values
        yield batch, columns, issues, geom


def _copy_batch(conn: psycopg.Connection, stage: str, columns: list, geom: list | None, kinds: list, batch,
                label: str) -> None:
    """COPY one batch into staging. WKB that GDAL handed over untouched (staging.geometry_hex's fast
    path) and PostGIS cannot read (a damaged GeoPackage blob: an unknown geometry type, a record
    cut short) fails the load naming its row, as a damaged file does, instead of with PostGIS's
    internal error. (Not read again per row: that takes a savepoint per batch, and past 64 of them
    every other session's snapshots slow down while the load runs.)"""
    try:
        staging.copy_rows(conn, stage, columns, geom, kinds)
    except (psycopg.errors.InternalError_, psycopg.DataError) as exc:
        where = re.search(r"line (\d+), column geom", exc.diag.context or "")
        if batch.wkb is None or where is None:
            raise
        row = batch.rows[int(where.group(1)) - 1]
        raise LoadError(f"{label}: row {row}: its geometry cannot be read, the file is damaged "
                        f"({exc.diag.message_primary}); nothing was loaded") from None


def _collect(ctx: _Context, task: Task, stage: str, issues_table: str, result: LayerReport,
             mapping: dict[str, str]) -> None:
    """Issues of the layer into the report; rejected rows into the rejected-rows file."""
    conn = ctx.conn
    i, s = sql.Identifier(issues_table), sql.Identifier(stage)
    with conn.cursor(name=f"issues_{task.layer.name}") as cur:
        cur.itersize = 10_000
        # with each issue the row's own key (the code or id staff look the feature up by in their GIS)
        cur.execute(sql.SQL("SELECT e.row_no, e.field, e.value, e.reason, e.severity, s.{k}::text FROM {i} e "
                            "LEFT JOIN {s} s ON s.row_no = e.row_no "
                            "ORDER BY e.row_no NULLS FIRST, e.severity, e.field").format(
                                i=i, s=s, k=sql.Identifier(task.layer.key)))
        for row in cur:
            ctx.issues.add([{"file": task.label, "layer": task.layer.name, "row": row[0], "key": row[5],
                             "field": row[1], "value": row[2], "reason": row[3], "severity": row[4]}])
    result.rejected, result.warnings = fetch.one(conn.execute(sql.SQL(
        "SELECT count(DISTINCT row_no) FILTER (WHERE severity = 'error'), "
        "count(*) FILTER (WHERE severity <> 'error') FROM {}").format(i)))
    if result.rejected and ctx.rejected is not None:
        geom = "ST_AsGeoJSON(s.geom, 9)" if task.layer.geometry else "NULL"
        # a value the row could not keep (a date that is none, a number that is text) is staged as
        # NULL; the issue holds it as given, under the file's column name (上报时间 for reported_at),
        # and it goes back in its field, for staff to correct
        fields = [f.name for f in staging.stage_fields(task.layer)]
        columns = {column: name for name, column in mapping.items()}
        with conn.cursor(name=f"rejected_{task.layer.name}") as cur:
            cur.itersize = 5_000
            cur.execute(sql.SQL(
                "SELECT s.row_no, coalesce(r.given, '{{}}') || jsonb_strip_nulls(to_jsonb(s) - 'geom' - 'row_no' "
                "- 'attrs' || coalesce(s.attrs, '{{}}')), " + geom + ", r.reasons FROM {s} s JOIN ("
                "SELECT row_no, array_agg(coalesce(field || ': ', '') || reason ORDER BY field) reasons, "
                "jsonb_object_agg(coalesce(m.name, field), value) FILTER (WHERE coalesce(m.name, field) = ANY(%s) "
                "AND value IS NOT NULL) given FROM {i} LEFT JOIN unnest(%s::text[], %s::text[]) m(col, name) "
                "ON m.col = field WHERE severity = 'error' GROUP BY row_no) r USING (row_no) "
                "ORDER BY s.row_no").format(s=s, i=i), (fields, list(columns), list(columns.values())))
            ctx.rejected.add(task.layer.name, task.label, cur, fields=[f.name for f in task.layer.fields],
                             as_table=task.path.suffix.lower() in TABLE_SUFFIXES)


# -- a whole load ------------------------------------------------------------------------------
def report_paths(report_path: Path) -> dict[str, Path]:
    """Where the JSON report, its table and the rejected rows go."""
    report_path = Path(report_path)
    stem = report_path.name[: -len(report_path.suffix)] if report_path.suffix else report_path.name
    return {"json": report_path, "table": report_path.with_name(stem + ".txt"),
            "rejected": report_path.with_name(stem + ".rejected.geojson")}


def rejected_table_path(report_path: Path, layer: str) -> Path:
    """Where the rejected rows of ``layer`` read from a CSV or XLSX go, as CSV."""
    json_path = report_paths(report_path)["rejected"]
    return json_path.with_name(json_path.name[: -len(".geojson")] + f".{layer}.csv")


def _require_schema(conn: psycopg.Connection) -> None:
    """Refuse to load into a database whose schema is missing or behind this version's."""
    todo = migrate_mod.pending(conn)
    if todo:
        name = conn.info.dbname
        raise LoadError(
            f"database {name} is not ready for a load: {len(todo)} schema migration(s) not applied "
            f"(first: {todo[0].version:04d}_{todo[0].name}); run `urbangis db migrate` against it first"
        )


def load_gazetteer(conn: psycopg.Connection, source: Path, options: LoadOptions | None = None, **kw) -> Report:
    """Load every contract layer found in ``source`` in one transaction; returns the report.

    Raises LoadRejected (strict mode, rows with errors) or LoadError (unreadable input, database
    failure); in both cases the database is exactly as before.
    """
    options = dc_replace(options or LoadOptions(), **kw)
    if options.check_only:  # every row judged as --skip-invalid would, so the report says what would load
        options = dc_replace(options, strict=False)
    mode = "check" if options.check_only else "strict" if options.strict else "skip-invalid"
    report = Report(options.source_label or str(source), mode=mode, replace=options.replace)
    issue_log = IssueLog(report)
    stream, paths, rejected = _report_files(options)
    error: LoadError | None = None
    try:
        _load_all(conn, source, options, report, issue_log, rejected)
    except LoadError as exc:
        error = exc
        _failed(report, issue_log, source, exc)
    except BaseException:  # Ctrl-C, a crash: the transaction was rolled back on the way out
        report.outcome = "failed"
        report.message = "interrupted; nothing was loaded"
        raise
    else:
        if options.check_only:
            report.outcome = "checked"
            report.message = (f"nothing written: {report.loaded} rows would load, "
                              f"{report.rejected} would be rejected")
        else:
            report.outcome = "loaded"
            report.message = f"{report.loaded} rows loaded, {report.rejected} rejected"
    finally:
        _write_report(report, issue_log, rejected, paths, stream)
    if error is not None:
        error.report = report
        raise error
    return report


def _report_files(options: LoadOptions) -> tuple[Path | None, dict[str, Path] | None, RejectedWriter | None]:
    """Where the report goes (a special file, or its paths) and the rejected rows' writer; stale files removed."""
    # --report /dev/null (or a pipe): the JSON goes there as it is, and no table or rejected rows
    # beside it (/dev/null.txt)
    stream = options.report_path if options.report_path and is_special(options.report_path) else None
    paths = report_paths(options.report_path) if options.report_path and stream is None else None
    if paths:
        paths["json"].parent.mkdir(parents=True, exist_ok=True)
        for stale in [paths["rejected"], *(rejected_table_path(paths["json"], name) for name in BY_NAME)]:
            stale.unlink(missing_ok=True)  # left by an earlier run, it would mislead
    rejected = RejectedWriter(paths["rejected"], lambda layer: rejected_table_path(paths["json"], layer)) \
        if paths else None
    return stream, paths, rejected


def _load_all(conn: psycopg.Connection, source: Path, options: LoadOptions, report: Report, issue_log: IssueLog,
              rejected: RejectedWriter | None) -> None:
    """Plan the load and run it in one transaction; database failures as LoadError."""
    with tempfile.TemporaryDirectory(prefix="urbangis-load-") as work:
        ctx = _Context(conn, options, report, issue_log, rejected, Path(work))
        notes: list[str] = []
        tasks = plan(Path(source), options, Path(work), notes)
        issue_log.add([{"file": Path(str(source)).name, "layer": None, "row": None, "field": None, "value": None,
                        "reason": note, "severity": "warning"} for note in notes])
        _require_schema(conn)
        if conn.info.transaction_status != TransactionStatus.IDLE:
            conn.commit()  # the load is its own transaction
        try:
            _transaction(ctx, tasks)
        except _CheckedOnly:
            pass
        except locks.TableInUse as exc:
            raise LoadError(str(exc)) from exc
        except psycopg.errors.IntegrityError as exc:
            raise LoadError(f"rejected by the database, nothing loaded: {_pg_message(exc)}") from exc
        except psycopg.errors.DataError as exc:
            raise LoadError(f"rejected by the database, nothing loaded: {_pg_message(exc)}") from exc
        except psycopg.OperationalError as exc:
            raise LoadError(f"database failure during the load, nothing loaded: {_pg_message(exc)}") from exc


def _transaction(ctx: _Context, tasks: list[Task]) -> None:
    """Load every task in one transaction; rolled back when strict and rows have errors, or only checking."""
    conn, options, report = ctx.conn, ctx.options, ctx.report
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL TimeZone = {}").format(sql.Literal(options.timezone)))
        if conn.info.server_version >= 140000:
            # a loader killed mid-statement: PostgreSQL otherwise finds out only when the
            # statement (a check over millions of rows) ends, holding the layer's locks
            conn.execute("SET LOCAL client_connection_check_interval = '2s'")
        for i, task in enumerate(tasks):
            _load_layer(ctx, task, last=i == len(tasks) - 1)
        _check_deferred(conn)
        if options.strict and report.errors:
            raise LoadRejected(_rejection_message(report))
        if options.check_only:
            raise _CheckedOnly  # rolls the transaction back: nothing is written


def _failed(report: Report, issue_log: IssueLog, source: Path, exc: LoadError) -> None:
    """The report of a load that failed or was rejected: why, and nothing counted as loaded."""
    report.outcome = "rejected" if isinstance(exc, LoadRejected) else "failed"
    report.message = str(exc)
    if not isinstance(exc, LoadRejected) and not any(it.get("row") is None and it["severity"] == "error"
                                                     for it in report.issues):
        issue_log.add([{"file": Path(str(source)).name, "layer": None, "row": None, "field": None,
                        "value": None, "reason": str(exc), "severity": "error"}])
    for layer in report.layers:
        layer.inserted = layer.updated = layer.unchanged = layer.deleted = 0


def _write_report(report: Report, issue_log: IssueLog, rejected: RejectedWriter | None,
                  paths: dict[str, Path] | None, stream: Path | None) -> None:
    """Close the rejected rows' file and write the report (JSON and table, or the JSON to ``stream``)."""
    if rejected is not None:
        rejected.close()
    if paths:
        paths["json"].parent.mkdir(parents=True, exist_ok=True)
        report.files = {"json": str(paths["json"]), "table": str(paths["table"])}
        if rejected is not None and rejected.count:
            report.files["rejected"] = str(paths["rejected"])
            for layer, path in rejected.tables.items():
                report.files[f"rejected_csv:{layer}"] = str(path)
        write_json(report, issue_log, paths["json"])
        write_table(report, issue_log, paths["table"])
    elif stream is not None:
        report.files = {"json": str(stream)}
        write_json(report, issue_log, stream)
    issue_log.close()


class _CheckedOnly(Exception):
    """Raised at the end of a check-only load to roll its transaction back."""


def _rejection_message(report: Report) -> str:
    layers = ", ".join(f"{r.layer} {r.rejected}" for r in report.layers if r.rejected)
    first = next((it for it in report.issues if it["severity"] == "error"), None)
    where = ""
    if first is not None:
        where = (f"; first: {first['file']} row {first['row']}"
                 f"{', ' + str(first['field']) if first['field'] else ''}"
                 f"{' = ' + repr(first['value']) if first['value'] is not None else ''}: {first['reason']}")
    return (f"{report.rejected} row(s) have errors ({layers}){where}. Nothing was loaded (strict mode: fix "
            "them, or pass --skip-invalid to load the other rows)")


def _check_deferred(conn: psycopg.Connection) -> None:
    """Run the deferred constraints now, so their failure is reported here and not at COMMIT."""
    conn.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _pg_message(exc: psycopg.Error) -> str:
    diag = exc.diag
    text = diag.message_primary or str(exc).splitlines()[0]
    if diag.message_detail:
        text += f" ({diag.message_detail})"
    if diag.table_name:
        text += f" [table {diag.table_name}]"
    return text


def database_is_empty(conn: psycopg.Connection) -> bool:
    """True when no gazetteer has been loaded yet."""
    return fetch.one(conn.execute("SELECT NOT EXISTS (SELECT 1 FROM admin_areas)"))[0]
