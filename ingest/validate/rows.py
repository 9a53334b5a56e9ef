"""Row-level validation: values to their types, code formats, enumerations, required fields.

The database checks the same formats (CHECK constraints in the schema); checking here first is
what lets a load name the row, field and value of every problem instead of failing on the first.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
import zoneinfo
from dataclasses import dataclass
from typing import Callable

from psycopg.types.json import Jsonb

from urbangis.layers.classes import UnknownClass, load_classes
from urbangis.layers.contract import ADMIN_LEVEL_DIGITS, CASE_KIND, CODES, LAYERS, STANDARD_MAJORS, Field, Layer

from ..formats.base import Batch, RowIssue

# Everything per field comes from the contract (layers/contract.py); these tables are its views
# by (layer, field), as the checks below read them.
DIGITS = {n: re.compile(rf"^[0-9]{{{n}}}$") for n in (2, 6, 9, 12, 16)}
GRID = CODES["unit_grid"].pattern
RESP_GRID = CODES["responsibility_grid"].pattern
CASE_NO = CODES["case_no"].pattern
CLASS = CODES["major_class"].pattern
MINOR = CODES["minor_class"].pattern
COMPONENT = CODES["component"].pattern

_FIELDS = [(layer, f) for layer in LAYERS for f in layer.fields]
ENUMS = {(layer.name, f.name): f.enum.values for layer, f in _FIELDS if f.enum}
# Other spellings of enumerated values, read as the canonical one without a warning (nothing is
# guessed: each maps to exactly one value): any letter case, and the Chinese terms of 数字城管 exports.
ENUM_ALIASES: dict[tuple[str, str], dict[str, str]] = {
    (layer.name, f.name): dict(f.enum.aliases) for layer, f in _FIELDS if f.enum and f.enum.aliases}
# two-digit classes a spreadsheet shows as numbers lose their leading zero ("01" -> "1"): padded back
# with a warning (a one-digit class can only mean that)
PADDED = {(layer.name, f.name): f.padded for layer, f in _FIELDS if f.padded}
# (layer, field) -> (pattern, what it must be)
FORMATS: dict[tuple[str, str], tuple[re.Pattern, str]] = {
    (layer.name, f.name): (f.code.pattern, f.code.describe) for layer, f in _FIELDS if f.code}
# Required by the contract but legitimately empty on some rows: a district's (or city's) parent may
# be absent; streets and communities are checked for theirs below.
NOT_ALWAYS_REQUIRED = {(layer.name, f.name) for layer, f in _FIELDS if f.sometimes_empty}
# Required fields a file may leave out, read from another field by the standard's rules: an admin
# area's level and (street, community) parent from its code (_admin_from_code).
FROM_CODE = {(layer.name, f.name) for layer, f in _FIELDS if f.from_code}
# The Chinese column headings of 数字城管 exports, for the layers such exports carry (cases,
# components, grids): a field absent under its own name is looked up under these, in this order.
HEADINGS: dict[tuple[str, str], tuple[str, ...]] = {
    (layer.name, f.name): f.headings for layer, f in _FIELDS if f.headings}


def missing_required(layer: Layer, mapping: dict[str, str]) -> list[str]:
    """The required fields of ``layer`` that ``mapping`` (``match_columns``) finds no column for and
    the loader cannot fill in (an admin area's level and parent come from its code)."""
    return [f for f in layer.required if f not in mapping and not ((layer.name, f) in FROM_CODE and "code" in mapping)]


def match_columns(layer: Layer, columns: list[str]) -> dict[str, str]:
    """Contract field -> file column: exact, then case-insensitive, then the 10-character names a
    .dbf truncates long field names to (``community_code`` -> ``community_``), then the field's
    Chinese headings (HEADINGS) among the columns no field has taken."""
    out: dict[str, str] = {}
    lowered = {c.lower(): c for c in columns}
    for f in layer.fields:
        if f.name in columns:
            out[f.name] = f.name
        elif f.name.lower() in lowered:
            out[f.name] = lowered[f.name.lower()]
        elif len(f.name) > 10 and f.name[:10].lower() in lowered:
            out[f.name] = lowered[f.name[:10].lower()]
    stripped = {c.strip(): c for c in columns}
    for f in layer.fields:
        if f.name not in out:
            taken = {None, *out.values()}
            found = [stripped[h] for h in HEADINGS.get((layer.name, f.name), ()) if stripped.get(h) not in taken]
            if found:
                out[f.name] = found[0]
    return out


def _text(v):
    if v is None:
        return None
    if isinstance(v, float):
        if v != v:
            return None
        if v.is_integer():
            v = int(v)  # a code a careless tool stored as a number keeps no ".0"
    text = str(v).strip()
    return text or None


INT_MAX = 2_147_483_647  # the integer columns are PostgreSQL integer


def _int(v):
    if v is None:
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if isinstance(v, float) and not v.is_integer():
            raise ValueError("not an integer")
        if abs(v) > INT_MAX:  # a GeoJSON number of 40 digits is a float GDAL reads; no house is numbered so
            raise ValueError(f"out of range (at most {INT_MAX:,})")
        return int(v)
    text = str(v).strip()
    if not text:
        return None
    if re.fullmatch(r"[+-]?[0-9]{1,9}(\.0*)?", text):
        return int(float(text))
    raise ValueError("not an integer")


def _list(v):
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return [str(x).strip() for x in v if x is not None and str(x).strip()]
    return [part.strip() for part in str(v).split("|") if part.strip()]


def _time(v):
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v
    text = str(v).strip()
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text)  # the common case, in C
    except ValueError:
        pass
    if "/" in text:
        try:
            return dt.datetime.fromisoformat(text.replace("/", "-"))  # 2024/05/01 08:30:00, also in C
        except ValueError:
            pass
    return _loose_time(text)


