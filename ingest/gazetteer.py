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
import os
import queue
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace as dc_replace
from pathlib import Path
from typing import Callable

import numpy as np
import psycopg
import shapely
from psycopg import sql
from psycopg.pq import TransactionStatus

from layers import migrate as migrate_mod
from layers.contract import BY_NAME, LAYERS, TITLE_ZH, Layer

from . import crs as crs_mod
from . import direct as direct_mod
from . import merge as merge_mod
from . import locks, staging
from .formats import (DATA_SUFFIXES, MULTI_LAYER, MULTI_LAYER_SUFFIXES, TABLE_SUFFIXES, WORKBOOKS, ReadError,
                      detect_kind, list_layers, open_layer, rejected)
from .formats import xls
from .formats.archive import MAX_TOTAL, extract
from .formats.tabular import Geocode
from .report import IssueLog, LayerReport, RejectedWriter, Report, is_special, write_json, write_table
from .validate import RowConverter, check_relations, gauss_kruger, geometry_checks, match_columns, offsets
from .validate.prechecks import Deriver
from .validate.relations import DERIVED, OPTIONAL_GEOMETRY, Checker
from .validate.rows import FROM_CODE

log = logging.getLogger("urbangis.ingest")

BULK_ROWS = 100_000  # a load this big into an empty layer rebuilds the layer's indexes once at the end
# a staging load this big whose file lacks a column derived from the location (a case's grid and
# district) derives it in the reading process (an STRtree over the areas, ~1 us a row) rather than
# leave it to PostGIS in the merge (~20 us a row for the grid: one index probe each)
DERIVE_ROWS = 5_000
Progress = Callable[[str, int, "int | None", str], None]  # layer, rows done, total, phase


class LoadError(ValueError):
    """The input cannot be loaded; nothing was written. ``report`` says why, row by row if it can."""

    def __init__(self, message: str, report: Report | None = None) -> None:
        super().__init__(message)
        self.report = report


class LoadRejected(LoadError):
    """Strict mode: some rows have errors, so nothing was loaded (see the report)."""


@dataclass
class LoadOptions:
    """How to load; every field has the default data staff want."""

    source_crs: crs_mod.SourceCRS | None = None  # overrides what the files declare
    strict: bool = True  # all or nothing; False: load the good rows, report the rest
    replace: bool = False  # empty each loaded layer first
    layer: str | None = None  # contract layer of a single file whose name does not say it
    batch_size: int = 50_000
    geocode: Geocode | None = None  # address -> (lon, lat) in EPSG:4490, for tables without coordinates
    report_path: Path | None = None  # JSON report; the table (.txt) and rejected rows go beside it
    progress: Progress | None = None
    timezone: str = "Asia/Shanghai"  # for times written without an offset
    encoding: str | None = None  # force a text encoding (else .cpg / detection)
    max_unpacked: int = MAX_TOTAL  # zip archives: largest total unpacked size
    source_label: str | None = None  # how the report names the source (default: its path)
    check_only: bool = False  # validate and report what a load would do, then roll it back


@dataclass
class Task:
    layer: Layer
    path: Path
    inner: str | None = None  # layer inside a GeoPackage or KML, sheet of an XLSX
    where: str | None = None  # only these rows (a rejected-rows file: one layer's)
    # an inner layer taken because the whole file was said to be one layer (--layer, or its name):
    # if it is empty (Excel's blank Sheet2), it is skipped with a warning, not an error
    optional: bool = False
    shown: str | None = None  # the file's path inside the folder it was found in (五月/案件.csv)

    @property
    def label(self) -> str:
        if self.shown:
            return self.shown
        if self.where is not None:
            return f"{self.path.name}:{self.layer.name}"
        return f"{self.path.name}:{self.inner}" if self.inner and self.inner != self.path.stem else self.path.name


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


# -- what to load ------------------------------------------------------------------------------
# Chinese file names data staff give their exports (案件2024年5月.csv, 部件普查.xlsx): the layer
# whose Chinese title the file's name starts with
LAYER_NAMES_ZH = {zh: name for name, zh in TITLE_ZH.items()}


def _layer_for_name(stem: str) -> Layer | None:
    stem = stem.lower()
    if stem in BY_NAME:
        return BY_NAME[stem]
    for layer in sorted(LAYERS, key=lambda l: -len(l.name)):
        if stem.startswith(layer.name) and stem[len(layer.name)] in "-_. ":
            return layer
    for zh, name in LAYER_NAMES_ZH.items():
        if stem.startswith(zh):
            return BY_NAME[name]
    return None


