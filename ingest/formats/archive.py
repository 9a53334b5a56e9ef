"""Zip archives from staff, unpacked only after they are shown to be safe.

Refused: members with absolute paths or ``..`` (path traversal), symbolic links, more than
``max_members`` entries, a total unpacked size over ``max_total`` or a member whose compression
ratio is absurd (zip bombs). Sizes are counted while unpacking too, since the sizes a zip
declares can lie.
"""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from .base import ReadError

MAX_MEMBERS = 10_000
MAX_TOTAL = 8 << 30  # 8 GiB unpacked
MAX_RATIO = 200  # real GIS data compresses 3-20x; bombs compress 1000x and more


class UnsafeArchive(ReadError):
    """The archive is refused as unsafe; nothing was unpacked."""


def _check_name(name: str, archive: str) -> PurePosixPath:
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":") or ".." in path.parts:
        raise UnsafeArchive(f"{archive}: member {name!r} points outside the archive (path traversal); refused")
    return path


def check(archive: Path, max_total: int = MAX_TOTAL, max_members: int = MAX_MEMBERS) -> list[zipfile.ZipInfo]:
    """The archive's file members, if the archive is safe to unpack; UnsafeArchive otherwise."""
    name = Path(archive).name
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise ReadError(f"{name}: damaged zip archive ({exc})") from exc
    with zf:
        members = zf.infolist()
    if len(members) > max_members:
        raise UnsafeArchive(f"{name}: {len(members)} members (more than {max_members}); refused")
    total = 0
    files = []
    for info in members:
        _check_name(info.filename, name)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchive(f"{name}: member {info.filename!r} is a symbolic link; refused")
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise ReadError(f"{name}: member {info.filename!r} is encrypted; send it without a password")
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
    with zipfile.ZipFile(archive) as zf:
        for info in files:
            rel = _check_name(info.filename, archive.name)
            if rel.parts and rel.parts[0] == "__MACOSX":
                continue
            target = (root / Path(*rel.parts)).resolve()
            if root not in target.parents:
                raise UnsafeArchive(f"{archive.name}: member {info.filename!r} escapes the folder; refused")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as out:
                budget = info.file_size
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    budget -= len(chunk)
                    written += len(chunk)
                    if budget < 0 or written > max_total:
                        raise UnsafeArchive(f"{archive.name}: member {info.filename!r} unpacks to more "
                                            "than it declares; refused (zip bomb?)")
                    out.write(chunk)
    # a zip of one folder: the data is in that folder
    entries = [p for p in root.iterdir() if p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return root
