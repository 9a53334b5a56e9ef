"""Every setting of urbangis, in one module: a section per area, each field an environment
variable (``URBANGIS_`` and the section's prefix, then the field's name in capitals).

Nothing here is read at import time, and nothing else in the packages reads the environment:
the entry points (``create_app``, the CLI, the tests) call :meth:`Settings.from_env` once and pass
the sections into the constructors that need them. ``urbangis config`` prints the effective
values (secrets masked); a test checks the README's table against :meth:`Settings.variables`.
"""
from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OFF = frozenset({"off", "none", "no", "false", "0", ""})


def _default_home() -> Path:
    # The embedded cluster lives next to the checkout (the folder commands run in), never in a
    # system location.
    return Path.cwd() / ".urbangis"


class Section(BaseSettings):
    """One area's settings. ``secrets`` names the fields ``urbangis config`` masks."""

    model_config = SettingsConfigDict(env_prefix="URBANGIS_", extra="ignore", frozen=True)
    secrets: ClassVar[tuple[str, ...]] = ()


class DatabaseSettings(Section):
    """Where the data lives: an existing database, or the embedded, project-local cluster."""

    database_url: str | None = Field(
        default=None, description="libpq URL of an existing PostGIS database; when set, no cluster is started")
    database_url_read: str | None = Field(
        default=None, description="libpq URL of a streaming standby for reads (features, tiles, a case, case maps); "
                                  "writes stay on the primary (docs/scale-out.md)")
    read_max_lag: float = Field(default=5.0, ge=0, description="seconds a standby may lag behind the primary "
                                                              "before reads skip it")
    home: Path = Field(default_factory=_default_home, json_schema_extra={"shown_default": "./.urbangis"},
                       description="state folder of the embedded cluster (data, socket, log), the tile cache "
                                   "and the ingest jobs")
    pg_port: int = Field(default=54329, ge=1, le=65535,
                         description="preferred loopback port of the cluster (the next free one is taken if busy)")
    db_name: str = Field(default="urbangis", description="database name on the embedded cluster")
    pool_min: int = Field(default=1, ge=0, description="connections the server's pool keeps open")
    pool_max: int = Field(default=10, ge=1, description="most connections the server's pool opens")
    pool_wait: float = Field(default=30.0, gt=0, description="seconds a request waits for a free pooled connection "
                                                            "before a 503 (a database that cannot be reached is "
                                                            "answered within ~2 s instead)")
    statement_timeout: float = Field(default=60.0, ge=0, description="seconds a request's SQL statement may run "
                                                                    "before PostgreSQL stops it (a 503); 0: no limit")
    timezone: str = Field(
        default="Asia/Shanghai",
        description="time zone of every database session: times written without an offset are read in it, "
                    "and times are answered with its offset (Beijing time, as government systems record)")
    secrets: ClassVar[tuple[str, ...]] = ("database_url", "database_url_read")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)") from None
        return value

    @property
    def external(self) -> bool:
        """Whether the data lives in a database of the user's (``database_url``)."""
        return bool(self.database_url)


class ServerSettings(Section):
    """The HTTP server."""

    host: str = Field(default="127.0.0.1", description="where `urbangis serve` listens")
    port: int = Field(default=8000, ge=1, le=65535, description="the port `urbangis serve` listens on")
    log_level: str = Field(default="info", description="server log level: debug, info, warning or error")
    public_url: str | None = Field(default=None, description="base URL of links in answers, when behind a proxy")
    collections: Path | None = Field(
        default=None, json_schema_extra={"shown_default": "layers/collections.yaml"},
        description="the layer registry: what is published (collections, tiles, style) and where the map opens")


class OgcSettings(Section):
    """Paging and counting of OGC API - Features."""

    model_config = SettingsConfigDict(env_prefix="URBANGIS_OGC_", extra="ignore", frozen=True)

    # whole pages for programs, shorter ones for people (GIS clients choose their own: Debian's
    # GDAL 3.6 asks 10 a page unless given -oo PAGE_SIZE, newer GDAL and QGIS 3.22 ask 1,000)
    default_limit: int = Field(default=1000, ge=1, description="features per page when `limit` is not given")
    html_limit: int = Field(default=100, ge=1, description="features per HTML page when `limit` is not given")
    max_limit: int = Field(default=10000, ge=1, description="largest `limit` accepted; a larger one is a 400")
    exact_count_max: int = Field(
        default=100_000, ge=0,
        description="numberMatched of a filtered request is counted when the planner expects at most this many "
                    "matches, and left out above")


