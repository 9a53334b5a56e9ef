"""Old Excel workbooks (.xls: BIFF8, Excel 97-2003), which many 数字城管 systems and office
suites still export (and WPS Spreadsheets' own .et, the same BIFF8 records in the same OLE2
file), copied into an .xlsx so they are then read exactly as workbooks are (every sheet, title
rows above the header, cells as text, rows numbered as the sheet shows them).

xlrd reads the .xls; XlsxWriter writes the copy. Every cell is written as the text the workbook
shows for it, so nothing is guessed twice: a whole number without ".0" (a code typed as a number,
6501020101000001), other numbers in their shortest exact form (87.6191), a date cell as
2024-05-01 08:30:00 (its time left out at midnight), TRUE/FALSE; empty and error cells as empty.
"""
from __future__ import annotations

import datetime as dt
import io
import logging
from pathlib import Path

import xlrd
import xlsxwriter

from .base import ReadError

log = logging.getLogger("urbangis.ingest")


def to_xlsx(source: Path, target: Path) -> Path:
    """``source`` (.xls) copied as ``target`` (.xlsx), sheet by sheet; ReadError if it is no
    readable workbook."""
    said = io.StringIO()  # xlrd's own remarks on a damaged file (it prints them to stdout otherwise)
    try:
        book = xlrd.open_workbook(str(source), on_demand=True, logfile=said)
    except Exception as exc:  # xlrd raises XLRDError, CompDocError, struct and assertion errors on damage
        raise _refused(source, "not a readable", exc) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        out = xlsxwriter.Workbook(str(target), {"constant_memory": True, "strings_to_numbers": False,
                                                "strings_to_formulas": False, "strings_to_urls": False})
        try:
            for index in range(book.nsheets):
                sheet = book.sheet_by_index(index)
                ws = out.add_worksheet(sheet.name)
                for r in range(sheet.nrows):
                    for c, cell in enumerate(sheet.row(r)):
                        text = _text(cell, book.datemode)
                        if text is not None:
                            ws.write_string(r, c, text)
                book.unload_sheet(index)
        finally:
            out.close()
    except Exception as exc:  # a sheet cut short or damaged inside
        raise _refused(source, "a damaged", exc) from exc
    finally:
        book.release_resources()
        if said.getvalue():
            log.debug("%s: xlrd says %s", source.name, said.getvalue().strip()[:500])
    return target


def _refused(source: Path, what: str, exc: Exception) -> ReadError:
    return ReadError(f"{source.name}: {what} Excel 97-2003 workbook ({str(exc).strip()[:200] or type(exc).__name__}); "
                     "save it again as .xlsx or .csv")


def _text(cell: xlrd.sheet.Cell, datemode: int) -> str | None:
    kind, value = cell.ctype, cell.value
    if kind == xlrd.XL_CELL_TEXT:
        return value if value.strip() else None
    if kind == xlrd.XL_CELL_NUMBER:
        if value.is_integer() and abs(value) < 2 ** 53:
            return str(int(value))
        return repr(value)
    if kind == xlrd.XL_CELL_DATE:
        try:
            when = xlrd.xldate.xldate_as_datetime(value, datemode)
        except (xlrd.xldate.XLDateError, ValueError, OverflowError):
            return repr(value)
        return when.date().isoformat() if when.time() == dt.time() else when.isoformat(sep=" ")
    if kind == xlrd.XL_CELL_BOOLEAN:
        return "TRUE" if value else "FALSE"
    return None  # empty, blank, error (#N/A, #DIV/0!)