TIME_FORMATS = ("2024-05-01 08:30:00, 2024-05-01T08:30:00+08:00, 2024/5/1 8:30, 2024年5月1日 8时30分 "
                "or 20240501083000")
# what Chinese exports write besides ISO 8601: Excel's zh-CN "2024/5/1 8:30" (no leading zeros),
# "2024.05.01", "2024年5月1日 8时30分15秒", compact "20240501[0830[00]]"; full-width digits via NFKC
_CN_TIME_UNITS = str.maketrans({"年": "-", "月": "-", "日": " ", "号": " ", "时": ":", "点": ":", "分": ":",
                                "秒": " "})
_LOOSE_TIME = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"  # date
                         r"(?:(?: |T)(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?)?)?"  # time
                         r" ?(Z|[+-]\d{2}(?::?\d{2})?)?")  # offset
_COMPACT_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?")


def _loose_time(text: str) -> dt.datetime:
    """A date/time in one of the other forms of TIME_FORMATS; ValueError naming them otherwise."""
    t = " ".join(unicodedata.normalize("NFKC", text).translate(_CN_TIME_UNITS).split()).rstrip(": ")
    m = _LOOSE_TIME.fullmatch(t) or _COMPACT_TIME.fullmatch(t)
    if m is not None:
        y, mo, d = m[1], m[2], m[3]  # groups that take part in every match
        h, mi, s, frac, zone = (*m.groups(), None, None)[3:8]
        tz = None
        if zone == "Z":
            tz = dt.timezone.utc
        elif zone:
            digits = zone[1:].replace(":", "").ljust(4, "0")
            offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            tz = dt.timezone(-offset if zone[0] == "-" else offset)
        try:
            return dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                               int(frac.ljust(6, "0")) if frac else 0, tzinfo=tz)
        except ValueError as exc:  # 2024-02-30, 25:00, an offset beyond a day
            raise ValueError(f"not a date/time ({exc})") from None
    raise ValueError(f"not a date/time (expected e.g. {TIME_FORMATS})")


_CONVERT: dict[str, Callable] = {"text": _text, "int": _int, "list": _list, "time": _time}


