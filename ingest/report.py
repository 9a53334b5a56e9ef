"""The load report: what was read, loaded, updated and set aside, and every issue with its file,
row, field, value and reason. Written as JSON (for programs) and as a readable table (for staff);
with --skip-invalid, the rejected rows go to a GeoJSON file next to the report (and those read
from a CSV or XLSX to a CSV per layer too) so they can be fixed and loaded again.
"""
from __future__ import annotations

import json
import os
import tempfile
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, TextIO

SAMPLE_LIMIT = 1000  # issues kept in memory (the files hold them all)
COLUMNS = ("file", "layer", "row", "key", "field", "value", "reason", "severity")


@dataclass
class LayerReport:
    """One layer of one file."""

    layer: str
    file: str
    source_crs: str = ""
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    warnings: int = 0
    deleted: int = 0
    seconds: float = 0.0

    @property
    def loaded(self) -> int:
        return self.inserted + self.updated + self.unchanged


@dataclass
class Report:
    """A whole load."""

    source: str
    mode: str = "strict"
    replace: bool = False
    outcome: str = "running"  # loaded | checked (check only, nothing written) | rejected | failed
    message: str = ""
    layers: list[LayerReport] = field(default_factory=list)
    errors: int = 0
    warnings: int = 0
    issues: list[dict] = field(default_factory=list)  # the first SAMPLE_LIMIT
    files: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.layers)

    @property
    def loaded(self) -> int:
        return sum(r.loaded for r in self.layers)

    @property
    def rejected(self) -> int:
        return sum(r.rejected for r in self.layers)

    def summary(self) -> dict:
        """Everything but the issue list."""
        data = asdict(self)
        data.pop("issues")
        data.update(rows=self.rows, loaded=self.loaded, rejected=self.rejected)
        # the files lie beside the JSON report: named, not located (a job's report travels over HTTP)
        data["files"] = {k: Path(v).name for k, v in self.files.items()}
        for layer, obj in zip(data["layers"], self.layers):
            layer["loaded"] = obj.loaded
        return data

    def to_dict(self) -> dict:
        data = self.summary()
        data["issues"] = self.issues
        return data


