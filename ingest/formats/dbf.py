"""The text encoding of a shapefile's .dbf when no .cpg says it.

GDAL falls back to ISO-8859-1 for a .dbf without a .cpg and without a language driver id, which
turns GBK Chinese into mojibake silently. Chinese desktop GIS (and older ArcGIS) write GBK .dbf
files without a .cpg all the time, so the bytes are looked at: pure ASCII or valid UTF-8 is read
as UTF-8, otherwise valid GB18030 (a superset of GBK) is read as such, with a warning.
"""
from __future__ import annotations

import struct
from pathlib import Path

# dBASE language driver ids that name an encoding GDAL honours by itself.
_LDID = {0x4D: "CP936", 0x7A: "CP936", 0x57: "CP1252", 0x03: "CP1252", 0x01: "CP437"}


def sidecar(path: Path, suffix: str) -> Path | None:
    """The file next to ``path`` with ``suffix`` in any letter case, if present."""
    for candidate in path.parent.glob(path.stem + ".*"):
        if candidate.suffix.lower() == suffix:
            return candidate
    return None


# What a .cpg holds when it says UTF-8 (ArcGIS Pro and QGIS write "UTF-8"; Windows code page 65001).
_UTF8_CPG = {"utf-8", "utf8", "65001", "cp65001"}


def detect(shp: Path, sample_bytes: int = 1 << 20) -> tuple[str | None, str | None]:
    """(encoding to pass to GDAL or None to let it decide, warning or None)."""
    dbf = sidecar(shp, ".dbf")
    if dbf is None:
        return None, None
    cpg = sidecar(shp, ".cpg")
    if cpg is not None:
        # honoured, except one lie seen in the wild: a .cpg saying UTF-8 beside a GBK .dbf (a tool
        # that copies the .cpg but writes the text in the system code page), which GDAL cannot read
        said = cpg.read_bytes()[:64].decode("ascii", "replace").strip().lower()
        if said not in _UTF8_CPG:
            return None, None
        data = sample(dbf, sample_bytes, any_ldid=True)
        if data is None or data.isascii() or decodes(data, "utf-8") or not decodes(data, "gb18030"):
            return None, None
        return "GB18030", (f"{cpg.name} says UTF-8, but the text of {dbf.name} is not UTF-8; it is valid "
                           "GBK/GB18030 and was read as GBK (correct the .cpg to GBK)")
    data = sample(dbf, sample_bytes)
    if data is None or data.isascii():
        return None, None
    if decodes(data, "utf-8"):
        return "UTF-8", f"{dbf.name}: no .cpg file; the text is valid UTF-8 and was read as UTF-8"
    if not decodes(data, "gb18030"):
        return None, None
    return "GB18030", (f"{dbf.name}: no .cpg file; the text is not UTF-8 but valid GBK/GB18030 and was "
                       "read as GBK (add a .cpg containing GBK to say so)")


def sample(dbf: Path, sample_bytes: int, any_ldid: bool = False) -> bytes | None:
    """The first records of the .dbf (None: no header, or a language driver id GDAL honours, unless
    ``any_ldid``), cut after the last space so no multi-byte character is cut in two."""
    with dbf.open("rb") as fh:
        header = fh.read(32)
        if len(header) < 32:
            return None
        header_len = struct.unpack("<H", header[8:10])[0]
        if header[29] in _LDID and not any_ldid:
            return None
        fh.seek(header_len)
        data = fh.read(sample_bytes)
    if len(data) == sample_bytes:
        data = data[: data.rfind(b" ") + 1] or data
    return data


def decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True