@dataclass
class RowConverter:
    """Turns a batch of file columns into staging rows for one contract layer, with the issues."""

    layer: Layer
    mapping: dict[str, str]  # contract field -> file column
    extras: list[str]  # file columns kept in attrs
    zone: str = "Asia/Shanghai"  # the time zone of times written without an offset (the load's)

    def convert(self, batch: Batch) -> tuple[list[list], list[RowIssue]]:
        """Typed columns (one list per staging column, row_no first) and the problems found."""
        rows = batch.rows.tolist()
        issues: list[RowIssue] = list(batch.issues)
        out: list[list] = [rows]
        typed: dict[str, list] = {}
        for f in self.layer.fields:
            if f.name in self.layer.computed:
                continue
            col = self.mapping.get(f.name)
            raw = batch.columns.get(col) if col else None
            values = self._typed(f, col, raw, rows, issues)
            if (self.layer.name, f.name) in FROM_CODE:
                values = _admin_from_code(f.name, typed["code"], values)
            if f.required and (self.layer.name, f.name) not in NOT_ALWAYS_REQUIRED:
                issues.extend(_empty_required(f, col, raw, values, rows))
            typed[f.name] = values
            out.append(values)
        if self.layer.name == "cases":
            issues.extend(_class_names(rows, typed, self._col))
        issues.extend(self._formats(rows, typed))
        out.append(self._attrs(batch, len(rows)))
        return out, issues

    @staticmethod
    def _typed(f: Field, col: str | None, raw: list | None, rows: list[int], issues: list[RowIssue]) -> list:
        """One field's values, converted to its type; a value that cannot be is an issue (and empty)."""
        empty: list | None = [] if f.kind == "list" else None
        if raw is None:
            return [empty] * len(rows)
        if f.kind == "text":
            # the common case (a str or None) inline; anything else through _text
            return [(v.strip() or None) if v.__class__ is str else (None if v is None else _text(v)) for v in raw]
        convert = _CONVERT[f.kind]
        values = []
        for i, v in enumerate(raw):
            try:
                values.append(convert(v))
            except ValueError as exc:
                values.append(empty)
                issues.append(RowIssue(rows[i], col, _show(v), str(exc)))
        return values

    def _attrs(self, batch: Batch, n: int) -> list:
        """The extra columns of each row, as one JSON object (None for a row without any)."""
        if not self.extras:
            return [None] * n
        # column by column, touching only the rows that have a value (extra columns are
        # often empty: a dict built per row for a million cases cost 0.5 s)
        found: list[dict | None] = [None] * n
        for c in self.extras:
            for i, v in enumerate(batch.columns[c]):
                if v is not None and v != "":
                    d = found[i]
                    if d is None:
                        d = found[i] = {}
                    d[c] = _jsonable(v)
        return [None if d is None else Jsonb(d) for d in found]

    def _col(self, name: str) -> str:
        return self.mapping.get(name, name)

    def _formats(self, rows: list[int], typed: dict[str, list]) -> list[RowIssue]:
        name = self.layer.name
        issues: list[RowIssue] = []
        for field_name, values in typed.items():
            enum = ENUMS.get((name, field_name))
            fmt = FORMATS.get((name, field_name))
            if enum is None and fmt is None:
                continue
            if _all_match(values, enum, fmt):
                continue
            also = ENUM_ALIASES.get((name, field_name), {})
            if enum is not None:
                _canonical(values, enum, also)
            width = PADDED.get((name, field_name))
            if width is not None:
                for i, v in enumerate(values):
                    if v is not None and len(v) < width and v.isascii() and v.isdigit():
                        values[i] = v.zfill(width)
                        issues.append(RowIssue(rows[i], self._col(field_name), v,
                                               f"read as {values[i]} (a spreadsheet dropped its leading zero)",
                                               "warning"))
            if enum is not None:
                terms = [next((a for a, c in also.items() if c == e), None) for e in enum]
                must = f"must be one of {', '.join(enum)}" + (
                    f" (or in Chinese: {'/'.join(t for t in terms if t)})" if also else "")
            for i, v in enumerate(values):
                if v is None:
                    continue
                if enum is not None and v not in enum:
                    issues.append(RowIssue(rows[i], self._col(field_name), v, must))
                elif fmt is not None and not fmt[0].match(v):
                    hint = _SCIENTIFIC_HINT if _SCIENTIFIC.match(v) else ""
                    issues.append(RowIssue(rows[i], self._col(field_name), v, f"must be {fmt[1]}{hint}"))
        check = getattr(self, f"_check_{name}", None)
        if check is not None:
            issues.extend(check(rows, typed))
        return issues

    def _check_admin_areas(self, rows, t):
        out = []
        for i, (code, level, parent) in enumerate(zip(t["code"], t["level"], t["parent_code"])):
            if code is None or level not in ADMIN_LEVEL_DIGITS:
                continue
            digits = ADMIN_LEVEL_DIGITS[level]
            ok = DIGITS[digits].match(code) and (
                level != "province" or code.endswith("0000")) and (level != "city" or code.endswith("00"))
            if not ok:
                out.append(RowIssue(rows[i], self._col("code"), code,
                                    f"a {level} code must be {digits} digits (GB/T 2260 district 6, street 9, "
                                    "community 12)"))
            elif level in ("street", "community"):
                if parent is None:
                    out.append(RowIssue(rows[i], self._col("parent_code"), None, f"a {level} needs its parent_code"))
                elif not code.startswith(parent) or len(parent) != digits - 3:
                    out.append(RowIssue(rows[i], self._col("parent_code"), parent,
                                        f"the parent of {level} {code} must be its first {digits - 3} digits"))
        return out

    def _check_unit_grids(self, rows, t):
        return [RowIssue(rows[i], self._col("community_code"), comm,
                         f"grid {code} does not start with its community code")
                for i, (code, comm) in enumerate(zip(t["code"], t["community_code"]))
                if code and comm and GRID.match(code) and DIGITS[12].match(comm) and not code.startswith(comm)]

    def _check_supervisors(self, rows, t):
        return [RowIssue(rows[i], self._col("grid_codes"), g, "must be responsibility grid codes separated by |")
                for i, codes in enumerate(t["grid_codes"]) for g in codes if not RESP_GRID.match(g)]

    def _check_roads(self, rows, t):
        out = []
        for side in ("left", "right"):
            for end in ("from", "to"):
                name = f"{side}_{end}"
                out += [RowIssue(rows[i], self._col(name), v, "a house number range must not be negative")
                        for i, v in enumerate(t[name]) if v is not None and v < 0]
        return out

    def _check_components(self, rows, t):
        return [RowIssue(rows[i], self._col("code"), code,
                         f"major class {code[6:8]} is a local extension (standard: 01-06)", "warning")
                for i, code in enumerate(t["code"])
                if code and code[6:8] not in STANDARD_MAJORS and COMPONENT.match(code)]

    def _check_cases(self, rows, t):
        # rule by rule over the rows each can concern (found by C-level list/set operations), not
        # row by row: a million cases took a second here
        kind, major, minor, comp = t["kind"], t["major_class"], t["minor_class"], t["component_code"]
        rep, closed = t["reported_at"], t["closed_at"]
        out = []
        if comp.count(None) != len(comp):
            for i, c in enumerate(comp):
                if c is None:
                    continue
                if kind[i] == "component" and DIGITS[16].match(c) and major[i] and minor[i] \
                        and c[6:10] != major[i] + minor[i]:
                    out.append(RowIssue(rows[i], self._col("component_code"), c,
                                        f"the component's class {c[6:8]}/{c[8:10]} differs from the case's "
                                        f"{major[i]}/{minor[i]}"))
                elif kind[i] == "event":
                    out.append(RowIssue(rows[i], self._col("component_code"), c,
                                        "an event case carries no component code (kind is event)", "warning"))
        local = set(major) - STANDARD_MAJORS - {None}
        if local:
            out += [RowIssue(rows[i], self._col("major_class"), m,
                             f"major class {m} is a local extension (standard: 01-06)", "warning")
                    for i, m in enumerate(major) if m in local and CLASS.match(m)]
        if "00" in minor:
            out += [RowIssue(rows[i], self._col("minor_class"), m, "minor class 00 does not exist")
                    for i, m in enumerate(minor) if m == "00"]
        if closed.count(None) != len(closed):
            try:  # all naive or all aware: compared as they are
                late = [i for i, (c, r) in enumerate(zip(closed, rep)) if c is not None and r is not None and c < r]
            except TypeError:  # naive (Beijing time) beside aware
                late = [i for i, (c, r) in enumerate(zip(closed, rep))
                        if c is not None and r is not None and _aware(c, self.zone) < _aware(r, self.zone)]
            out += [RowIssue(rows[i], self._col("closed_at"), closed[i].isoformat(), "closed before it was reported")
                    for i in late]
        out.sort(key=lambda it: it.row)  # row order, each row's issues in the order of the rules
        return out


