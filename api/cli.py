"""The ``urbangis`` command line. Every command explains itself with ``--help``."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from layers import database as db
from layers.cluster import ClusterError
from layers.config import get_settings
from layers.migrate import MigrationError, migrate

from .version import version as _version

log = logging.getLogger("urbangis")

DEFAULT_SAMPLE = Path(__file__).resolve().parent.parent / "data-samples" / "urumqi"


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default="info", show_default=True, help="debug, info, warning or error.")
def main(log_level: str) -> None:
    """urbangis: the spatial data server of an urban comprehensive-management platform.

    It serves geocoding, OGC API Features and Tiles and vector tiles from PostGIS, and loads
    gazetteers, grids, components and cases. By default it runs on a project-local PostGIS
    cluster in ./.urbangis; set URBANGIS_DATABASE_URL to use an existing database instead.
    """
    _setup_logging(log_level)


# -- database -------------------------------------------------------------------------------
@main.group("db")
def db_group() -> None:
    """Manage the database: the embedded cluster and the schema."""


def _cluster_or_none():
    settings = get_settings()
    if settings.external:
        click.echo("URBANGIS_DATABASE_URL is set: using that database, no embedded cluster.")
        return None
    return db.cluster_for(settings)


@db_group.command("init")
def db_init() -> None:
    """Create the embedded cluster's data directory in .urbangis/ (once)."""
    cluster = _cluster_or_none()
    if cluster is None:
        return
    try:
        created = cluster.init()
    except ClusterError as exc:
        _fail(str(exc))
    click.echo(f"cluster {'initialised' if created else 'already initialised'} in {cluster.data_dir}")


@db_group.command("start")
def db_start() -> None:
    """Start the embedded cluster (no-op when it is running)."""
    cluster = _cluster_or_none()
    if cluster is None:
        return
    try:
        started = cluster.start()
        cluster.wait_ready()
    except ClusterError as exc:
        _fail(str(exc))
    click.echo(f"cluster {'started' if started else 'already running'} on port {cluster.port}, socket {cluster.socket_dir}")


@db_group.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster cleanly (fast shutdown: open sessions are rolled back)."""
    cluster = _cluster_or_none()
    if cluster is None:
        return
    try:
        stopped = cluster.stop()
    except ClusterError as exc:
        _fail(str(exc))
    click.echo("cluster stopped" if stopped else "cluster was not running")


@db_group.command("status")
def db_status() -> None:
    """Tell where the database is, whether it answers and its schema version."""
    settings = get_settings()
    if not settings.external:
        cluster = db.cluster_for(settings)
        state = "running" if cluster.running() else ("stopped" if cluster.initialised else "not initialised")
        click.echo(f"embedded cluster: {state} ({cluster.data_dir}, port {cluster.port})")
    info = db.conninfo(settings)
    try:
        with db.connect(info) as conn:
            row = conn.execute(
                "SELECT postgis_lib_version(), (SELECT max(version) FROM schema_migrations)"
            ).fetchone()
        click.echo(f"database {db.database_name(info)}: up, PostGIS {row[0]}, schema version {row[1]}")
    except Exception as exc:  # missing database, missing table, server down: all are "not ready"
        click.echo(f"database {db.database_name(info)}: not ready ({str(exc).splitlines()[0]})")
        sys.exit(1)


def _ensure_database() -> str:
    info = db.conninfo()
    if db.create_database(info):
        click.echo(f"created database {db.database_name(info)}")
    with db.connect(info, autocommit=True) as conn:
        done = migrate(conn)
    click.echo(f"schema: {len(done)} migration(s) applied" if done else "schema: up to date")
    return info


@db_group.command("migrate")
def db_migrate() -> None:
    """Create the database if missing and apply pending schema migrations."""
    try:
        _ensure_database()
    except (MigrationError, Exception) as exc:
        _fail(str(exc))


@db_group.command("up")
def db_up() -> None:
    """Everything needed before serving: init, start, create the database, migrate."""
    cluster = _cluster_or_none()
    try:
        if cluster is not None:
            cluster.init()
            cluster.start()
            cluster.wait_ready()
            click.echo(f"cluster running on port {cluster.port}")
        _ensure_database()
    except (ClusterError, MigrationError) as exc:
        _fail(str(exc))


@db_group.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_reset(yes: bool) -> None:
    """Drop the database and create it again, empty, at the latest schema."""
    info = db.conninfo()
    if not yes:
        click.confirm(f"Drop database {db.database_name(info)} and all its data?", abort=True)
    db.drop_database(info)
    _ensure_database()


# -- loading --------------------------------------------------------------------------------
@main.command("load")
@click.argument("source", type=click.Path(exists=True, path_type=Path), required=False)
@click.option("--source-crs", help="CRS of the input when the files do not declare it, e.g. EPSG:4326.")
@click.option("--replace", is_flag=True, help="Replace each loaded layer instead of upserting into it.")
@click.option("--if-empty", is_flag=True, help="Load only when the database holds no gazetteer yet.")
def load(source: Path | None, source_crs: str | None, replace: bool, if_empty: bool) -> None:
    """Load a gazetteer (a folder of layer files, or a GeoPackage) in the data contract.

    SOURCE defaults to the sample city in data-samples/. The load is one transaction: it
    lands whole or not at all. See docs/data-contract.md for the layers and fields.
    """
    from pyproj import CRS
    from tqdm import tqdm

    from ingest.gazetteer import LoadError, database_is_empty, load_gazetteer

    source = source or DEFAULT_SAMPLE
    srid = None
    if source_crs:
        try:
            srid = CRS.from_user_input(source_crs).to_epsg()
        except Exception:
            _fail(f"--source-crs {source_crs!r} is not a CRS pyproj knows")
    bars: dict[str, tqdm] = {}

    def progress(layer: str, k: int, total: int) -> None:
        bar = bars.get(layer)
        if bar is None:
            bar = bars[layer] = tqdm(total=total, desc=layer, unit="rows", leave=True, file=sys.stderr)
        bar.update(k)

    try:
        with db.connect() as conn:
            if if_empty and not database_is_empty(conn):
                click.echo("database already holds a gazetteer; nothing loaded (--if-empty)")
                return
            result = load_gazetteer(conn, source, source_srid=srid, replace=replace, progress=progress)
            conn.commit()
    except LoadError as exc:
        _fail(str(exc))
    finally:
        for bar in bars.values():
            bar.close()
    click.echo(f"loaded {result.rows} rows in {len(result.layers)} layers from {source}")


# -- serving --------------------------------------------------------------------------------
@main.command("serve")
@click.option("--host", default=None, help="Bind address [default: URBANGIS_HOST or 127.0.0.1].")
@click.option("--port", default=None, type=int, help="Port [default: URBANGIS_PORT or 8000].")
@click.option("--workers", default=1, show_default=True, help="Worker processes.")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Serve the HTTP API (geocoding, OGC API, tiles, map page, ingest jobs)."""
    import uvicorn

    from .settings import get_server_settings

    settings = get_server_settings()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level,
    )


@main.command("version")
def version_cmd() -> None:
    """Print the urbangis version."""
    click.echo(f"urbangis {_version()}")


if __name__ == "__main__":  # pragma: no cover
    main()
