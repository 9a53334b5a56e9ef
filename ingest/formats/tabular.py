"""CSV and XLSX: points from coordinate columns (lon/lng/x/经度, lat/y/纬度), a WKT column, or an
address column that is geocoded on the way in; no geometry at all for plain tables (supervisors).
"""
from __future__ import annotations

import contextlib
import csv
import logging
import re
from pathlib import Path
from typing import Callable, Generator, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import shapely

from .. import crs as crs_mod
from . import degrees
from .base import Batch, ReadError, RowIssue

log = logging.getLogger("urbangis.ingest")

# addresses -> (lon, lat) in CGCS2000, or (lon, lat, note) when placed less precisely than asked
# (the note is reported as a warning on the row), or None when not found
Geocode = Callable[[Sequence[str]], Sequence["tuple[float, float] | tuple[float, float, str] | None"]]

# X坐标 / Y坐标 as 数字城管 systems export them (a surveyor's X, the northing, first is told from
# the values and put right: TableReader._northing_first)
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度", "东经", "lon_gcj", "lng_gcj", "x坐标", "坐标x", "横坐标",
             "point_x", "x_coord")
LAT_NAMES = ("lat", "latitude", "y", "纬度", "北纬", "lat_gcj", "y坐标", "坐标y", "纵坐标", "point_y", "y_coord")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "shape")
# one column holding both, "87.6201,43.7902" (Amap's and Baidu's pickers copy them so)
LONLAT_NAMES = ("经纬度", "坐标", "gps坐标", "lnglat", "lonlat", "lng_lat", "lon_lat", "latlng", "lat_lng", "latlon",
                "coordinates", "coords")
ADDRESS_NAMES = ("address", "addr", "地址", "详细地址", "位置", "事发地址", "location")


def _find(columns: list[str], names: Sequence[str], part: str | None = None) -> str | None:
    """The column called one of ``names`` (any case); else the one column whose name holds
    ``part`` (Chinese exports say 事发经度, GPS经度, 经度(°) ...), or the one of those named for no
    web map when others are (GPS经度 beside 高德经度)."""
    lowered = {c.strip().lower(): c for c in columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    bare = [c for c in columns if _named_shift(c) and _bare(c) in names]  # gcj_lng, bd_lat, amap_lon
    if len(bare) == 1:
        return bare[0]
    holding = [c for c in columns if part and part in c]
    if len(holding) > 1:
        holding = [c for c in holding if _named_shift(c) is None]
    return holding[0] if len(holding) == 1 else None


# Coordinate columns named for the web map they were picked on: Amap (高德) and Tencent (腾讯)
# give GCJ-02, Baidu (百度) BD-09, hundreds of metres off CGCS2000. Exports from apps built on
# them name their columns so (高德经度, lng_gcj, bd_lng, baidu_lat): a Latin word as one of the
# name's words, a Chinese one anywhere in it.
_MAP_WORDS = {"bd09": ("bd09", "bd", "baidu", "百度"),
              "gcj02": ("gcj02", "gcj", "gaode", "amap", "tencent", "qq", "mars", "高德", "腾讯", "火星")}
_LATIN_MAP_WORDS = {w for words in _MAP_WORDS.values() for w in words if w.isascii()}

WEB_MAP_HINT = ("columns named for Amap/Tencent (高德经度, 腾讯经度, lng_gcj, gcj_lat) are read as GCJ-02, for "
                "Baidu (百度经度, bd_lng, baidu_lat) as BD-09, and converted to CGCS2000")


def _words(column: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", column.strip().lower()) if w]


def _named_shift(column: str) -> str | None:
    name, words = column.lower(), set(_words(column))
    return next((shift for shift, said in _MAP_WORDS.items()
                 if any(w in words if w.isascii() else w in name for w in said)), None)


def _bare(column: str) -> str:
    """The name without its web-map words: gcj_lng is lng, bd_lat lat, amap_lon lon."""
    return "_".join(w for w in _words(column) if w not in _LATIN_MAP_WORDS)


def _sniff_encoding(path: Path) -> tuple[str, str | None]:
    with path.open("rb") as fh:
        sample = fh.read(1 << 20)
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", None
    cut = sample[: sample.rfind(b"\n") + 1] or sample
    try:
        cut.decode("utf-8")
        return "utf-8", None
    except UnicodeDecodeError:
        pass
    try:
        cut.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ReadError(f"{path.name}: text is neither UTF-8 nor GBK ({exc})") from exc
    return "gb18030", f"{path.name}: not UTF-8; read as GBK/GB18030 (as Excel saves Chinese CSV files)"


ARROW_BLOCK = 1 << 22  # bytes of CSV Arrow parses at a time
TITLE_ROWS = 5  # at most this many title rows above a CSV's header

# a 2D point in little-endian WKB: byte order, type 1, x, y (21 bytes, unpadded)
_WKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])


