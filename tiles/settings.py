"""Tile settings, read once from the environment (prefix ``URBANGIS_TILE_``)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from urbangis.layers.config import get_settings

OFF = {"off", "none", "no", "false", "0", ""}


class TileSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="URBANGIS_TILE_", extra="ignore")

    cache: str | None = Field(
        default=None,
        description="Tile cache folder, or 'off' to render every tile from the database "
        "(default: <URBANGIS_HOME>/tiles).",
    )
    max_age: int = Field(
        default=60, ge=0, description="Cache-Control max-age of tiles, seconds (clients revalidate with ETag)."
    )
    # Level 1: a 790 kB tile of 10,000 cases compresses in 6 ms to 285 kB with zlib; level 6
    # takes 33 ms for 234 kB, longer than PostGIS takes to make the tile. Levels 1-3 are made by
    # ISA-L (the `isal` package), 4x faster than zlib's level 1 for the same size (tiles.tilesets).
    gzip_level: int = Field(default=1, ge=1, le=9, description="gzip level of tiles (1 fastest, 9 smallest).")

    def cache_dir(self) -> Path | None:
        """The cache folder, or None when the cache is off."""
        if self.cache is None:
            return get_settings().home / "tiles"
        if self.cache.strip().lower() in OFF:
            return None
        return Path(self.cache)


@lru_cache(maxsize=1)
def get_tile_settings() -> TileSettings:
    return TileSettings()
