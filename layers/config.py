"""Database settings, read once from the environment (prefix ``URBANGIS_``)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    # The embedded cluster lives next to the checkout, never in a system location.
    return Path.cwd() / ".urbangis"


class DatabaseSettings(BaseSettings):
    """Where the data lives: an external database URL, or the project-local cluster."""

    model_config = SettingsConfigDict(env_prefix="URBANGIS_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="libpq URL of an existing PostGIS database; when set no cluster is started.",
    )
    home: Path = Field(default_factory=_default_home, description="State folder of the embedded cluster.")
    pg_port: int = Field(default=54329, description="Preferred loopback port of the embedded cluster.")
    db_name: str = Field(default="urbangis", description="Database name on the embedded cluster.")
    pool_min: int = 1
    pool_max: int = 10

    @property
    def external(self) -> bool:
        return bool(self.database_url)


@lru_cache(maxsize=1)
def get_settings() -> DatabaseSettings:
    return DatabaseSettings()