def _unpack(source: Path, options: LoadOptions, workdir: Path) -> Path:
    """A zip (or KMZ) unpacked into ``workdir`` once shown to be safe; the folder holding its data."""
    try:
        return extract(source, workdir / source.stem, max_total=options.max_unpacked)
    except ReadError as exc:
        raise LoadError(str(exc)) from exc


def _kml_of_kmz(source: Path, options: LoadOptions, workdir: Path) -> Path:
    """The KML of a KMZ, unpacked as safely as any zip, named as the KMZ was (so the layer its name
    says is found): its doc.kml, else its one .kml at the top."""
    folder = _unpack(source, options, workdir)
    kmls = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".kml")
    main = next((p for p in kmls if p.name.lower() == "doc.kml"), kmls[0] if len(kmls) == 1 else None)
    if main is None:
        raise LoadError(f"{source.name}: a KMZ holds its data in doc.kml, and this one has "
                        f"{', '.join(p.name for p in kmls) or 'no .kml at its top level'}")
    return main.rename(main.with_name(source.stem + ".kml"))


def _named_layer(name: str) -> Layer:
    layer = BY_NAME.get(name)
    if layer is None:
        raise LoadError(f"unknown layer {name!r}; the layers are {', '.join(BY_NAME)}")
    return layer


def plan(source: Path, options: LoadOptions, workdir: Path, notes: list[str] | None = None) -> list[Task]:
    """The (layer, file) pairs to load from ``source``, in contract order; what it leaves out of
    ``source`` (a GeoPackage's layer, a workbook's sheet no contract layer is named for) is said
    in ``notes``."""
    notes = [] if notes is None else notes
    source = Path(source)
    try:
        kind = detect_kind(source)
    except ReadError as exc:
        raise LoadError(str(exc)) from exc
    if kind == "zip":
        return plan(_unpack(source, options, workdir), options, workdir, notes)
    if kind == "folder":
        # files named after a layer (roads.geojson, 案件5月.csv and 案件6月.csv: several may go to one)
        files: dict[str, list[Path]] = {}
        data = _data_files(source)
        for p in data:
            layer = _layer_for_name(p.stem)
            if layer is not None:
                files.setdefault(layer.name, []).append(p)
        # a GeoPackage, File Geodatabase, KML or workbook named for no layer, holding some that are
        # (成果/城管普查.gdb with its feature classes 单元网格 and 部件)
        inner = {p: found for p in data if p.suffix.lower() in _CONTAINERS and _layer_for_name(p.stem) is None
                 and (found := _layers_inside(p))}
        if options.layer:
            layer = _named_layer(options.layer)
            chosen = files.get(layer.name, []) + [p for p, found in inner.items() if layer in found]
            if not chosen:
                if len(data) == 1:
                    return plan(data[0], options, workdir, notes)
                raise LoadError(f"{source.name}: no file for layer {layer.name} (expected e.g. {layer.name}.geojson)")
        elif not files and not inner:
            if len(data) == 1 and data[0].suffix.lower() in MULTI_LAYER_SUFFIXES:  # one multi-layer file
                return plan(data[0], options, workdir, notes)
            raise LoadError(f"{source.name}: no layer of the gazetteer contract found "
                            "(expected files named after layers, e.g. roads.geojson, cases.csv)")
        else:
            chosen = [p for layer in LAYERS for p in files.get(layer.name, ())] + list(inner)
        tasks = [t for p in chosen for t in _file_tasks(p, source, options, workdir, notes)]
        tasks.sort(key=lambda t: LAYERS.index(t.layer))  # contract order; a file's own order within a layer
        notes.extend(f"{source.name}/{p.relative_to(source)} is not loaded (its name is no layer's"
                     f"{'; --layer ' + options.layer + ' takes only the files named for it' if options.layer else ''})"
                     for p in data if p not in chosen)
        return tasks
    if kind == "kmz":
        return plan(_kml_of_kmz(source, options, workdir), options, workdir, notes)
    if kind == "xls":  # read as the .xlsx copy of it, under its own name
        copy = _xlsx_of_xls(source, workdir)
        tasks = plan(copy, options, workdir, notes)
        for t in tasks:
            t.shown = t.label.replace(copy.name, source.name, 1)
        return tasks
    if kind in ("csv", *WORKBOOKS) and rejected.may_be_table(source, kind):
        tasks = _rejected_table(source, kind, options)
        if tasks:
            return tasks
    if kind in MULTI_LAYER or kind in WORKBOOKS:
        try:
            names = list_layers(source)
        except ReadError as exc:
            raise LoadError(str(exc)) from exc
        if kind not in WORKBOOKS or len(names) > 1:  # a workbook of one sheet is read as the file
            return _plan_inner(source, names, options, notes)
    if kind == "geojson":
        try:
            again = rejected.layers_in(source)
        except ReadError as exc:
            raise LoadError(str(exc)) from exc
        if again is not None:  # a rejected-rows file, fixed: each row back to the layer it names
            return [Task(layer, source, where=rejected.where(layer.name))
                    for layer in _rejected_layers(source, again, options)]
    layer = _named_layer(options.layer) if options.layer else _layer_for_name(source.stem)
    if layer is None:
        raise LoadError(f"{source.name}: cannot tell which layer this file is; name it after the layer "
                        f"(e.g. cases.csv) or pass --layer ({', '.join(BY_NAME)})")
    return [Task(layer, source)]