# ="0101": how systems write a CSV cell so that Excel keeps it as text (leading zeros, a 16-digit
# code not turned into 6.50102E+15); the value is what is between the quotes
_GUARD = re.compile(r'(?s)^="(.*)"$')

_PAIR_SEPARATOR = re.compile(r"\s*[,;，；、|/]\s*")


def _pairs(rows, values: list, column: str, issues: list[RowIssue]) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes from one column holding both ("87.6201,43.7902", "87.6201 43.7902",
    "87°37′12.5″,43°47′25.1″"). Within China a longitude (73-136) is never a latitude (3-54), so a
    pair written latitude first ("43.7902,87.6201", as Google Maps copies it) is put right."""
    n = len(values)
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    for i, v in enumerate(values):
        if v is None:
            continue
        text = str(v).strip().strip("()[]（）")
        parts = _PAIR_SEPARATOR.split(text)
        if len(parts) != 2 and not degrees.has_marks(text):
            parts = text.split()
        try:
            if len(parts) != 2:
                raise ValueError("expected two coordinates, longitude and latitude, like 87.6201,43.7902")
            a, b = degrees.parse(parts[0]), degrees.parse(parts[1])
        except ValueError as exc:
            issues.append(RowIssue(int(rows[i]), column, v, str(exc)))
            continue
        if 3 <= a <= 54 and 73 <= b <= 136:
            a, b = b, a
        x[i], y[i] = a, b
    return x, y


def _northing_first(x: np.ndarray, y: np.ndarray) -> bool | None:
    """Whether the first rows' coordinates are Gauss-Kruger metres with the northing first, as
    Chinese surveying writes X (north) before Y (east): in China a northing is 2,000-6,000 km (7
    digits), an easting 100-900 km (6 digits) or, with its zone number in front, 13-45 million; so
    the two never pass for each other. None until there is a point; False for degrees."""
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return None
    mx, my = float(np.median(np.abs(x[ok]))), float(np.median(np.abs(y[ok])))
    def northing(v: float) -> bool:
        return 1.0e6 <= v < 6.5e6
    def easting(v: float) -> bool:
        return 1.0e5 <= v < 1.0e6 or 1.3e7 <= v < 4.6e7
    return northing(mx) and easting(my)


def _count_lines(path: Path) -> int:
    """Lines in a text file, its last one counted whether or not it ends with a line break (200 MB:
    ~0.1 s)."""
    n, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 24):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


# What the first cell of a statistics sheet's totals row says (合计: 1,024 cases)
TOTALS = {"合计", "总计", "小计", "合计:", "合计：", "总计:", "总计：", "合 计", "总 计",
          *(w for word in ("total", "sum") for w in (word, word.title(), word.upper()))}


def _non_records(rows: np.ndarray, cols: dict[str, list]) -> tuple[np.ndarray, dict[str, list], list[int], list[int]]:
    """The batch without its rows whose every cell is empty, nor its totals rows (first cell 合计,
    总计, 小计), and those rows' numbers: (rows, columns, blank rows, totals rows)."""
    if not cols:
        return rows, cols, [], []
    columns = list(cols.values())
    first = columns[0]
    blank = [i for i, v in enumerate(first) if v is None and all(c[i] is None for c in columns)]
    totals = [i for i, v in enumerate(first) if v in TOTALS]
    if not blank and not totals:
        return rows, cols, [], []
    drop = set(blank) | set(totals)
    keep = [i for i in range(len(rows)) if i not in drop]
    return (rows[keep], {k: [v[i] for i in keep] for k, v in cols.items()}, [int(rows[i]) for i in blank],
            [int(rows[i]) for i in totals])


def _names_columns(cells) -> bool:
    """A row that can be the column names: two values or more (every layer has two fields or more;
    a title row holds one)."""
    return sum(1 for c in cells if c not in (None, "") and str(c).strip()) >= 2