class TileSettings(Section):
    """Vector tiles: cache and encoding."""

    model_config = SettingsConfigDict(env_prefix="URBANGIS_TILE_", extra="ignore", frozen=True)

    cache: str | None = Field(default=None, json_schema_extra={"shown_default": "<URBANGIS_HOME>/tiles"},
                              description="tile cache folder, or `off`")
    max_age: int = Field(default=60, ge=0, description="Cache-Control max-age of tiles, in seconds (clients "
                                                       "revalidate with their ETag)")
    # Level 1: a 790 kB tile of 10,000 cases compresses in 6 ms to 285 kB with zlib; level 6
    # takes 33 ms for 234 kB, longer than PostGIS takes to make the tile. Levels 1-3 are made by
    # ISA-L (the `isal` package), 4x faster than zlib's level 1 for the same size (tiles.tilesets).
    gzip_level: int = Field(default=1, ge=1, le=9, description="gzip level of tiles (1 fastest, 9 smallest)")
    # map clients recommend tiles under 500 KB (MapLibre parses a tile on one worker; a heavier
    # one stalls the map); a tile made heavier is made again, thinner (tiles/mvt.py `thinned`)
    max_kb: int = Field(default=500, ge=0, description="largest raw tile in KB; a heavier one is made again "
                                                        "with fewer features (0: no limit)")

    def cache_dir(self, home: Path) -> Path | None:
        """The cache folder (under ``home`` unless set), or None when the cache is off."""
        if self.cache is None:
            return home / "tiles"
        if self.cache.strip().lower() in OFF:
            return None
        return Path(self.cache)


class IngestSettings(Section):
    """Loading over HTTP."""

    model_config = SettingsConfigDict(env_prefix="URBANGIS_INGEST_", extra="ignore", frozen=True)

    max_upload_mb: int = Field(default=1024, ge=1, description="largest upload accepted, in MiB")
    max_unpacked_mb: int = Field(default=8192, ge=1, description="largest total size a zip may unpack to, in MiB")
    jobs_dir: Path | None = Field(default=None, json_schema_extra={"shown_default": "<URBANGIS_HOME>/ingest-jobs"},
                                  description="where uploads and ingest reports live")
    token: str | None = Field(
        default=None, description="when set, /ingest/jobs requests must carry `Authorization: Bearer <token>` "
                                  "(printable ASCII)")
    secrets: ClassVar[tuple[str, ...]] = ("token",)

    def jobs_folder(self, home: Path) -> Path:
        """Where jobs keep their files."""
        return self.jobs_dir or home / "ingest-jobs"


class GeocoderSettings(Section):
    """The geocoder."""

    model_config = SettingsConfigDict(env_prefix="URBANGIS_GEOCODER_", extra="ignore", frozen=True)

    models: Path | None = Field(default=None, description="JSON/YAML file of extra combination models "
                                                          "(docs/geocoder.md)")
    side_offset: float = Field(default=15.0, ge=0, le=200,
                               description="metres from a road's centre line to interpolated house numbers")


class HeritageSettings(Section):
    """Heritage-change monitoring: imagery epochs and change detection (docs/heritage.md)."""

    model_config = SettingsConfigDict(env_prefix="URBANGIS_HERITAGE_", extra="ignore", frozen=True)

    imagery_dir: Path | None = Field(default=None, json_schema_extra={"shown_default": "<URBANGIS_HOME>/imagery"},
                                     description="where registered imagery epochs are kept as Cloud-Optimized GeoTIFFs")
    max_residual_px: float = Field(default=0.3, gt=0, description="co-registration residual (pixels) above which a "
                                                                   "change detection is refused")

    def imagery_folder(self, home: Path) -> Path:
        """Where the epochs' COGs live."""
        return self.imagery_dir or home / "imagery"


class CasesSettings(Section):
    """Case operations: the class dictionary, the alerts, supervisors and patrols."""

    model_config = SettingsConfigDict(env_prefix="URBANGIS_CASES_", extra="ignore", frozen=True)

    classes: Path | None = Field(default=None, description="CSV of a city's own case classes, added to "
                                                           "layers/classes.csv (same columns)")
    similarity: Path | None = Field(
        default=None, json_schema_extra={"shown_default": "cases/similarity.yaml"},
        description="YAML of the similar-case alert's radius, time window and weights, per class")
    boundary_m: float = Field(default=10.0, ge=0, le=500,
                              description="GPS tolerance of the cross-grid alert: a report this close to one of "
                                          "the reporter's own grids is at its boundary, not outside")
    component_m: float = Field(default=10.0, gt=0, le=200,
                               description="how far a component case's component may be from the reported point")
    on_duty_minutes: int = Field(default=30, ge=1, description="a supervisor whose last GPS fix is this recent is on "
                                                                "duty")
    checkin_m: float = Field(default=30.0, gt=0, le=1000,
                             description="how close to a patrol point a check-in must be")