def _class_names(rows: list[int], t: dict[str, list], col: Callable[[str], str]) -> list[RowIssue]:
    """Cases whose classes are written as the dictionary's names (大类名称 市容环境, 小类名称 暴露垃圾)
    get their codes; a name that fits no class, or several, is the row's error. Only the distinct
    values are looked at when all are codes."""
    major, minor, kind = t["major_class"], t["minor_class"], t["kind"]
    named = {v for v in (*set(major), *set(minor)) if v is not None and not v.isdigit()}
    if not named:
        return []
    classes = load_classes()
    kinds = {**{k: k for k in CASE_KIND.values}, **CASE_KIND.aliases}
    out = []
    for i in range(len(rows)):
        a, b = major[i], minor[i]
        if (a is None or a.isdigit()) and (b is None or b.isdigit()):
            continue
        try:
            found = classes.resolve(kinds.get(kind[i] or "", None),
                                    **{"major": a if a and a.isdigit() else None,
                                       "major_name": a if a and not a.isdigit() else None,
                                       "minor": b if b and b.isdigit() else None,
                                       "minor_name": b if b and not b.isdigit() else None})
        except UnknownClass as exc:
            out.append(RowIssue(rows[i], col("minor_class" if b and not b.isdigit() else "major_class"),
                                b if b and not b.isdigit() else a, exc.description))
            major[i] = minor[i] = None  # one error for the row, not a second one for the format
            continue
        major[i], minor[i] = found.major, found.minor
    return out


