"""What to load from a source: the (layer, file) pairs of a folder, zip, GeoPackage, KML,
workbook or single file, in contract order, found by the layers' names (English or Chinese), with
what is left out said. Reads no rows: ingest.gazetteer loads the tasks."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from urbangis.layers.contract import BY_NAME, LAYERS, TITLE_ZH, Layer

from .formats import (
    DATA_SUFFIXES,
    MULTI_LAYER,
    MULTI_LAYER_SUFFIXES,
    WORKBOOKS,
    ReadError,
    detect_kind,
    list_layers,
    open_layer,
    rejected,
    xls,
    xlsx,
)
from .formats.archive import extract
from .options import LoadError, LoadOptions


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


# Chinese file names data staff give their exports (案件2024年5月.csv, 部件普查.xlsx): the layer
# whose Chinese title the file's name starts with
LAYER_NAMES_ZH = {zh: name for name, zh in TITLE_ZH.items()}


def _layer_for_name(stem: str) -> Layer | None:
    stem = stem.lower()
    if stem in BY_NAME:
        return BY_NAME[stem]
    for layer in sorted(LAYERS, key=lambda candidate: -len(candidate.name)):
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
        return _plan_folder(source, options, workdir, notes)
    if kind == "kmz":
        return plan(_kml_of_kmz(source, options, workdir), options, workdir, notes)
    if kind == "xlsx":  # read through a copy when GDAL would drop the time of its date-time cells
        try:
            copy = xlsx.with_hours(source, workdir, options.max_unpacked)
        except ReadError as exc:
            raise LoadError(str(exc)) from exc
        if copy is not None:
            return plan(copy, options, workdir, notes)
    if kind == "xls":  # read as the .xlsx copy of it, under its own name
        copy = _xlsx_of_xls(source, workdir)
        tasks = plan(copy, options, workdir, notes)
        for t in tasks:
            t.shown = t.label.replace(copy.name, source.name, 1)
        return tasks
    return _plan_file(source, kind, options, notes)


def _plan_folder(source: Path, options: LoadOptions, workdir: Path, notes: list[str]) -> list[Task]:
    """The tasks of a folder: its files named after a layer, and the layers named for one inside its
    containers named for none."""
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


def _plan_file(source: Path, kind: str, options: LoadOptions, notes: list[str]) -> list[Task]:
    """The tasks of one file (neither folder, zip nor a copy to read instead): a rejected-rows file's,
    a multi-layer file's or workbook's, else the one layer the file is."""
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
        layer, said = _layer_for_columns(source, options)
        if layer is None:
            raise LoadError(f"{source.name}: cannot tell which layer this file is{said}; name it after the layer "
                            f"(e.g. cases.csv) or pass --layer ({', '.join(BY_NAME)})")
        notes.append(said)
    return [Task(layer, source)]


def _layer_for_columns(source: Path, options: LoadOptions) -> tuple[Layer | None, str]:
    """The layer a file named for none is, by its columns (数字城管案件导出.csv with 案件编号,
    问题类型, 大类编码 ... is cases): the one layer all of whose required fields it has, else the
    one of those it has the most fields of; and what to say of it (why none, when none)."""
    from .validate.rows import match_columns, missing_required

    try:
        # opened again to be loaded: paid only by a file its name does not place, else refused
        columns = open_layer(source, encoding=options.encoding).columns
    except ReadError:
        return None, ""  # said when the file is read as the layer it is given
    fits = []
    for layer in LAYERS:
        mapping = match_columns(layer, columns)
        if not missing_required(layer, mapping):
            fits.append((len(mapping), layer, mapping))
    fits.sort(key=lambda fit: -fit[0])
    if not fits or (len(fits) > 1 and fits[0][0] == fits[1][0]):
        named = " or ".join(fit[1].name for fit in fits[:3])
        return None, f" (its columns fit {named} alike)" if fits else " (its columns fit no layer's required fields)"
    _, layer, mapping = fits[0]
    shown = ", ".join(f"{column} as {field}" for field, column in mapping.items() if column != field)
    return layer, (f"{source.name}: its name says no layer; taken as {layer.name} from its columns"
                   f"{' (' + shown + ')' if shown else ''}; name it after the layer or pass --layer to say otherwise")


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
    only = f"; --layer {options.layer} takes only the ones named for it" if options.layer else ""
    for name in names:
        if name not in taken:
            notes.append(f"{source.name}: {name!r} is not loaded (no contract layer is named for it{only})")
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