_CONTAINERS = (".gpkg", ".gdb", ".kml", ".xlsx", ".ods")  # files whose layers are listed cheaply


def _layers_inside(path: Path) -> set[Layer]:
    """The contract layers the layers (sheets) inside ``path`` are named for; none if it cannot be
    opened (it is then left out like any file named for no layer, and said so)."""
    try:
        return {layer for name in list_layers(path) if (layer := _layer_for_name(name)) is not None}
    except ReadError:
        return set()


FOLDER_DEPTH = 3  # a zip of 数据/网格/单元网格.shp, 数据/案件/2024/案件5月.csv


def _data_files(folder: Path) -> list[Path]:
    """The data files in ``folder`` and its subfolders (a folder per layer, per month ...), down to
    FOLDER_DEPTH (deeper ones are not even listed); hidden ones and macOS's __MACOSX left out. A
    File Geodatabase (a folder itself) is one of them, not looked into."""
    out = []
    for top, dirs, names in os.walk(folder):
        depth = len(Path(top).relative_to(folder).parts)
        gdbs = [d for d in dirs if d.lower().endswith(".gdb") and not d.startswith(".")]
        out += [Path(top) / d for d in gdbs]
        dirs[:] = [] if depth + 1 >= FOLDER_DEPTH else [d for d in dirs if not d.startswith(".") and d != "__MACOSX"
                                                        and d not in gdbs]
        out += [Path(top) / n for n in names if not n.startswith(".") and Path(n).suffix.lower() in DATA_SUFFIXES]
    return sorted(out, key=lambda p: p.relative_to(folder).parts)


def _file_tasks(path: Path, folder: Path, options: LoadOptions, workdir: Path, notes: list[str]) -> list[Task]:
    """The tasks of one file of a folder, planned as the file alone would be (every sheet of a
    workbook, every layer of a GeoPackage or KML, an .xls or KMZ read through its copy), shown
    by their path inside the folder."""
    rel = path.relative_to(folder)
    tasks = plan(path, options, workdir / "in" / rel, notes)
    if len(rel.parts) > 1:
        for t in tasks:
            t.shown = str(rel.parent / t.label)
    return tasks


def _xlsx_of_xls(source: Path, workdir: Path) -> Path:
    try:
        return xls.to_xlsx(source, workdir / (source.stem + ".xlsx"))
    except ReadError as exc:
        raise LoadError(str(exc)) from exc


def _plan_inner(source: Path, names: list[str], options: LoadOptions, notes: list[str]) -> list[Task]:
    """The layers of a GeoPackage or KML, or the sheets of a workbook: those named after a contract
    layer (cases, cases_2024, 案件; several may go to one layer, as a KML's folders of one kind of
    component do) in contract order, then the file's. When none is, and the file is said to be one
    layer (--layer, or its own name: 案件2024.xlsx with sheets 五月 and 六月), every one goes to it.
    Those left out are said in ``notes``."""
    found = [(layer, name) for name in names if (layer := _layer_for_name(name)) is not None]
    whole = _named_layer(options.layer) if options.layer else _layer_for_name(source.stem)
    if options.layer:
        tasks = [Task(whole, source, name) for found_layer, name in found if found_layer is whole]
    else:
        tasks = [Task(layer, source, name) for layer in LAYERS for found_layer, name in found if found_layer is layer]
    if not tasks and whole is not None:
        tasks = [Task(whole, source, name, optional=len(names) > 1) for name in names]
    if not tasks:
        raise LoadError(f"{source.name}: no layer of the gazetteer contract found (it has "
                        f"{', '.join(names) or 'no layers'}); name the layers after the contract or pass --layer")
    taken = {t.inner for t in tasks}
    for name in names:
        if name not in taken:
            notes.append(f"{source.name}: {name!r} is not loaded (no contract layer is named for it"
                         f"{'; --layer ' + options.layer + ' takes only the ones named for it' if options.layer else ''})")
    return tasks


