"""A rejected-rows file the loader wrote (``<report>.rejected.geojson``, and for rows read from a
CSV or XLSX ``<report>.rejected.<layer>.csv``), fixed by data staff and loaded again: its rows keep
the contract's field names, and four fields of bookkeeping say which layer, file and row each came
from and why it was rejected. Loaded again, each row goes to the layer it names, and the
bookkeeping stays out of the rows' ``attrs``. A CSV may come back saved by Excel as XLSX or in GBK:
it is recognised by its columns either way."""
from __future__ import annotations

from pathlib import Path

import pyogrio
import pyogrio.raw

from .archive import DAMAGED, open_zip
from .base import ReadError

FIELDS = ("_layer", "_file", "_row", "_reasons")  # written by report.RejectedWriter


def is_rejected_file(columns) -> bool:
    """True when ``columns`` (a GeoJSON's fields) are those of a rejected-rows file."""
    return set(FIELDS) <= set(columns)


def layers_in(path: Path) -> list[str] | None:
    """The layers a rejected-rows file's rows name, in file order; None for any other GeoJSON.
    Only files whose start names the bookkeeping fields are opened (cheap for others)."""
    with Path(path).open("rb") as fh:
        head = fh.read(1 << 16)
    if b'"_reasons"' not in head:
        return None
    try:
        if not is_rejected_file(pyogrio.read_info(path)["fields"]):
            return None
        _, _, _, (layers,) = pyogrio.raw.read(path, columns=["_layer"], read_geometry=False)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise ReadError(f"{Path(path).name}: cannot read ({str(exc).strip().splitlines()[0]})") from exc
    return list(dict.fromkeys(str(v) for v in layers if v is not None))


def where(layer: str) -> str:
    """The GDAL attribute filter of one layer's rows."""
    return "\"_layer\" = '" + layer.replace("'", "''") + "'"


def may_be_table(path: Path, kind: str) -> bool:
    """Cheaply, whether a CSV, XLSX or ODS can be a rejected-rows table: its header names ``_reasons``
    (a CSV's first bytes; an XLSX's first shared strings or first sheet's start, an ODS's content,
    where a header's text is). False is sure; True is to be confirmed by ``table_layers``."""
    if kind == "csv":
        with Path(path).open("rb") as fh:
            return b"_reasons" in fh.read(1 << 16)
    try:
        with open_zip(path) as zf:
            names = [n for n in zf.namelist() if n in ("xl/sharedStrings.xml", "content.xml")
                     or n.startswith("xl/worksheets/")]
            for name in sorted(names)[:2]:  # sharedStrings.xml sorts before worksheets/
                with zf.open(name) as member:
                    if b">_reasons<" in member.read(1 << 18):
                        return True
    except (ReadError, *DAMAGED, NotImplementedError):
        return False  # the reader will say what is wrong with it
    return False


def table_layers(reader) -> list[str] | None:
    """The layers a rejected-rows table (a TableReader over a CSV or XLSX) names in ``_layer``,
    in row order; None for any other table."""
    if not is_rejected_file(reader.all_columns):
        return None
    return list(dict.fromkeys(v.strip() for v in reader.values_of("_layer") if v and v.strip()))
