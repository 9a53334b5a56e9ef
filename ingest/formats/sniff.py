"""What a file really is, from its first bytes, so a renamed file is refused with a clear reason."""
from __future__ import annotations

import re
from pathlib import Path

from .archive import DAMAGED, open_zip
from .base import ReadError

_BY_SUFFIX = {
    ".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson", ".shp": "shp", ".fgb": "fgb",
    ".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xls": "xls", ".et": "xls", ".ods": "ods", ".zip": "zip",
    ".kml": "kml", ".kmz": "kmz",
    ".tab": "mapinfo", ".mif": "mapinfo",
}
_EXPECTED = ("GeoJSON, GeoPackage, Shapefile, File Geodatabase, MapInfo TAB/MIF, FlatGeobuf, KML/KMZ, CSV, XLSX, "
             "XLS, WPS ET, ODS or a zip of them")
# An Esri File Geodatabase is a folder (名称.gdb) whose first table is the catalogue of the others.
GDB_CATALOGUE = "a00000001.gdbtable"


# Bytes no CSV or GeoJSON holds (UTF-8 and GBK text alike): C0 controls but \t \n \f \r, and DEL.
_CONTROL = bytes(sorted(set(range(32)) - {9, 10, 12, 13})) + b"\x7f"


def detect_kind(path: Path) -> str:
    """One of gpkg, geojson, shp, filegdb, mapinfo, fgb, kml, kmz, csv, xlsx, xls, ods, zip, folder;
    ReadError for anything else."""
    path = Path(path)
    if path.is_dir():
        return _folder_kind(path)
    head = _head(path)
    suffix = path.suffix.lower()
    if head.startswith(b"SQLite format 3\x00"):
        if suffix not in ("", ".gpkg", ".sqlite"):
            raise ReadError(f"{path.name}: this is an SQLite/GeoPackage file, not {suffix}")
        return "gpkg"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_kind(path, suffix)
    return _binary_kind(path, head, suffix) or _text_kind(path, head, suffix)


def _folder_kind(path: Path) -> str:
    """A folder: a File Geodatabase, or a folder of files; ReadError for a .gdb folder that is none."""
    if is_filegdb(path):
        return "filegdb"
    if path.suffix.lower() == ".gdb":
        raise ReadError(f"{path.name}: not a File Geodatabase (no {GDB_CATALOGUE} in it); copy or zip the "
                        "whole .gdb folder as ArcGIS wrote it")
    return "folder"


def _head(path: Path) -> bytes:
    """The file's first 4096 bytes; ReadError for a missing or empty file."""
    if not path.exists():
        raise ReadError(f"{path.name}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise ReadError(f"{path.name}: the file is empty (0 bytes)")
    with path.open("rb") as fh:
        return fh.read(4096)


def _zip_kind(path: Path, suffix: str) -> str:
    """A zip archive: an XLSX or ODS workbook, a KMZ, or a zip of other files."""
    with open_zip(path) as zf:
        names = zf.namelist()
        opendocument = names[:1] == ["mimetype"] and "content.xml" in names  # LibreOffice, WPS
        try:
            mimetype = zf.read("mimetype")[:100] if opendocument else b""
        except DAMAGED as exc:
            raise ReadError(f"{path.name}: damaged OpenDocument file ({exc}); was it cut off while copying? "
                            "Send it again") from exc
    if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
        return "xlsx"
    if opendocument:
        if mimetype == b"application/vnd.oasis.opendocument.spreadsheet":
            return "ods"
        raise ReadError(f"{path.name}: an OpenDocument file that is no spreadsheet "
                        f"({mimetype.decode('ascii', 'replace')})")
    if suffix == ".kmz":  # Google Earth / 奥维 (Ovital): a zip holding doc.kml (and its icons)
        if not any(n.lower().endswith(".kml") for n in names):
            raise ReadError(f"{path.name}: a KMZ without a .kml inside")
        return "kmz"
    return "zip"


def _binary_kind(path: Path, head: bytes, suffix: str) -> str | None:
    """The kind a binary header says (shp, fgb, xls); ReadError for binary content of another kind or
    none that its suffix promises; None for text."""
    if head[:4] == b"\x00\x00\x27\x0a":  # ESRI shapefile file code 9994, big-endian
        return "shp"
    if head[:3] == b"fgb":
        return "fgb"
    if suffix == ".shp":
        raise ReadError(f"{path.name}: not a shapefile (its header is not the ESRI .shp header)")
    if head.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE2 compound file: an Excel 97-2003 workbook, or a .doc ...
        return "xls"  # formats/xls.py says if it is no workbook
    if head.startswith(b"\x00\x01\x00\x00Standard Jet DB") or head.startswith(b"\x00\x01\x00\x00Standard ACE DB"):
        raise ReadError(f"{path.name}: a Microsoft Access file (an Esri personal geodatabase, .mdb), which cannot "
                        "be read here; export it from ArcGIS to a File Geodatabase (.gdb) or shapefiles")
    if suffix in (".xls", ".et"):
        raise ReadError(f"{path.name}: not an Excel 97-2003 workbook (it does not start as one); "
                        "save it again as .xlsx or .csv")
    if head.translate(None, _CONTROL) != head:  # text files hold no control bytes but tab and line ends
        raise ReadError(f"{path.name}: binary file of an unknown type (expected {_EXPECTED})")
    return None


def _text_kind(path: Path, head: bytes, suffix: str) -> str:
    """A text file: GeoJSON or KML by its start, MapInfo or CSV by its suffix; ReadError when the
    content does not match the suffix."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{") or text.startswith(b"["):
        return "geojson"
    kml = text.startswith(b"<") and b"<kml" in head
    if suffix == ".kmz":
        raise ReadError(f"{path.name}: not a KMZ (a KMZ is a zip archive holding a .kml)"
                        + ("; this is a plain KML: name it .kml" if kml else ""))
    if kml:
        return "kml"
    if suffix == ".kml":
        raise ReadError(f"{path.name}: not KML (no <kml> element at its start)")
    if suffix in (".geojson", ".json"):
        raise ReadError(f"{path.name}: not JSON (it does not start with '{{')")
    if suffix in (".tab", ".mif"):
        return _mapinfo(path, text)
    if suffix in (".csv", ".txt", ".tsv", ""):
        return "csv"
    kind = _BY_SUFFIX.get(suffix)
    if kind is None:
        raise ReadError(f"{path.name}: unsupported file type {suffix!r} (expected {_EXPECTED})")
    raise ReadError(f"{path.name}: content does not match its {suffix} suffix")


def is_filegdb(folder: Path) -> bool:
    """Whether ``folder`` is an Esri File Geodatabase (its catalogue table inside, in any letter case)."""
    return any(p.name.lower() == GDB_CATALOGUE for p in Path(folder).iterdir())


def _mapinfo(path: Path, text: bytes) -> str:
    """A MapInfo table (.tab: its header; the data in .dat, .map, .id beside it) or interchange file
    (.mif, its data in .mid); a .tab that is no MapInfo header is read as tab-separated text."""
    first = text.split(b"\n", 1)[0].strip().lower()
    if path.suffix.lower() == ".mif":
        if not first.startswith(b"version"):
            raise ReadError(f"{path.name}: not a MapInfo interchange file (it does not start with 'Version')")
        return "mapinfo"
    if first != b"!table":
        return "csv"
    if re.search(rb'\btype\s+"?raster\b', text, re.I):
        raise ReadError(f"{path.name}: a MapInfo raster table (an image's registration), not vector data")
    return "mapinfo"