def _rejected_table(source: Path, kind: str, options: LoadOptions) -> list[Task] | None:
    """A rejected-rows CSV or XLSX, fixed (perhaps saved by Excel as XLSX): its one layer's task;
    None for any other table."""
    from .formats.tabular import TableReader

    try:
        again = rejected.table_layers(TableReader(source, kind, encoding=options.encoding))
    except ReadError as exc:
        raise LoadError(str(exc)) from exc
    if again is None:
        return None
    layers = _rejected_layers(source, again, options)
    if len(again) > 1:
        raise LoadError(f"{source.name}: its rows name layers {', '.join(again)} in _layer; a table holds "
                        "one layer's rows (as the loader writes them): split it by layer")
    return [Task(layers[0], source)]


def _rejected_layers(source: Path, named: list[str], options: LoadOptions) -> list[Layer]:
    """The layers to load from a rejected-rows file whose rows name ``named`` in ``_layer``."""
    unknown = [name for name in named if name not in BY_NAME]
    if unknown:
        raise LoadError(f"{source.name}: rows name layer(s) {', '.join(unknown)} in _layer; the layers are "
                        f"{', '.join(BY_NAME)}")
    wanted = [_named_layer(options.layer)] if options.layer else LAYERS
    layers = [layer for layer in wanted if layer.name in named]
    if not layers:
        raise LoadError(f"{source.name}: no row of layer {options.layer} (its rows are of "
                        f"{', '.join(named) or 'no layer'})")
    return layers


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


