"""Server settings (prefix ``URBANGIS_``); database settings live in :mod:`layers.config`."""
from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="URBANGIS_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=8000, description="Port the HTTP server listens on.")
    log_level: str = Field(default="info", description="debug, info, warning or error.")
    public_url: str | None = Field(default=None, description="Base URL used in links, if behind a proxy.")


@lru_cache(maxsize=1)
def get_server_settings() -> ServerSettings:
    return ServerSettings()
