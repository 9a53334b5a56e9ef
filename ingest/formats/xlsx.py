"""Excel date-time formats GDAL reads as dates alone.

GDAL's XLSX driver (3.6, the one Debian 12 ships) types a cell by its number format: a format
with a date part is a date-time only if it holds "HH", so the hour written once, as Excel's own
custom formats (yyyy/m/d h:mm), WPS's and openpyxl's default (yyyy-mm-dd h:mm:ss) write it, makes
the cell a date and its time of day is dropped without a word: a case reported at 09:30 loaded
as reported at midnight. Such a workbook is read through a copy whose formats write the hour
twice (h:mm -> hh:mm; what a cell holds is untouched), so GDAL gives each cell its time.

Done by hand: no library reads an .xlsx the way GDAL does for the rest of the loader (sheets,
title rows, merged header cells), and the change is to one attribute of one XML part.
"""
from __future__ import annotations

import html
import re
import shutil
import zipfile
import zlib
from pathlib import Path

from .base import ReadError

STYLES = "xl/styles.xml"
_NUM_FMT = re.compile(r'(<(?:\w+:)?numFmt\b[^>]*?\bformatCode=")([^"]*)(")')


def hours_doubled(code: str) -> str:
    """``code`` with each hour written once (h, H) written twice, where the format has a date part
    too; text in quotes, escaped characters and [...] sections (elapsed [h], locale [$-409]) are
    kept as they are. The same code when nothing is to change."""
    parts = re.split(r'("[^"]*"|\\.|\[[^\]]*\])', code)  # odd items: quoted, escaped, bracketed
    plain = "".join(parts[0::2]).lower()
    if not ("y" in plain or "d" in plain):
        return code
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"(?<![hH])[hH](?![hH])", "hh", parts[i])
    return "".join(parts)


def _fixed_styles(xml: str) -> str | None:
    changed = False

    def one(m: re.Match) -> str:
        nonlocal changed
        code = html.unescape(m.group(2))
        new = hours_doubled(code)
        if new == code:
            return m.group(0)
        changed = True
        return m.group(1) + html.escape(new, quote=True) + m.group(3)

    out = _NUM_FMT.sub(one, xml)
    return out if changed else None


def with_hours(source: Path, workdir: Path, max_unpacked: int) -> Path | None:
    """A copy of the workbook ``source`` under ``workdir``, named as it is, whose date-time formats
    GDAL reads with their time; None when it needs none (no such format, or not a readable
    .xlsx: GDAL then says what is wrong with it). A workbook whose parts unpack to more than
    ``max_unpacked`` bytes is refused, as a zip that large is."""
    try:
        with zipfile.ZipFile(source) as zf:
            try:
                info = zf.getinfo(STYLES)
            except KeyError:
                return None
            if info.file_size > 64 << 20:  # a style sheet is kilobytes; anything else is no workbook's
                return None
            fixed = _fixed_styles(zf.read(info).decode("utf-8", errors="strict"))
            if fixed is None:
                return None
            total = sum(i.file_size for i in zf.infolist())
            if total > max_unpacked:
                raise ReadError(f"{source.name}: its parts unpack to {total / 2**20:,.0f} MB, over the "
                                f"{max_unpacked / 2**20:,.0f} MB a load unpacks")
            target = workdir / "with-hours" / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
                for item in zf.infolist():
                    if item.filename == STYLES:
                        out.writestr(item, fixed.encode("utf-8"))
                        continue
                    with zf.open(item) as src, out.open(item, "w") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
            return target
    except ReadError:
        raise
    except (zipfile.BadZipFile, zlib.error, UnicodeDecodeError, OSError, EOFError, ValueError, NotImplementedError):
        return None  # damaged: read as it is, and GDAL's refusal reported as for any damaged workbook