def _load_layer(ctx: _Context, task: Task, last: bool = False) -> LayerReport:
    """Load one file (sheet, feature class) into its layer; ``last``: nothing is loaded after it."""
    conn, options, layer = ctx.conn, ctx.options, task.layer
    t0 = time.perf_counter()
    result = LayerReport(layer.name, task.label)
    ctx.report.layers.append(result)
    progress = options.progress or (lambda *_: None)
    try:
        reader = open_layer(task.path, task.inner, geocode=options.geocode, encoding=options.encoding,
                            where=task.where)
    except ReadError as exc:
        raise LoadError(str(exc)) from exc
    if reader.total == 0:  # before asking for columns or geometry an empty file does not have
        if task.optional:
            _file_issue(ctx, task, f"{task.label}: empty, skipped", "warning")
            return result
        raise LoadError(f"{task.label}: no rows to load (the layer is empty)")
    for w in reader.warnings:
        _file_issue(ctx, task, w.reason, w.severity)
    override = options.source_crs
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
    outlines = bool(layer.geometry) and reader.has_geometry  # what this file says of the layer's geometry
    if layer.geometry and not reader.has_geometry and layer.name not in OPTIONAL_GEOMETRY:
        raise LoadError(f"{task.label}: layer {layer.name} needs geometry, and this file has none "
                        "(for CSV/XLSX: columns lon/lng/x/经度 and lat/y/纬度, a WKT column, or an address column)")
    if layer.geometry and not outlines and options.replace:
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
    mapping = match_columns(layer, reader.columns)
    missing = [f for f in layer.required if f not in mapping and not (
        (layer.name, f) in FROM_CODE and "code" in mapping)]
    if missing:
        raise LoadError(f"{task.label}: layer {layer.name} lacks required field(s) {', '.join(missing)}; "
                        f"the file has {', '.join(reader.columns) or 'no fields'}")
    used = set(mapping.values())
    if rejected.is_rejected_file(reader.columns):  # a rejected-rows file, fixed: its bookkeeping is not data
        used |= set(rejected.FIELDS)
    converter = RowConverter(layer, mapping, [c for c in reader.columns if c not in used])
    if outlines and source.is_target and override is None and not getattr(reader, "geocoded", False) \
            and (source.assumed or offsets.applies(layer, mapping)):
        _first_rows_checks(conn, task, reader, mapping, source)
    total, expected = reader.total, reader.estimate
    # once per layer: the files, sheets or feature classes after the first one of a layer
    # (案件5月.csv, 案件6月.csv; 部件_点, 部件_线) add to what it loaded, they do not replace it
    replacing = options.replace and layer.name not in ctx.replaced
    if replacing:
        ctx.replaced.add(layer.name)
    # a big load built in a new table swapped in at the end (readers keep the old rows meanwhile)
    # replaces the old rows there; any other replace empties the layer first
    aside = direct_mod.eligible_aside(conn, layer, expected, replacing)
    if replacing and not aside:
        result.deleted = merge_mod.replace(conn, layer, bulk=direct_mod.big(layer, expected))
    # rows just deleted from a table other tables' deferred foreign keys point at: its indexes stay
    keep_indexes = bool(result.deleted) and merge_mod.referenced(conn, layer)
    progress(layer.name, 0, expected, "reading")
    if aside or (not keep_indexes and direct_mod.eligible(conn, layer, expected)):
        try:
            with conn.transaction():  # a savepoint: what the direct lane cannot settle goes through staging
                done = _load_direct(ctx, task, reader, converter, source, mapping, result, t0, aside, replacing,
                                    finish=not (options.check_only and last))
        except (direct_mod.Fallback, psycopg.errors.IntegrityError, psycopg.errors.DataError,
                psycopg.errors.ObjectInUse, psycopg.errors.DependentObjectsStillExist) as exc:
            # ObjectInUse: pending trigger events; DependentObjectsStillExist: a view made on the
            # table while it was built aside (the swap cannot drop the old one)
            log.info("%s: loading through staging instead (%s)", layer.name, _pg_message(exc)
                     if isinstance(exc, psycopg.Error) else exc)
            result.rows = 0
            if aside and replacing:  # the old rows are still there: empty the layer as any replace does
                result.deleted = merge_mod.replace(conn, layer, bulk=True)
        else:
            return done
    stage, issues_table = staging.create(conn, layer)
    kinds = [f.kind for f in staging.stage_fields(layer)]
    names = [f.name for f in staging.stage_fields(layer)]
    deriver = None
    if layer.geometry and (expected is None or expected >= DERIVE_ROWS) and any(
            field not in mapping for name, field in DERIVED if name == layer.name):
        deriver = Deriver(conn, layer)
    try:
        def prepared():
            for batch in reader.batches(options.batch_size):
                columns, issues = converter.convert(batch)
                geom = staging.geometry_hex(batch, source) if layer.geometry else None
                if deriver is not None:
                    geoms, points = direct_mod.batch_geometry(batch, source)
                    located = ~shapely.is_missing(geoms) | (points.mask if points is not None else False)
                    for name, values in deriver.fill(dict(zip(names, columns[1:-1])), geoms, points,
                                                     located).items():
                        columns[names.index(name) + 1] = values
                yield batch, columns, issues, geom

        with staging.short_gil_slices(), contextlib.closing(prefetch(prepared())) as items:
            for batch, columns, issues, geom in items:
                staging.copy_rows(conn, stage, columns, geom, kinds)
                if issues:
                    staging.copy_issues(conn, issues_table, issues)
                result.rows += len(batch)
                progress(layer.name, result.rows, expected, "reading")
    except ReadError as exc:
        raise LoadError(str(exc)) from exc
    if total is not None and result.rows != total:
        # GDAL stops quietly at the end of a cut .dbf or .shp; the header knows how many there were
        raise LoadError(f"{task.label}: the file says it holds {total} rows but only {result.rows} could be "
                        "read; it is truncated or damaged")
    if result.rows == 0:
        raise LoadError(f"{task.label}: no rows to load (the layer is empty)")
    # temporary tables get no autovacuum statistics; without them the planner picks nested loops
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(stage)))
    t_read = time.perf_counter()
    progress(layer.name, result.rows, result.rows, "validating")
    checker = Checker(conn, layer, stage, issues_table, mapping)
    geometry_checks(checker)
    check_relations(checker)
    t_check = time.perf_counter()
    progress(layer.name, result.rows, result.rows, "reporting")
    _collect(ctx, task, stage, issues_table, result, mapping)
    progress(layer.name, result.rows, result.rows, "merging")
    t_collect = time.perf_counter()
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(issues_table)))
    rebuild = []
    empty = merge_mod.is_empty(conn, layer)
    if result.rows >= BULK_ROWS and empty and not keep_indexes:
        rebuild = merge_mod.drop_indexes(conn, layer)
    counts = merge_mod.merge(conn, layer, stage, issues_table, empty=empty, geometry=outlines)
    merge_mod.create_indexes(conn, rebuild)
    log.debug("%s: read+copy %.1f s, checks %.1f s, report %.1f s, merge %.1f s", layer.name, t_read - t0,
              t_check - t_read, t_collect - t_check, time.perf_counter() - t_collect)
    result.inserted, result.updated, result.unchanged = counts.inserted, counts.updated, counts.unchanged
    conn.execute(sql.SQL("DROP TABLE {}, {}").format(sql.Identifier(stage), sql.Identifier(issues_table)))
    result.seconds = time.perf_counter() - t0
    progress(layer.name, result.rows, result.rows, "done")
    log.info("%s: %d rows from %s (%s): %d inserted, %d updated, %d unchanged, %d rejected in %.1f s",
             layer.name, result.rows, task.label, source.label, result.inserted, result.updated,
             result.unchanged, result.rejected, result.seconds)
    return result


