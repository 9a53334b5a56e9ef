"""OGC API - Features settings, read once from the environment (prefix ``URBANGIS_OGC_``)."""
from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OgcSettings(BaseSettings):
    """Paging and counting knobs of the Features API."""
    model_config = SettingsConfigDict(env_prefix="URBANGIS_OGC_", extra="ignore")

    default_limit: int = Field(default=10, ge=1, description="Features per page when `limit` is not given.")
    max_limit: int = Field(
        default=10000, ge=1, description="Largest `limit` accepted; a larger one is answered with 400."
    )
    exact_count_max: int = Field(
        default=100_000,
        ge=0,
        description="`numberMatched` of a filtered request is counted exactly when the planner estimates "
        "at most this many matches, and left out above (unfiltered counts are cached per data version).",
    )


@lru_cache(maxsize=1)
def get_ogc_settings() -> OgcSettings:
    """The settings, read once."""
    return OgcSettings()