def _empty_required(f: Field, col: str | None, raw: list | None, values: list, rows: list[int]) -> list[RowIssue]:
    """A required field left empty, row by row (a value that failed its conversion is already an
    issue of its own)."""
    if not values.count([] if f.kind == "list" else None):  # count(): one pass in C
        return []
    return [RowIssue(rows[i], col or f.name, None, "required field is empty")
            for i, v in enumerate(values)
            if (v is None or v == []) and (raw is None or raw[i] is None or _text(raw[i]) is None)]


def admin_level(code: str | None) -> str | None:
    """The level a code of GB/T 2260 and the statistics bureau's division codes names: 12 digits a
    community (居委会/村委会), 9 a street office or township, 6 a province (XX0000), a prefecture
    city (XXXX00) or else a county-level district; None for anything else."""
    if code is None or not code.isascii() or not code.isdigit():
        return None
    if len(code) == 6:
        return "province" if code.endswith("0000") else "city" if code.endswith("00") else "district"
    return {9: "street", 12: "community"}.get(len(code))


def _admin_from_code(field: str, codes: list, values: list) -> list:
    """An admin area's level, or a street's or community's parent, where the file gives none: read
    from the code (a statistics-bureau code list has a code and a name, and its parent, if any,
    under another name: street_code, district_code). A value the file gives is kept, and checked."""
    if values.count(None) == 0:
        return values
    out = list(values)
    for i, v in enumerate(values):
        if v is None:
            level = admin_level(codes[i])
            if field == "level":
                out[i] = level
            elif level in ("street", "community"):
                out[i] = codes[i][:len(codes[i]) - 3]
    return out


def _all_match(values: list, enum, fmt) -> bool:
    """True when every value is in ``enum`` / matches ``fmt``: one pass in C over the column
    (distinct values against the enumeration; the format over all values joined by newlines), so
    the per-row loop that names the culprits only runs when there is one."""
    present = [v for v in values if v is not None]
    if enum is not None:
        return set(present) <= set(enum)
    joined = "\n".join(present)
    if joined.count("\n") != len(present) - 1 if present else False:
        return False  # a value with a newline of its own: let the loop judge it
    pattern = _MULTILINE.get(fmt[0].pattern)
    if pattern is None:
        pattern = _MULTILINE[fmt[0].pattern] = re.compile(fmt[0].pattern, re.MULTILINE)
    return pattern.subn("", joined)[1] == len(present)


_MULTILINE: dict[str, re.Pattern] = {}
# a long code that went through a spreadsheet as a number: 6501020101000001 -> 6.50102E+15
_SCIENTIFIC = re.compile(r"^[0-9](\.[0-9]+)?[eE]\+?[0-9]+$")
_SCIENTIFIC_HINT = (" (a spreadsheet turned the code into a number in scientific notation and lost its digits: "
                    "format the column as text and export again)")


def _canonical(values: list, enum: tuple[str, ...], aliases: dict[str, str]) -> None:
    """Replace, in place, each value that is another spelling of one of ``enum``."""
    known = {**{e.lower(): e for e in enum}, **aliases}
    for i, v in enumerate(values):
        if v is not None and v not in enum:
            c = known.get(v.lower())
            if c is not None:
                values[i] = c


def _aware(t: dt.datetime, zone: str) -> dt.datetime:
    """``t`` with its offset, read in ``zone`` when it has none."""
    return t if t.tzinfo else t.replace(tzinfo=zoneinfo.ZoneInfo(zone))


def _show(v) -> str | None:
    if v is None:
        return None
    text = str(v)
    return text if len(text) <= 200 else text[:197] + "..."


def _jsonable(v):
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    if isinstance(v, float):
        return None if v != v else v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, bytes):
        return v.hex()
    return str(v)