def _sniff(text: str) -> type[csv.Dialect]:
    """The dialect of one line (our own class: the caller may change it)."""
    try:
        return csv.Sniffer().sniff(text, delimiters=",\t;|")
    except csv.Error:
        return type("excel", (csv.excel,), {})


def _header(head: str) -> tuple[int, type[csv.Dialect], list[str]]:
    """(title rows above the header, the header's dialect, the header's cells). Government
    spreadsheets often carry a title row or two above the column names (乌鲁木齐市数字城管案件统计表,
    then a blank line): skipped, up to TITLE_ROWS of them."""
    lines = head.splitlines() or [head]
    k = next((k for k, text in enumerate(lines[:TITLE_ROWS + 1])
              if _names_columns(next(csv.reader([text], _sniff(text)), []))), 0)
    dialect = _sniff(lines[k])
    # a quote inside a quoted value is doubled, as Excel and RFC 4180 write it; the sniffer,
    # seeing no quotes in a header line, says otherwise and 井盖 ""A"" 型 came out mangled
    dialect.doublequote = True
    return k, dialect, next(csv.reader([lines[k]], dialect), [])


def _two_row_header(top: list, sub: list) -> list[str] | None:
    """The column names of a two-row header (二级表头), or None if ``sub`` is a record. Statistics
    sheets merge a heading over the columns it groups: 位置 over 经度 | 纬度, 案件类别 over 大类 |
    小类; a CSV or GDAL sees the heading in its first column and nothing in the others, and the
    sub-headings in the row below. That row is one when every column empty above is named in it,
    one named in it at least stands under a heading (the merged one), and none of its cells holds a
    digit (a record holds codes, coordinates, times). A column is named by its sub-heading (经度,
    大类), or by heading + sub-heading when the sub-heading alone says little (上报 | 时间: 上报时间;
    _GENERIC_SUB) or repeats (甲 | 类, 乙 | 类); one with no sub-heading (序号, merged down) keeps its
    heading."""
    top = [("" if c is None else str(c).strip()) for c in top]
    sub = [("" if c is None else str(c).strip()) for c in sub]
    if len(sub) < len(top) or not top or not top[0] or any(re.search(r"[0-9０-９]", c) or len(c) > 20 for c in sub):
        return None
    sub = sub[:len(top)]
    empty_above = [j for j, c in enumerate(top) if not c]
    if not empty_above or any(not sub[j] for j in empty_above):
        return None
    if not any(top[j] and sub[j] for j in range(len(top))):
        return None
    parents, heading = [], ""
    for cell in top:
        heading = cell or heading
        parents.append(heading)
    joined = {c for c in sub if c and (sub.count(c) > 1 or c in _GENERIC_SUB)}
    return [top[j] if not sub[j] else (parents[j] + sub[j] if sub[j] in joined else sub[j])
            for j in range(len(top))]


# Sub-headings that say little without their heading: 上报 | 时间 is 上报时间 (reported_at), 部件 |
# 编码 is 部件编码, 处置 | 部门 is 处置部门; 位置 | 经度 stays 经度, 案件类别 | 大类 stays 大类
_GENERIC_SUB = {"时间", "日期", "人", "人员", "名称", "编号", "编码", "代码", "类型", "状态", "部门", "单位", "电话",
                "地址", "原因", "结果", "意见", "情况", "说明", "time", "date", "name", "code", "type", "status"}


def _two_row_warning(first_row: int, names: list[str]) -> RowIssue:
    return RowIssue(None, None, None, f"rows {first_row}-{first_row + 1} hold the column names (a two-row header): "
                    f"read as {', '.join(names)}", "warning")


def _title_warning(titles: int) -> RowIssue:
    rows = "row 1 holds" if titles == 1 else f"rows 1-{titles} hold"
    return RowIssue(None, None, None, f"{rows} a title, not column names: skipped, the header is row {titles + 1}",
                    "warning")