class AccessSettings(Section):
    """Access control (access/, docs/access.md): signed callers, people, roles, areas, limits."""

    auth: str = Field(default="on", description="access control: `on`, or `off` (allowed only when the server "
                                                  "listens on 127.0.0.1; `make serve` sets it for the sample city)")
    auth_key_file: Path | None = Field(
        default=None, json_schema_extra={"shown_default": "<URBANGIS_HOME>/access.key"},
        description="file of the 32-byte key that encrypts callers' secrets at rest (made on first use, mode 600)")
    auth_clock_skew: int = Field(default=300, ge=1, le=3600,
                                 description="seconds a signature's `created` may differ from the server's clock")
    auth_key_cache: float = Field(default=2.0, ge=0, le=60,
                                  description="seconds a caller's key is cached (a revocation takes effect within it)")
    auth_grace_hours: float = Field(default=24.0, ge=0, description="hours a rotated key stays valid")
    auth_rate: int = Field(default=60000, ge=1, description="requests a caller may make per minute (then 429)")
    auth_max_body_kb: int = Field(default=1024, ge=1, description="largest request body but uploads, in KiB (then 413)")
    auth_max_url: int = Field(default=8192, ge=256, description="longest request target, in bytes (then 414)")
    auth_lockout: int = Field(default=5, ge=1, description="failed logins in a row that lock a person out")
    auth_login_rate: int = Field(default=30, ge=1, description="login attempts one address may make per minute "
                                                                 "(then 429)")
    auth_lockout_minutes: float = Field(default=15.0, ge=0, description="minutes a locked-out person waits")
    auth_idle_minutes: float = Field(default=30.0, ge=0, description="minutes without a request that end a session")

    @property
    def enabled(self) -> bool:
        """Whether requests must be signed or come from a logged-in person."""
        return self.auth.strip().lower() not in OFF

    def key_file(self, home: Path) -> Path:
        """Where the secrets' key lives."""
        return self.auth_key_file or home / "access.key"


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, effective value (masked if secret), default and meaning."""

    name: str
    value: str
    default: str
    description: str
    secret: bool


@dataclass(frozen=True)
class Settings:
    """All sections. Build it with :meth:`from_env`; pass its sections on."""

    database: DatabaseSettings
    server: ServerSettings
    ogc: OgcSettings
    tiles: TileSettings
    ingest: IngestSettings
    geocoder: GeocoderSettings
    cases: CasesSettings
    access: AccessSettings
    heritage: HeritageSettings

    @classmethod
    def from_env(cls, **overrides: Section) -> Settings:
        """Read every section from the environment now; ``overrides`` replace whole sections."""
        return cls(**{name: overrides.get(name) or kind() for name, kind in SECTIONS.items()})  # type: ignore[arg-type]

    def variables(self) -> Iterator[Variable]:
        """Every setting as the environment variable that sets it."""
        for name in SECTIONS:
            section: Section = getattr(self, name)
            prefix = section.model_config.get("env_prefix", "")
            for field_name, info in type(section).model_fields.items():
                value = getattr(section, field_name)
                extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
                default = extra.get("shown_default", info.get_default(call_default_factory=False))
                secret = field_name in section.secrets
                yield Variable(f"{prefix}{field_name}".upper(), _shown(value, secret),
                               "" if default is None else str(default), info.description or "", secret)


def _shown(value: object, secret: bool) -> str:
    """A value as ``urbangis config`` prints it: a secret as ****, a URL's password masked."""
    if value is None:
        return ""
    if not secret:
        return str(value)
    text = str(value)
    if "://" in text:  # postgresql://user:password@host/db: the rest helps, the password does not
        scheme, _, rest = text.partition("://")
        auth, at, host = rest.rpartition("@")
        if at and ":" in auth:
            return f"{scheme}://{auth.split(':', 1)[0]}:****@{host}"
        return text
    if "password=" in text:  # key=value conninfo
        return re.sub(r"password=('[^']*'|\S+)", "password=****", text)
    return "****"


SECTIONS: dict[str, type[Section]] = {
    "database": DatabaseSettings, "server": ServerSettings, "ogc": OgcSettings, "tiles": TileSettings,
    "ingest": IngestSettings, "geocoder": GeocoderSettings, "cases": CasesSettings,
    "access": AccessSettings, "heritage": HeritageSettings,
}
