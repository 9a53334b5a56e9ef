"""Zip archives from staff, unpacked only after they are shown to be safe.

Refused: members with absolute paths or ``..`` (path traversal), symbolic links, more than
``max_members`` entries, a total unpacked size over ``max_total`` or a member whose compression
ratio is absurd (zip bombs). Sizes are counted while unpacking too, since the sizes a zip
declares can lie.
"""
from __future__ import annotations

import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .base import ReadError

MAX_MEMBERS = 10_000
MAX_TOTAL = 8 << 30  # 8 GiB unpacked
MAX_RATIO = 200  # real GIS data compresses 3-20x; bombs compress 1000x and more
# what Python's zipfile can unpack: stored, deflate, bzip2, lzma
READABLE_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate",
                    zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}
REZIP = "zip it again with standard Deflate (7-Zip: Deflate, or `zip`)"
# what a cut or corrupted archive raises while it is read
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


class UnsafeArchive(ReadError):
    """The archive is refused as unsafe (400); nothing was unpacked."""

    status, code = 400, "InvalidParameterValue"


def _check_name(name: str, archive: str) -> PurePosixPath:
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":") or ".." in path.parts:
        raise UnsafeArchive(f"{archive}: member {name!r} points outside the archive (path traversal); refused")
    return path


def open_zip(archive: Path) -> zipfile.ZipFile:
    """The archive opened for reading, its members' names as their makers wrote them (below);
    ReadError if its listing cannot be read."""
    name = Path(archive).name
    try:
        zf = zipfile.ZipFile(archive)
        for info in zf.filelist:
            info.filename = _member_name(info)
        # and found by those names (ZipFile.open(name) looks them up here, built as it read them)
        zf.NameToInfo = {info.filename: info for info in zf.filelist}
        return zf
    except NotImplementedError as exc:  # e.g. "zip file version 7.9": features Python's zipfile lacks
        raise ReadError(f"{name}: a zip archive this server cannot read ({exc}); {REZIP}") from exc
    except DAMAGED as exc:
        raise ReadError(f"{name}: damaged zip archive ({exc}); was it cut off while copying? "
                        "Send it again") from exc


def _member_name(info: zipfile.ZipInfo) -> str:
    """A member's name. Without the UTF-8 flag, Python reads it as CP437, which is what DOS wrote;
    but Info-ZIP on Linux writes UTF-8 without the flag, and Windows' compressed folders and WinRAR
    on Chinese Windows write GBK: 单元网格.shp arrives as 'σìòσàâτ╜æµá╝.shp' and its layer is not
    recognised. So: UTF-8 if the bytes are valid UTF-8, else GB18030 if valid, else CP437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:  # not read as CP437 (a name from the Unicode path extra field)
        return info.filename
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def check(archive: Path, max_total: int = MAX_TOTAL, max_members: int = MAX_MEMBERS) -> list[zipfile.ZipInfo]:
    """The archive's file members, if the archive is safe to unpack; UnsafeArchive otherwise."""
    name = Path(archive).name
    with open_zip(archive) as zf:
        members = zf.infolist()
    if len(members) > max_members:
        raise UnsafeArchive(f"{name}: {len(members)} members (more than {max_members}); refused")
    total = 0
    files = []
    for info in members:
        if not info.filename:
            raise ReadError(f"{name}: damaged zip archive (a member without a name); was it cut off or "
                            "corrupted while copying? Send it again")
        _check_name(info.filename, name)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchive(f"{name}: member {info.filename!r} is a symbolic link; refused")
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise ReadError(f"{name}: member {info.filename!r} is encrypted; send it without a password")
        if info.compress_type not in READABLE_METHODS:
            # Windows' own "compressed folder" writes Deflate64 (method 9) for large files
            method = "Deflate64" if info.compress_type == 9 else f"method {info.compress_type}"
            raise ReadError(f"{name}: member {info.filename!r} is compressed with {method}, which cannot be "
                            f"unpacked here; {REZIP}")
        total += info.file_size
        if total > max_total:
            raise UnsafeArchive(f"{name}: unpacks to more than {max_total >> 20} MiB; refused (zip bomb?)")
        if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise UnsafeArchive(
                f"{name}: member {info.filename!r} expands {info.file_size // max(info.compress_size, 1)}x "
                f"({info.compress_size} -> {info.file_size} bytes); refused as a zip bomb")
        files.append(info)
    return files


def extract(archive: Path, dest: Path, max_total: int = MAX_TOTAL) -> Path:
    """Unpack a checked archive into ``dest``; returns the folder holding the data."""
    files = check(archive, max_total=max_total)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written = 0
    with open_zip(archive) as zf:
        for info in files:
            rel = _check_name(info.filename, archive.name)
            if rel.parts and rel.parts[0] == "__MACOSX":
                continue
            target = (root / Path(*rel.parts)).resolve()
            if root not in target.parents:
                raise UnsafeArchive(f"{archive.name}: member {info.filename!r} escapes the folder; refused")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                written = _copy_member(zf, info, out, written, max_total, archive.name)
    # a zip of one folder: the data is in that folder
    entries = [p for p in root.iterdir() if p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return root


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, out, written: int, max_total: int, archive: str) -> int:
    """Copy one member to ``out``, counting what it really unpacks to; returns the running total.
    A member that cannot be read (cut off, corrupted) is a ReadError; a failed write (disk full)
    stays what it is."""
    def damaged(exc: Exception) -> ReadError:
        return ReadError(f"{archive}: member {info.filename!r} is damaged ({exc}); was the archive cut off "
                         "or corrupted while copying? Send it again")
    try:
        src = zf.open(info)
    except NotImplementedError as exc:  # e.g. "compressed patched data (flag bit 5)"
        raise ReadError(f"{archive}: member {info.filename!r} uses a zip feature this server cannot read "
                        f"({exc}); {REZIP}") from exc
    except DAMAGED as exc:
        raise damaged(exc) from exc
    with src:
        budget = info.file_size
        while True:
            try:
                chunk = src.read(1 << 20)
            except DAMAGED as exc:
                raise damaged(exc) from exc
            if not chunk:
                return written
            budget -= len(chunk)
            written += len(chunk)
            if budget < 0 or written > max_total:
                raise UnsafeArchive(f"{archive}: member {info.filename!r} unpacks to more "
                                    "than it declares; refused (zip bomb?)")
            out.write(chunk)
