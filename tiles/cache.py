"""The disk tile cache: gzipped tiles under ``<root>/<tileset>/<tms>/<state>/<z>/<x>/<y>.mvt.gz``.

``state`` is a digest of everything a tile's bytes depend on (the database, the ``layer_state``
version and time of every table in the tileset, the registry entries), so a change to the data
makes a new folder and old tiles are never served; the folders of older states are removed when
a new one is first written. An empty tile is an empty file, so empty areas are cached too."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger("urbangis.tiles")
RETIRE_AFTER = 30.0  # seconds since an older state's folder was last written before it is removed


class TileCache:
    """A folder of gzipped tiles, or a cache that is off (``root`` None)."""

    def __init__(self, root: Path | None) -> None:
        self.root = Path(root) if root is not None else None
        self._known_states: set[Path] = set()

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def _path(self, tileset: str, tms_id: str, state: str, z: int, x: int, y: int) -> Path:
        assert self.root is not None
        return self.root / tileset / tms_id / state / str(z) / str(x) / f"{y}.mvt.gz"

    def get(self, tileset: str, tms_id: str, state: str, z: int, x: int, y: int) -> bytes | None:
        """The cached gzipped tile (b'' for an empty tile), or None on a miss or when off."""
        if self.root is None:
            return None
        try:
            return self._path(tileset, tms_id, state, z, x, y).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, tileset: str, tms_id: str, state: str, z: int, x: int, y: int, data: bytes) -> None:
        """Store a gzipped tile; atomic (write then rename), so readers never see half a tile.
        A cache that cannot be written (disk full, permissions) is logged, never fatal."""
        if self.root is None:
            return
        path = self._path(tileset, tms_id, state, z, x, y)
        state_dir = path.parents[2]
        try:
            if state_dir not in self._known_states:
                self._retire_other_states(state_dir)
                self._known_states.add(state_dir)
            for attempt in (1, 2):
                try:
                    self._write(path, y, data)
                    break
                except FileNotFoundError:
                    # another process retired this state's folder as we wrote (it saw a state
                    # we had not seen yet): write it again, or leave the tile uncached
                    if attempt == 2:
                        raise
        except OSError as exc:
            log.warning("tile cache: cannot write %s: %s", path, exc)

    @staticmethod
    def _write(path: Path, y: int, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{y}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except FileNotFoundError:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _retire_other_states(self, state_dir: Path) -> None:
        """Remove the folders of other (older) states of the same tileset and TMS."""
        parent = state_dir.parent
        if not parent.is_dir():
            return
        now = time.time()
        for other in parent.iterdir():
            try:
                # a folder written to within the grace period may be a newer state another
                # worker process has seen first: leave it for a later change to remove
                fresh = now - other.stat().st_mtime < RETIRE_AFTER
            except FileNotFoundError:
                continue
            if other != state_dir and other.is_dir() and not fresh:
                log.info("tile cache: data changed, removing %s", other)
                shutil.rmtree(other, ignore_errors=True)
                self._known_states.discard(other)

    def clear(self) -> None:
        """Remove every cached tile."""
        if self.root is not None and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)
        self._known_states.clear()