class TableReader:
    """A CSV file or an XLSX sheet, read in bounded batches."""

    def __init__(self, path: Path, kind: str, geocode: Geocode | None = None, encoding: str | None = None,
                 sheet: str | None = None) -> None:
        self.path = Path(path)
        self.kind = kind
        self.layer = sheet
        self.warnings: list[RowIssue] = []
        self.declared_crs: crs_mod.SourceCRS | None = None
        self.crs_error: str | None = None
        self.total: int | None = None  # exact: a truncated file is one that yields fewer
        self.estimate: int | None = None  # about how many rows, for the progress bar and the choice of lane
        self._geocode = geocode
        self._titles = 0  # rows above the column names
        self._header_rows = 1  # 2: a two-row header
        self._northing_first: bool | None = None  # surveyors' X (north) in the first coordinate column
        self._peeked: list = []  # a sheet's first rows, once read (_first_rows)
        all_columns = self._csv_header(encoding) if kind == "csv" else self._sheet_header(sheet)
        if not all_columns and self.total != 0:  # a sheet with no cell at all is empty, not headless
            raise ReadError(f"{self.path.name}: no header row")
        self._all_columns = all_columns
        self._find_geometry(all_columns, geocode)

    def _csv_header(self, encoding: str | None) -> list[str]:
        """A CSV's encoding, dialect, title rows and header (one row or two); its column names."""
        self._encoding = encoding
        if encoding is None:
            self._encoding, warning = _sniff_encoding(self.path)
            if warning:
                self.warnings.append(RowIssue(None, None, None, warning, "warning"))
        try:
            with self.path.open(newline="", encoding=self._encoding, errors="strict") as fh:
                head = fh.read(1 << 16)
        except UnicodeDecodeError as exc:  # the sniffed lines are good: a character cut short after them
            raise ReadError(f"{self.path.name}: not valid {self._encoding} text near its start (a character "
                            f"cut short or a stray byte: {exc.reason}); the file may be truncated or damaged") from exc
        self._titles, self._dialect, header = _header(head)
        if self._titles:
            self.warnings.append(_title_warning(self._titles))
        header = [h.strip().lstrip("\ufeff") for h in header]
        below = head.splitlines()[self._titles + 1:self._titles + 2]
        merged = _two_row_header(header, next(csv.reader(below, self._dialect), [])) if below else None
        if merged is not None:
            self._header_rows, header = 2, merged
            self.warnings.append(_two_row_warning(self._titles + 1, merged))
        all_columns = self._distinct(header)
        # a quoted line break makes it a little high
        self.estimate = _count_lines(self.path) - self._header_rows - self._titles
        return all_columns

    def _sheet_header(self, sheet: str | None) -> list[str]:
        """An XLSX sheet opened through GDAL, its title rows and header (one row or two) found; its
        column names."""
        from .vector import VectorReader

        # every cell as text: codes keep their leading zeros; the first row is the header
        self._xlsx = VectorReader(self.path, sheet, open_options={"HEADERS": "FORCE", "FIELD_TYPES": "STRING"})
        self.estimate = self._xlsx.total  # blank rows among them are left out (batches)
        all_columns = self._xlsx.columns
        if not all_columns and self._xlsx.total == 0:
            self.total = 0  # Excel's untouched Sheet2
        self._rename: dict[str, str] = {}
        self._header_fid = 0  # features up to this one are titles and the header
        self._row_offset = 1  # sheet row of feature n: n + this (GDAL took row 1 as the header)
        if len(all_columns) > 1 and all(re.fullmatch(r"Field[0-9]+", c) for c in all_columns[1:]):
            top, all_columns = self._below_sheet_titles(all_columns)
        else:
            top = ["" if re.fullmatch(r"Field[0-9]+", c) else c for c in all_columns]
        if len(all_columns) > 1:
            all_columns = self._sub_headings(top, all_columns)
        return all_columns

    def _below_sheet_titles(self, fields: list[str]) -> tuple[list, list[str]]:
        """The header of a sheet whose first row is a title: (its cells, the column names), the
        columns renamed from GDAL's ``fields`` (``_rename``); ReadError when no row names columns."""
        # GDAL names the empty cells of the first row FieldN: that row is a title. The column
        # names are the next row holding two values or more (GDAL keeps blank rows: feature
        # n is sheet row n + 1). Every column FieldN, the first too: GDAL read row 1 as data
        # (GDAL 3.12 does so on a workbook's later sheets whatever HEADERS says), so feature
        # n is sheet row n, and row 1 may well be the header
        if fields[0] == "Field1":
            self._row_offset = 0
        first = self._first_rows()
        found = [i for i in range(min(len(first), TITLE_ROWS))
                 if _names_columns(first.columns[c][i] for c in fields)] if first is not None else []
        if first is None or not found:
            raise ReadError(f"{self.path.name}: row 1 holds a title ({fields[0][:40]!r}) and no "
                            f"row below it within {TITLE_ROWS} holds column names")
        self._header_fid = int(first.rows[found[0]])
        self._titles = self._header_fid + self._row_offset - 1  # sheet rows above the header
        names = self._distinct([str(first.columns[c][found[0]] or c).strip() for c in fields])
        self._rename = dict(zip(fields, names))
        self.estimate = None if self.estimate is None else self.estimate - self._header_fid
        if self._titles:
            self.warnings.append(_title_warning(self._titles))
        top = [first.columns[c][found[0]] for c in self._rename]
        return top, names

    def _find_geometry(self, all_columns: list[str], geocode: Geocode | None) -> None:
        """Which columns give the rows their geometry (longitude and latitude, WKT, lon,lat pairs,
        or addresses to geocode), and the columns left as attributes (``columns``)."""
        self.lonlat_col = _find(all_columns, LONLAT_NAMES, "经纬度")
        single = [c for c in all_columns if c != self.lonlat_col]  # 经纬度 holds 纬度
        self.lon_col = _find(single, LON_NAMES, "经度")
        self.lat_col = _find(single, LAT_NAMES, "纬度")
        self.wkt_col = _find(all_columns, WKT_NAMES)
        self.address_col = _find(all_columns, ADDRESS_NAMES, "地址")  # 发生地址, 案发地址 ...: the one holding 地址
        if (self.lon_col is None) != (self.lat_col is None):
            found = self.lon_col or self.lat_col
            raise ReadError(f"{self.path.name}: coordinate column {found!r} has no partner "
                            f"(expected one of {', '.join(LON_NAMES)} and one of {', '.join(LAT_NAMES)})")
        self.geocoded = False
        consumed: set[str]
        if self.lon_col is not None and self.lat_col is not None:  # both or neither (above)
            consumed = {self.lon_col, self.lat_col}
        elif self.wkt_col is not None:
            consumed = {self.wkt_col}
        elif self.lonlat_col is not None:
            consumed = {self.lonlat_col}
        elif self.address_col is not None and self._holds_pairs(self.address_col):
            # 位置 / location holding "87.6201,43.7902" (Amap's API answers location so): coordinates
            self.lonlat_col = self.address_col
            consumed = {self.lonlat_col}
            self.warnings.append(RowIssue(None, self.address_col, None, f"column {self.address_col!r} holds "
                                          "coordinates, not addresses: read as longitude,latitude", "warning"))
        else:
            consumed = set()
            self.geocoded = self.address_col is not None and geocode is not None
            if self.geocoded:
                # the geocoder answers in CGCS2000
                self.declared_crs = crs_mod.SourceCRS(crs_mod.TARGET_EPSG)
        self.has_geometry = bool(consumed) or self.geocoded
        self._shift_from_names(sorted(consumed - {self.wkt_col}))
        self.columns = [c for c in all_columns if c not in consumed]

    def _shift_from_names(self, columns: list[str]) -> None:
        """Coordinates in columns named for Amap/Tencent or Baidu are taken as GCJ-02 or BD-09
        (``--source-crs`` still decides), with a warning; ReadError when the two say different."""
        shifts = {c: _named_shift(c) for c in columns}
        named = {v for v in shifts.values() if v is not None}
        if not named:
            return
        if len(named) > 1 or None in shifts.values():
            said = ", ".join(f"{c!r} ({crs_mod.SourceCRS(4326, v).label if v else 'no web map'})"
                             for c, v in shifts.items())
            raise ReadError(f"{self.path.name}: the coordinate columns disagree on the map they were picked on: "
                            f"{said}; pass --source-crs (gcj02, bd09, EPSG:4326) to say which they are")
        shift = named.pop()
        self.declared_crs = crs_mod.SourceCRS(4326, shift)
        label = self.declared_crs.label
        self.warnings.append(RowIssue(None, columns[0], None, f"column(s) {', '.join(columns)} are named for "
                                      f"{'a Baidu' if shift == 'bd09' else 'an Amap/Tencent'} map: read as {label} "
                                      "and converted to CGCS2000 (--source-crs says otherwise if they are not)",
                                      "warning"))

    def _first_rows(self) -> Batch | None:
        """A sheet's first rows as GDAL reads them, for what its header is (title rows above it, a
        second header row below): read once (GDAL parses the whole sheet to open it: 0.35 s for
        100,000 rows), the file closed at once."""
        if not self._peeked:
            with contextlib.closing(self._xlsx.batches(TITLE_ROWS + 2)) as batches:
                self._peeked.append(next(batches, None))
        return self._peeked[0]

    def _sub_headings(self, top: list, names: list[str]) -> list[str]:
        """A sheet's column names, from the row below its header too when the two are a two-row
        header: then that row is skipped like the header (``_header_fid``)."""
        fields = list(self._rename) or names  # GDAL's names of the columns
        first = self._first_rows()
        if first is None:  # a sheet without rows
            return names
        below = [i for i in range(len(first)) if int(first.rows[i]) > self._header_fid]
        merged = _two_row_header(top, [first.columns[c][below[0]] for c in fields]) if below else None
        if merged is None:
            return names
        self.warnings.append(_two_row_warning(self._titles + 1, merged))
        merged = self._distinct(merged)
        self._header_fid = int(first.rows[below[0]])
        self._rename = dict(zip(fields, merged))
        self.estimate = None if self.estimate is None else self.estimate - 1
        return merged

    def _holds_pairs(self, column: str, sample: int = 20) -> bool:
        """Whether the first ``sample`` values of ``column`` that are not empty are all coordinate
        pairs (an address is never two numbers alone)."""
        with contextlib.closing(self._raw_batches(sample)) as batches:  # its file closed at once
            values = [v for v in next(batches, (None, {}, None))[1].get(column, []) if v is not None]
        if not values:
            return False
        issues: list[RowIssue] = []
        _pairs(np.zeros(len(values), int), values, column, issues)
        return not issues

    def _distinct(self, names: list[str]) -> list[str]:
        """Header names made distinct: a repeated one gets _2, _3 (its values overwrote the first's),
        with a warning; an empty one is column_N (an Excel export's trailing empty columns)."""
        out: list[str] = []
        for j, name in enumerate(names):
            base = name or f"column_{j + 1}"
            new, k = base, 1
            while new in out:
                k += 1
                new = f"{base}_{k}"
            if name and new != name:
                self.warnings.append(RowIssue(None, name, None, f"column {j + 1} repeats the name {name!r}: "
                                                                f"read as {new!r}", "warning"))
            out.append(new)
        return out

    def values_of(self, column: str, size: int = 50_000) -> Iterator[str | None]:
        """Every row's value in ``column`` (one of the header's), read without building geometry."""
        for _, cols, _ in self._raw_batches(size):
            yield from cols.get(column, ())

    @property
    def all_columns(self) -> list[str]:
        """The header's columns, geometry columns included."""
        return list(self._all_columns)

    @property
    def geometry_source(self) -> str:
        """How rows get their geometry, in words for logs and reports."""
        if self.lon_col:
            return f"columns {self.lon_col}/{self.lat_col}"
        if self.wkt_col:
            return f"WKT column {self.wkt_col}"
        if self.lonlat_col:
            return f"column {self.lonlat_col} (longitude,latitude)"
        if self.geocoded:
            return f"geocoded from column {self.address_col}"
        return "none"

    def _raw_batches(self, size: int) -> Generator[tuple[np.ndarray, dict[str, list], list], None, None]:
        if self.kind == "csv":
            done = 0
            if not self._dialect.skipinitialspace and self._dialect.quoting != csv.QUOTE_NONE:
                try:
                    for rows, cols in self._arrow_batches(size):
                        done += len(rows)
                        yield rows, cols, []
                    return
                except (pa.ArrowInvalid, UnicodeDecodeError) as exc:  # a short or long row, a blank line ...
                    log.debug("%s: read on with Python's csv from record %d (%s)", self.path.name, done + 1, exc)
            yield from self._python_batches(size, skip=done)
        else:
            for batch in self._xlsx.batches(size):
                keep = slice(None)
                if self._rename:  # a title above: drop it and the header row, name the columns
                    keep = slice(int(np.searchsorted(batch.rows, self._header_fid, side="right")), None)
                    if not len(batch.rows[keep]):
                        continue
                cols = {self._rename.get(k, k): [(str(v).strip() or None) if v is not None else None
                                                 for v in vals[keep]]
                        for k, vals in batch.columns.items()}
                yield batch.rows[keep] + self._row_offset, cols, []

    def _arrow_batches(self, size: int) -> Iterator[tuple[np.ndarray, dict[str, list]]]:
        """Arrow's CSV parser (C, threaded) while the file is regular: every record with as many
        fields as the header, and no blank line. It raises ArrowInvalid at the first record that
        is not, before yielding any of the block holding it; Python's csv module then reads on
        from there and words the problem (_python_batches), so records and row numbers are the
        same either way: a million rows read in ~2 s instead of ~8 s."""
        names = [f"c{j}" for j in range(len(self._all_columns))]  # the header may repeat a name
        d = self._dialect
        reader = pa_csv.open_csv(
            self.path,
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=self._titles + self._header_rows,
                                            block_size=ARROW_BLOCK,
                                            encoding="utf8" if self._encoding in ("utf-8", "utf-8-sig")
                                            else self._encoding),
            parse_options=pa_csv.ParseOptions(delimiter=d.delimiter, quote_char=d.quotechar or False,
                                              double_quote=d.doublequote, escape_char=d.escapechar or False,
                                              newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False))
        line = self._titles + self._header_rows + 1  # spreadsheet row of the first record
        pending: list[pa.RecordBatch] = []
        held = 0
        for record_batch in reader:
            pending.append(record_batch)
            held += record_batch.num_rows
            while held >= size:
                table = pa.Table.from_batches(pending)
                part, rest = table.slice(0, size), table.slice(size)
                pending, held = rest.to_batches(), rest.num_rows
                yield np.arange(line, line + part.num_rows), self._arrow_columns(part)
                line += part.num_rows
        if held:
            table = pa.Table.from_batches(pending)
            yield np.arange(line, line + table.num_rows), self._arrow_columns(table)

    def _arrow_columns(self, table: pa.Table) -> dict[str, list]:
        cols = {}
        for j, name in enumerate(self._all_columns):
            text = pc.utf8_trim_whitespace(table.column(j))
            if pc.any(pc.starts_with(text, '="')).as_py():
                text = pc.replace_substring_regex(text, _GUARD.pattern, r"\1")
            cols[name] = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text).to_pylist()
        return cols

    def _python_batches(self, size: int, skip: int = 0) -> Iterator[tuple[np.ndarray, dict[str, list], list]]:
        """Python's csv module, from record ``skip`` on: lenient with irregular files, and it says
        which row is short."""
        with self.path.open(newline="", encoding=self._encoding) as fh:
            reader = csv.reader(fh, self._dialect)
            for _ in range(self._titles + self._header_rows + skip):  # titles, header, records Arrow read
                next(reader, None)
            n_cols = len(self._all_columns)
            line = self._titles + self._header_rows + 1 + skip  # spreadsheet row of the first record
            while True:
                try:
                    chunk = [r for _, r in zip(range(size), reader)]
                except (csv.Error, UnicodeDecodeError) as exc:
                    raise ReadError(f"{self.path.name}: unreadable near row {line} ({exc})") from exc
                if not chunk:
                    return
                rows = np.arange(line, line + len(chunk))
                line += len(chunk)
                cols = {}
                for j, name in enumerate(self._all_columns):
                    values = [(r[j].strip() or None) if j < len(r) else None for r in chunk]
                    if any(v is not None and v.startswith('="') for v in values):
                        values = [_GUARD.sub(r"\1", v) or None if v is not None else None for v in values]
                    cols[name] = values
                short = [int(rows[i]) for i, r in enumerate(chunk) if 0 < len(r) < n_cols]
                yield rows, cols, short

    def batches(self, size: int) -> Iterator[Batch]:
        """Batches with point (or WKT) geometry built from the columns. Blank rows (every cell
        empty: a blank line, the ",,,,," Excel writes for formatted empty rows) and totals rows
        (合计 ...) are no records: left out, each with a warning."""
        told: list = []  # the axes' swap said once per reading
        for rows, cols, short in self._raw_batches(size):
            first = next(iter(cols), None)
            rows, cols, blank, totals = _non_records(rows, cols)
            issues = [RowIssue(r, None, None, "row has fewer fields than the header (truncated line?)")
                      for r in short]
            issues += [RowIssue(r, None, None, "blank row: skipped", "warning") for r in blank]
            issues += [RowIssue(r, first, None, "a totals row (its first cell says 合计/总计/小计), not a record: "
                                "skipped", "warning") for r in totals]
            # (a batch of nothing but blank or totals rows is still yielded, for its warnings)
            geoms = wkb = None
            if self.lon_col and self.lat_col:
                wkb = self._points(rows, cols.pop(self.lon_col), cols.pop(self.lat_col), issues, told)
            elif self.wkt_col:
                geoms = self._wkt(rows, cols.pop(self.wkt_col), issues)
            elif self.lonlat_col:
                wkb = self._point_wkb(*_pairs(rows, cols.pop(self.lonlat_col), self.lonlat_col, issues))
            elif self.geocoded and self.address_col is not None:
                geoms = self._geocode_rows(rows, cols[self.address_col], issues)
            yield Batch(rows, cols, wkb=wkb, geoms=geoms, issues=issues)

    def _points(self, rows, lons: list, lats: list, issues: list[RowIssue], told: list) -> list:
        """WKB of each row's point (None where a coordinate is missing), built from the numbers in
        one go: the loaders read it as they read points from GDAL, without a GEOS object per row.
        Gauss-Kruger metres written as Chinese surveyors write them, X the northing and Y the
        easting, are put east first (decided on the first rows, said once)."""
        n = len(rows)
        xy = []
        for name, values, axis in ((self.lon_col, lons, "lon"), (self.lat_col, lats, "lat")):
            try:  # every value a number or empty: parsed in C
                arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            except ValueError:
                arr = np.full(n, np.nan)
                for i, v in enumerate(values):
                    if v is None:
                        continue
                    try:  # full-width digits; degrees, minutes, seconds (87°37′12.5″, 87度37分12.5秒)
                        arr[i] = degrees.parse(str(v), axis)
                    except ValueError as exc:
                        issues.append(RowIssue(int(rows[i]), name, v, str(exc)))
            xy.append(arr)
        if self._northing_first is None:
            self._northing_first = _northing_first(*xy)
        if self._northing_first:
            xy.reverse()
            if not told:
                told.append(True)
                issues.append(RowIssue(None, self.lon_col, None, f"columns {self.lon_col} and {self.lat_col} hold "
                                       "Gauss-Kruger metres as surveyors write them, the northing first (X north, "
                                       "Y east): read east first", "warning"))
        return self._point_wkb(*xy)

    @staticmethod
    def _point_wkb(x: np.ndarray, y: np.ndarray) -> list:
        """WKB points from coordinate arrays (None where either is NaN), in one go."""
        n = len(x)
        rec = np.zeros(n, dtype=_WKB_POINT)
        rec["order"], rec["type"], rec["x"], rec["y"] = 1, 1, x, y
        buf = rec.tobytes()
        ok = (~(np.isnan(x) | np.isnan(y))).tolist()
        return [buf[21 * i:21 * i + 21] if ok[i] else None for i in range(n)]

    def _wkt(self, rows, values: list, issues: list[RowIssue]) -> np.ndarray:
        out = shapely.from_wkt(np.array(values, dtype=object), on_invalid="ignore")  # vectorised
        for i in np.flatnonzero(shapely.is_missing(out)).tolist():
            if values[i] is None:
                continue
            try:  # again alone, for GEOS's own words on what is wrong
                out[i] = shapely.from_wkt(values[i])
            except shapely.errors.GEOSException as exc:
                issues.append(RowIssue(int(rows[i]), self.wkt_col, values[i][:80], f"not WKT ({exc})"))
        return out

    def _geocode_rows(self, rows, addresses: list, issues: list[RowIssue]) -> np.ndarray:
        out = np.empty(len(addresses), dtype=object)
        if self._geocode is None:  # geocoded is only ever set with a geocoder
            raise RuntimeError("geocoding rows without a geocoder")
        todo = [i for i, a in enumerate(addresses) if a]
        found = self._geocode([addresses[i] for i in todo]) if todo else []
        for i, hit in zip(todo, found):
            if hit is None:
                issues.append(RowIssue(int(rows[i]), self.address_col, addresses[i],
                                       "address not found by the geocoder"))
            else:
                out[i] = shapely.points(hit[0], hit[1])
                if len(hit) > 2 and hit[2]:  # placed less precisely than the address asks: loaded, and said
                    issues.append(RowIssue(int(rows[i]), self.address_col, addresses[i], hit[2], "warning"))
        return out