class IssueLog:
    """Collects issues as they are found: all of them in a spool file, the first few in memory."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")

    def add(self, issues: Iterable[dict]) -> None:
        for it in issues:
            if it["severity"] == "error":
                self.report.errors += 1
            else:
                self.report.warnings += 1
            if len(self.report.issues) < SAMPLE_LIMIT:
                self.report.issues.append(it)
            self._spool.write(json.dumps(it, ensure_ascii=False, default=str) + "\n")

    def all(self) -> Iterable[dict]:
        self._spool.flush()
        self._spool.seek(0)
        for line in self._spool:
            yield json.loads(line)

    def close(self) -> None:
        self._spool.close()


def write_json(report: Report, log: IssueLog, path: Path) -> None:
    """The full report as JSON, every issue included (streamed, not built in memory)."""
    path = Path(path)
    # a file is written whole beside and renamed over the old one; /dev/null or a pipe is written
    # to as it is (renaming over it would put a plain file where the device was)
    special = is_special(path)
    tmp = path if special else path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        summary = json.dumps(report.summary(), ensure_ascii=False, indent=2, default=str)
        out.write(summary[:-2] + ',\n  "issues": [')
        for n, it in enumerate(log.all()):
            out.write(("," if n else "") + "\n    " + json.dumps(it, ensure_ascii=False, default=str))
        out.write("\n  ]\n}\n")
    if not special:
        os.replace(tmp, path)


def is_special(path: Path) -> bool:
    """A path that exists and is no regular file or folder: /dev/null, /dev/stdout, a named pipe."""
    path = Path(path)
    return path.exists() and not path.is_file() and not path.is_dir()


def _char_width(ch: str) -> int:
    return 2 if not ch.isascii() and unicodedata.east_asian_width(ch) in "WF" else 1


def _width(text: str) -> int:
    """Columns a terminal gives ``text``: CJK characters take two."""
    if text.isascii():  # most cells: codes, numbers, English reasons
        return len(text)
    return sum(_char_width(ch) for ch in text)


def _cell(value, limit: int) -> str:
    """``value`` as text of at most ``limit`` columns, cut with an ellipsis. In one pass: cutting a
    character at a time made a report of a third of a million issues take a minute."""
    text = "" if value is None else str(value).replace("\n", " ")
    if _width(text) <= limit:
        return text
    kept, width = [], 0
    for ch in text:
        width += _char_width(ch)
        if width > limit - 1:  # the ellipsis takes the last column
            break
        kept.append(ch)
    return "".join(kept) + "…"


_CAPS = {"file": 28, "layer": 20, "row": 8, "key": 24, "field": 16, "value": 24, "reason": 90, "severity": 8}


def _cells(issues: Iterable[dict], limit: int | None = None) -> Iterator[list[str]]:
    for n, it in enumerate(issues):
        if limit is not None and n >= limit:
            return
        yield [_cell(it.get(c), _CAPS[c]) for c in COLUMNS]


def _widths(rows: Iterable[list[str]]) -> list[int]:
    widths = [_width(c) for c in COLUMNS]
    for r in rows:
        widths = [max(w, _width(cell)) for w, cell in zip(widths, r)]
    return widths


def _lines(rows: Iterable[list[str]], widths: list[int]) -> Iterator[str]:
    def line(cells):
        return "  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(cells, widths)).rstrip()

    yield line(COLUMNS)
    yield line(["-" * w for w in widths])
    for r in rows:
        yield line(r)


def table(issues: Iterable[dict], limit: int | None = None) -> str:
    """A fixed-width table (CJK-aware) of issues: file, layer, row, the row's key, field, value,
    reason, severity."""
    rows = list(_cells(issues, limit))
    return "\n".join(_lines(rows, _widths(rows)))


def layers_table(report: Report) -> str:
    """Per layer: rows read, inserted, updated, unchanged, rejected, warnings, seconds."""
    head = ("layer", "file", "crs", "rows", "inserted", "updated", "unchanged", "rejected", "warnings", "rows/s")
    values = [(r.layer, _cell(r.file, 30), r.source_crs, r.rows, r.inserted, r.updated, r.unchanged, r.rejected,
               r.warnings, f"{r.rows / r.seconds:,.0f}" if r.seconds else "") for r in report.layers]
    rows = [tuple(str(c) for c in row) for row in values]
    widths = [max([_width(h)] + [_width(row[i]) for row in rows]) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def write_table(report: Report, log: IssueLog, path: Path) -> None:
    """The readable report: the outcome, the layers, then every issue."""
    with Path(path).open("w", encoding="utf-8") as out:
        out.write(f"urbangis load of {report.source}: {report.outcome}"
                  f"{' - ' + report.message if report.message else ''}\n")
        would = " would be" if report.mode == "check" else ""
        out.write(f"mode {report.mode}{', replace' if report.replace else ''}; {report.rows} rows read, "
                  f"{report.loaded}{would} loaded, {report.rejected}{would} rejected; {report.errors} errors, "
                  f"{report.warnings} warnings\n\n")
        out.write(layers_table(report) + "\n\n")
        # two passes over the spooled issues (widths, then lines): a million issues are never held
        for text in _lines(_cells(log.all()), _widths(_cells(log.all()))):
            out.write(text + "\n")


class RejectedWriter:
    """Rejected rows as a GeoJSON FeatureCollection (EPSG:4490 coordinates), streamed; and, for
    rows read from a CSV or XLSX, also as one CSV per layer (``table_path(layer)``), for the staff
    who fix them in Excel."""

    def __init__(self, path: Path, table_path=None) -> None:
        self.path = Path(path)
        self._out: TextIO | None = None
        self.count = 0
        self._table_path = table_path  # layer -> Path of its CSV, or None: no CSVs
        self._tables: dict[str, _RejectedTable] = {}

    def add(self, layer: str, file: str, rows: Iterable[tuple[int, dict, str | None, list[str]]],
            fields: Iterable[str] = (), as_table: bool = False) -> None:
        """Rows as (row number, properties, GeoJSON geometry text or None, reasons); ``fields``, the
        layer's, order the CSV's columns; ``as_table`` asks for the CSV too."""
        table = None
        if as_table and self._table_path is not None:
            table = self._tables.get(layer)
            if table is None:
                table = self._tables[layer] = _RejectedTable(self._table_path(layer), list(fields))
        for row_no, props, geometry, reasons in rows:
            if self._out is None:
                self._out = self.path.open("w", encoding="utf-8")
                self._out.write('{"type": "FeatureCollection", "name": "rejected", "crs": {"type": "name", '
                                '"properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}, "features": [\n')
            props = {k: v for k, v in props.items() if v is not None}
            # formats/rejected.py reads these back when the file, fixed, is loaded again
            props.update(_layer=layer, _file=file, _row=row_no, _reasons=" | ".join(reasons))
            feature = '{"type": "Feature", "properties": %s, "geometry": %s}' % (
                json.dumps(props, ensure_ascii=False, default=str), geometry or "null")
            self._out.write(("," if self.count else "") + feature + "\n")
            self.count += 1
            if table is not None:
                table.add(props, geometry)

    @property
    def tables(self) -> dict[str, Path]:
        """The CSVs written, by layer."""
        return {layer: t.path for layer, t in self._tables.items() if t.count}

    def close(self) -> None:
        if self._out is not None:
            self._out.write("]}\n")
            self._out.close()
            self._out = None
        for table in self._tables.values():
            table.close()


class _RejectedTable:
    """One layer's rejected rows as CSV: the bookkeeping (row, reasons) first, where staff read
    it, then the layer's fields, the file's other columns, and lon/lat (all points) or wkt, in
    EPSG:4490; UTF-8 with a byte-order mark, as Excel wants it. Rows are spooled as JSON lines
    until the columns are all known, then written."""

    def __init__(self, path: Path, fields: list[str]) -> None:
        self.path = Path(path)
        self.fields = fields
        self.count = 0
        self.points_only = True
        self._keys: dict[str, None] = {}
        self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")

    def add(self, props: dict, geometry: str | None) -> None:
        # ST_AsGeoJSON writes the type first, without spaces: no need to parse every geometry twice
        if geometry is not None and self.points_only and not geometry.startswith('{"type":"Point"'):
            self.points_only = False
        self._keys.update(dict.fromkeys(props))
        self._spool.write(json.dumps([props, geometry], ensure_ascii=False, default=str) + "\n")
        self.count += 1

    def close(self) -> None:
        import csv

        import shapely

        if self._spool.closed:  # closed already
            return
        with self._spool as spool:
            if not self.count:
                return
            first = ["_row", "_reasons"]
            last = ["_layer", "_file"]
            columns = first + [f for f in self.fields if f in self._keys]
            columns += [k for k in self._keys if k not in columns and k not in last]
            geom_columns = ["lon", "lat"] if self.points_only else ["wkt"]
            columns += [c for c in geom_columns if c not in columns] + last
            spool.seek(0)
            with self.path.open("w", encoding="utf-8-sig", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(columns)
                for line in spool:
                    props, geometry = json.loads(line)
                    if geometry is not None:
                        if self.points_only:
                            props["lon"], props["lat"] = json.loads(geometry)["coordinates"][:2]
                        else:
                            props["wkt"] = shapely.to_wkt(shapely.from_geojson(geometry), rounding_precision=-1)
                    writer.writerow([_csv_value(props.get(c)) for c in columns])


def _csv_value(v) -> str:
    """A value as the loader reads it back: lists joined with | (formats of the contract's list
    fields), objects as JSON."""
    if v is None:
        return ""
    if isinstance(v, list):
        return "|".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    return str(v)
