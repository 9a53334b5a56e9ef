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


def detect(shp: Path, sample_bytes: int = 1 << 20) -> tuple[str | None, str | None]:
    """(encoding to pass to GDAL or None to let it decide, warning or None)."""
    if sidecar(shp, ".cpg") is not None:
        return None, None
    dbf = sidecar(shp, ".dbf")
    if dbf is None:
        return None, None
    with dbf.open("rb") as fh:
        header = fh.read(32)
        if len(header) < 32:
            return None, None
        header_len = struct.unpack("<H", header[8:10])[0]
        ldid = header[29]
        if ldid in _LDID:
            return None, None
        fh.seek(header_len)
        data = fh.read(sample_bytes)
    if len(data) == sample_bytes:
        # a multi-byte character may be cut at the end of the sample
        data = data[: data.rfind(b" ") + 1] or data
    if data.isascii():
        return None, None
    try:
        data.decode("utf-8")
        return "UTF-8", f"{dbf.name}: no .cpg file; the text is valid UTF-8 and was read as UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
    except UnicodeDecodeError:
        return None, None
    return "GB18030", (f"{dbf.name}: no .cpg file; the text is not UTF-8 but valid GBK/GB18030 and was "
                       "read as GBK (add a .cpg containing GBK to say so)")
