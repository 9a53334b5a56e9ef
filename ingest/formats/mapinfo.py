"""MapInfo tables (.tab with .dat, .map, .id) and interchange files (.mif with .mid): the files a
table needs, and the text encoding when the header does not say it.

MapInfo Professional on Chinese Windows writes ``Charset "WindowsSimpChinese"`` and GDAL recodes
that from GBK by itself. But tables written by converters and older tools often say
``Charset "Neutral"`` (no recoding) over GBK text, which GDAL hands on as bytes that are not UTF-8.
GDAL has no open option to name the encoding (only a creation option), so such a table is read
through a copy of its header saying WindowsSimpChinese, beside links to its data files, with a
warning: the same choice as for a .dbf without a .cpg (formats/dbf.py).
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from . import dbf
from .base import MissingParts

# a table's parts: header, attributes, geometry, the geometry's row index (.ind: attribute indexes)
TAB_PARTS = (".dat", ".map", ".id", ".ind")
_CHARSET = re.compile(rb'(?im)^(\s*(?:!charset\s+|.*\bcharset\s+"?))([A-Za-z0-9_-]+)')
_NEUTRAL = {b"neutral"}


def check_parts(path: Path) -> None:
    """MissingParts naming the part a MapInfo table or interchange file lacks."""
    if path.suffix.lower() == ".tab":
        if dbf.sidecar(path, ".dat") is None:
            raise MissingParts(f"{path.name}: the MapInfo table's .dat (its rows) is missing; a MapInfo table is "
                               ".tab + .dat + .map + .id: send them together (zipped)")
        if dbf.sidecar(path, ".map") is not None and dbf.sidecar(path, ".id") is None:
            raise MissingParts(f"{path.name}: the MapInfo table's .id (which row each shape is) is missing; a MapInfo "
                               "table is .tab + .dat + .map + .id: send them together (zipped)")
        return
    m = re.search(rb"(?im)^\s*columns\s+(\d+)", _head(path))
    if m and int(m.group(1)) > 0 and dbf.sidecar(path, ".mid") is None:
        raise MissingParts(f"{path.name}: the interchange file's .mid (its {int(m.group(1))} columns' values) is "
                           "missing; a MIF comes as .mif + .mid: send both (zipped)")


def _head(path: Path, size: int = 1 << 16) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size)


def _data_sample(path: Path) -> bytes | None:
    """The first MiB of the table's text values (.dat: dBase records; .mid: text)."""
    if path.suffix.lower() == ".tab":
        dat = dbf.sidecar(path, ".dat")
        return None if dat is None else dbf.sample(dat, 1 << 20, any_ldid=True)
    mid = dbf.sidecar(path, ".mid")
    if mid is None:
        return None
    data = _head(mid, 1 << 20)
    return data[: data.rfind(b"\n") + 1] or data


def readable(path: Path) -> tuple[Path, str | None, Path | None]:
    """(the file GDAL should open, a warning or None, a temporary folder to remove after reading or
    None): ``path`` itself unless its header says Neutral (or nothing) over text that is GBK; then
    a copy saying WindowsSimpChinese."""
    head = _head(path)
    m = _CHARSET.search(head)
    if m is not None and m.group(2).lower() not in _NEUTRAL:
        return path, None, None
    data = _data_sample(path)
    if not data or data.isascii() or dbf.decodes(data, "utf-8") or not dbf.decodes(data, "gb18030"):
        return path, None, None
    said = f'says Charset "{m.group(2).decode()}"' if m else "names no charset"
    warning = (f"{path.name} {said}, but its text is not UTF-8; it is valid GBK/GB18030 and was read as GBK "
               '(MapInfo: Table > Maintenance > Table Structure, or save it with Charset "WindowsSimpChinese")')
    copy = _with_charset(path, b"WindowsSimpChinese")
    return copy, warning, copy.parent


def _with_charset(path: Path, charset: bytes) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="urbangis-mapinfo-"))
    copy = folder / path.name
    with path.open("rb") as src, copy.open("wb") as out:
        head = src.read(1 << 16)
        end = head.lower().find(b"\ndata")  # a .mif's header ends at its Data line; a .tab is all header
        end = len(head) if end < 0 else end
        top = head[:end]
        if _CHARSET.search(top) is not None:  # a .tab says it twice (!charset, and in its Definition Table)
            top = _CHARSET.sub(lambda m: m.group(1) + charset, top)
        elif path.suffix.lower() == ".tab":
            top = re.sub(rb"(?i)^(!version[^\n]*\n)", rb"\1!charset " + charset + b"\n", top, count=1)
        else:
            top = re.sub(rb"(?i)^(version[^\n]*\n)", rb'\1Charset "' + charset + b'"\n', top, count=1)
        out.write(top + head[end:])
        shutil.copyfileobj(src, out, 1 << 20)  # a .mif's shapes, as they are
    for part in path.parent.glob(path.stem + ".*"):
        if part != path and part.is_file():
            (folder / part.name).symlink_to(part.resolve())
    return copy