def _load_direct(ctx: _Context, task: Task, reader, converter: RowConverter, source: crs_mod.SourceCRS,
                 mapping: dict[str, str], result: LayerReport, t0: float, aside: bool,
                 replacing: bool, finish: bool) -> LayerReport:
    """The direct lane (ingest/direct.py) of a big load into an empty layer, or, ``aside``, into a
    new table swapped in for the layer's (ingest/swap.py)."""
    conn, options, layer = ctx.conn, ctx.options, task.layer
    progress = options.progress or (lambda *_: None)
    try:
        out, stage, issues_table = direct_mod.load(
            conn, layer, reader.batches(options.batch_size), converter.convert, source, mapping, prefetch,
            lambda done, phase: progress(layer.name, done, reader.estimate, phase), aside, replacing,
            finish=finish)
    except ReadError as exc:
        raise LoadError(str(exc)) from exc
    result.rows = out.rows
    if reader.total is not None and result.rows != reader.total:
        raise LoadError(f"{task.label}: the file says it holds {reader.total} rows but only {result.rows} could "
                        "be read; it is truncated or damaged")
    progress(layer.name, result.rows, result.rows, "reporting")
    _collect(ctx, task, stage, issues_table, result, mapping)
    result.inserted = out.inserted
    result.unchanged = result.updated = 0
    if aside and replacing:
        result.deleted = out.deleted
    conn.execute(sql.SQL("DROP TABLE {}, {}").format(sql.Identifier(stage), sql.Identifier(issues_table)))
    result.seconds = time.perf_counter() - t0
    progress(layer.name, result.rows, result.rows, "done")
    log.info("%s: %d rows from %s (%s): %d inserted (direct), %d rejected in %.1f s", layer.name, result.rows,
             task.label, source.label, result.inserted, result.rejected, result.seconds)
    return result


def _collect(ctx: _Context, task: Task, stage: str, issues_table: str, result: LayerReport,
             mapping: dict[str, str]) -> None:
    """Issues of the layer into the report; rejected rows into the rejected-rows file."""
    conn = ctx.conn
    i, s = sql.Identifier(issues_table), sql.Identifier(stage)
    with conn.cursor(name=f"issues_{task.layer.name}") as cur:
        cur.itersize = 10_000
        cur.execute(sql.SQL("SELECT row_no, field, value, reason, severity FROM {} ORDER BY row_no NULLS FIRST, "
                            "severity, field").format(i))
        for row in cur:
            ctx.issues.add([{"file": task.label, "layer": task.layer.name, "row": row[0], "field": row[1],
                             "value": row[2], "reason": row[3], "severity": row[4]}])
    result.rejected, result.warnings = conn.execute(sql.SQL(
        "SELECT count(DISTINCT row_no) FILTER (WHERE severity = 'error'), count(*) FILTER (WHERE severity <> 'error') "
        "FROM {}").format(i)).fetchone()
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
    error: LoadError | None = None
    try:
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
    except LoadError as exc:
        error = exc
        report.outcome = "rejected" if isinstance(exc, LoadRejected) else "failed"
        report.message = str(exc)
        if not isinstance(exc, LoadRejected) and not any(it.get("row") is None and it["severity"] == "error"
                                                         for it in report.issues):
            issue_log.add([{"file": Path(str(source)).name, "layer": None, "row": None, "field": None,
                            "value": None, "reason": str(exc), "severity": "error"}])
        for layer in report.layers:
            layer.inserted = layer.updated = layer.unchanged = layer.deleted = 0
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
    if error is not None:
        error.report = report
        raise error
    return report


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
    return conn.execute("SELECT NOT EXISTS (SELECT 1 FROM admin_areas)").fetchone()[0]
