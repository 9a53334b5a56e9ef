"""The ``urbangis`` command line. Every command explains itself with ``--help``."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click
from pydantic import ValidationError

from urbangis.layers import database as db
from urbangis.layers.cluster import ClusterError
from urbangis.layers.migrate import MigrationError, migrate
from urbangis.layers.settings import Settings

from .cli_access import audit, keys, people
from .cli_geocode import geocode_cmd, reverse_cmd
from .cli_heritage import heritage
from .cli_samples import samples
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
@click.pass_context
def main(ctx: click.Context, log_level: str) -> None:
    """urbangis: the spatial data server of an urban comprehensive-management platform.

    It serves geocoding, OGC API Features and Tiles and vector tiles from PostGIS, and loads
    gazetteers, grids, components and cases. By default it runs on a project-local PostGIS
    cluster in ./.urbangis; set URBANGIS_DATABASE_URL to use an existing database instead.
    Every setting is an environment variable: `urbangis config` lists them with their values.
    """
    _setup_logging(log_level)
    try:
        ctx.obj = Settings.from_env()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        _fail(f"a setting is wrong ({exc.title}): {problems}")


def settings() -> Settings:
    """The settings the command line read at its start."""
    found = click.get_current_context().find_object(Settings)
    if found is None:  # main's callback sets them (or exits) before any command of it runs
        raise RuntimeError("no settings: run the command through the `urbangis` group")
    return found


@main.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
def config_cmd(as_json: bool) -> None:
    """Print the effective settings: each environment variable, its value and what it does
    (secrets masked: the ingest token, a database URL's password)."""
    rows = list(settings().variables())
    if as_json:
        import orjson

        click.echo(orjson.dumps({v.name: v.value for v in rows}, option=orjson.OPT_INDENT_2).decode())
        return
    width = max(len(v.name) for v in rows)
    for v in rows:
        shown = v.value if v.value != "" else "(unset)"
        click.echo(f"{v.name:<{width}}  {shown}")
        click.secho(f"{'':<{width}}  {v.description}", dim=True)


@main.command("contract")
@click.option("--write", "path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the layer tables into this Markdown file, between its contract markers "
                   "(docs/data-contract.md).")
def contract_cmd(path: Path | None) -> None:
    """Print the data contract's layers (fields, formats, values, references, headings) as Markdown,
    as layers/contract.py declares them, or write them into the contract's document."""
    from urbangis.layers import contract_doc

    if path is None:
        click.echo(contract_doc.markdown())
        return
    try:
        changed = contract_doc.rewrite(path)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    click.echo(f"{path}: {'written' if changed else 'already up to date'}")


# -- database -------------------------------------------------------------------------------
@main.group("db")
def db_group() -> None:
    """Manage the database: the embedded cluster and the schema."""


def _cluster_or_none():
    database = settings().database
    if database.external:
        click.echo("URBANGIS_DATABASE_URL is set: using that database, no embedded cluster.")
        return None
    return db.cluster_for(database)


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
    click.echo(f"cluster {'started' if started else 'already running'} on port {cluster.port}, "
               f"socket {cluster.socket_dir}")


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
    database = settings().database
    if not database.external:
        cluster = db.cluster_for(database)
        state = "running" if cluster.running() else ("stopped" if cluster.initialised else "not initialised")
        click.echo(f"embedded cluster: {state} ({cluster.data_dir}, port {cluster.port})")
    info = db.conninfo(database)
    try:
        with db.connect(info) as conn:
            row = conn.execute(
                "SELECT postgis_lib_version(), (SELECT max(version) FROM schema_migrations)"
            ).fetchone()
        if row is None:  # cannot be: a SELECT without FROM returns one row
            raise RuntimeError("the version query returned no row")
        click.echo(f"database {db.database_name(info)}: up, PostGIS {row[0]}, schema version {row[1]}")
    except Exception as exc:  # missing database, missing table, server down: all are "not ready"
        click.echo(f"database {db.database_name(info)}: not ready ({str(exc).splitlines()[0]})")
        sys.exit(1)


def _ensure_database() -> str:
    info = db.conninfo(settings().database)
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
    info = db.conninfo(settings().database)
    if not yes:
        click.confirm(f"Drop database {db.database_name(info)} and all its data?", abort=True)
    db.drop_database(info)
    _ensure_database()


@db_group.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
def db_backup(file: Path | None) -> None:
    """Dump the whole database to FILE (default: <URBANGIS_HOME>/backups/<database>-<UTC time>.dump).

    One consistent snapshot (pg_dump runs in a single transaction: the server may go on taking
    cases meanwhile), PostgreSQL's custom format, compressed. Restore it with `urbangis db restore`.
    """
    from urbangis.layers import backup as bk

    config = settings()
    info = db.conninfo(config.database)
    name = db.database_name(info)
    path = file or config.database.home / "backups" / f"{name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.dump"
    try:
        with click.progressbar(length=len(bk.data_tables(info)), label=f"backing up {name}",
                               item_show_func=lambda t: t or "", file=sys.stderr) as bar:
            done = bk.backup(info, path, progress=lambda table: bar.update(1, table))
    except Exception as exc:  # the tool's own words, or the database not reachable
        _fail(str(exc))
    click.echo(f"backed up {done.tables} tables of {name} to {done.path} "
               f"({done.bytes / 1e6:.1f} MB, {done.seconds:.1f} s)")


@db_group.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--into", "into", metavar="NAME", help="Database to restore into (default: the configured one). "
                                                      "It must not exist, unless --replace is given.")
@click.option("--replace", is_flag=True, help="Drop that database first and restore in its place.")
def db_restore(file: Path, into: str | None, replace: bool) -> None:
    """Restore a backup made by `urbangis db backup` into a database of its own: all or nothing
    (one transaction; on an error the new database is dropped and nothing else is touched)."""
    from urbangis.layers import backup as bk

    config = settings()
    info = db.conninfo(config.database, into) if into else db.conninfo(config.database)
    name = db.database_name(info)
    if replace and not into:
        click.confirm(f"Drop database {name} and restore {file.name} in its place?", abort=True)
    try:
        with click.progressbar(length=bk.dump_tables(file), label=f"restoring {name}",
                               item_show_func=lambda t: t or "", file=sys.stderr) as bar:
            done = bk.restore(file, info, replace=replace, progress=lambda table: bar.update(1, table))
    except Exception as exc:
        _fail(str(exc))
    click.echo(f"restored {done.tables} tables from {file} into {name} ({done.seconds:.1f} s)")


# -- loading --------------------------------------------------------------------------------
@main.command("load")
@click.argument("source", type=click.Path(exists=True, path_type=Path), required=False)
@click.option("--layer", metavar="NAME",
              help="Contract layer of a single file whose name does not say it (e.g. --layer cases for "
                   "export_2024.csv). Folders and GeoPackages are matched by layer names.")
@click.option("--source-crs", metavar="CRS",
              help="CRS of the coordinates, overriding what the files declare: EPSG:4326, 4538, a WKT or PROJ "
                   "string (a city's own Gauss-Kruger system; Beijing 1954 / Xi'an 1980 with the surveying "
                   "bureau's +towgs84=...), or gcj02 (Amap, Tencent) / bd09 (Baidu), converted to CGCS2000. "
                   "Files that declare nothing are taken as EPSG:4490; columns named for a web map (高德经度, "
                   "bd_lng) as its offset; rows that look shifted by one are refused unless this is given.")
@click.option("--strict/--skip-invalid", default=True, show_default=True,
              help="--strict loads all or nothing: one bad row and nothing is written. --skip-invalid loads "
                   "the good rows and writes the rejected ones next to the report.")
@click.option("--replace", is_flag=True, help="Empty each loaded layer first (default: upsert by code or id).")
@click.option("--check", "check_only", is_flag=True,
              help="Validate only: run the whole load, report what would be inserted, updated and rejected, "
                   "then roll it back (nothing is written). Exits 1 if any row would be rejected.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the JSON report here, the readable table beside it (.txt) and the rejected rows "
                   "(.rejected.geojson; rows from a CSV/XLSX also as .rejected.<layer>.csv, for Excel). "
                   "Default: ./urbangis-load-<time>.json, kept only if there were issues.")
@click.option("--batch-size", default=50_000, show_default=True, help="Rows read and COPYed per batch.")
@click.option("--encoding", help="Text encoding of .dbf/.csv files that do not say it (default: detected).")
@click.option("--if-empty", is_flag=True, help="Load only when the database holds no gazetteer yet.")
@click.option("--outside-china", is_flag=True,
              help="Accept rows outside China (lon 73..136, lat 3..54), which are otherwise refused as a wrong CRS "
                   "or swapped coordinates: demonstration data over foreign imagery (data-samples/heritage-demo).")
def load(source: Path | None, layer: str | None, source_crs: str | None, strict: bool, replace: bool,
         check_only: bool, report_path: Path | None, batch_size: int, encoding: str | None,
         if_empty: bool, outside_china: bool) -> None:
    """Load a gazetteer, a layer file, or a zip of them, validated, in one transaction.

    SOURCE is a folder of layer files named after the contract layers (roads.geojson,
    supervisors.csv, ...), a GeoPackage whose layers carry those names, a single layer file
    (GeoJSON, GeoPackage, Shapefile with .dbf in UTF-8 or GBK, Esri File Geodatabase (.gdb folder),
    MapInfo TAB/MIF, FlatGeobuf, KML/KMZ, CSV, XLSX, XLS, WPS ET or ODS with lon/lat, WKT or address columns) or a
    zip of any of these. It defaults to the sample city in
    data-samples/.

    Every row is checked (codes, parents and references, duplicates in the file and against the
    database, geometry validity, CRS, inside its declared district) and every problem is reported
    with file, row, field, value and reason. A crash or Ctrl-C leaves the database as it was;
    loading the same data again changes nothing. See docs/loading.md.
    """
    import time as _time

    from urbangis.ingest.crs import CRSError, parse_source_crs
    from urbangis.ingest.gazetteer import LoadError, LoadOptions, database_is_empty, load_gazetteer

    from .addresses import lazy_address_geocoder

    source = source or DEFAULT_SAMPLE
    crs = None
    if source_crs:
        try:
            crs = parse_source_crs(source_crs)
        except CRSError as exc:
            _fail(str(exc))
    default_report = report_path is None
    report_path = report_path or Path.cwd() / f"urbangis-load-{_time.strftime('%Y%m%d-%H%M%S')}.json"
    bars: dict = {}
    config = settings()
    info = db.conninfo(config.database)
    options = LoadOptions(source_crs=crs, strict=strict, replace=replace, layer=layer, batch_size=batch_size,
                          report_path=report_path, progress=_progress_bars(bars), encoding=encoding,
                          geocode=lazy_address_geocoder(info, config.geocoder), check_only=check_only,
                          timezone=config.database.timezone, outside_china=outside_china)
    report, failure = None, None
    try:
        with db.connect(info) as conn:
            if if_empty and not database_is_empty(conn):
                click.echo("database already holds a gazetteer; nothing loaded (--if-empty)")
                return
            report = load_gazetteer(conn, source, options)
    except LoadError as exc:
        report, failure = exc.report, str(exc)
    except KeyboardInterrupt:
        _close_bars(bars)
        click.secho("interrupted: the transaction was rolled back, the database is as before", fg="red", err=True)
        sys.exit(130)
    finally:
        _close_bars(bars)
    if report is not None:
        _show_report(report, report_path, keep=not default_report or bool(report.issues) or bool(failure))
    if failure:
        _fail(failure)
    _say_done(report, source, check_only)


def _progress_bars(bars: dict):
    """A load's progress callback drawing one tqdm bar per layer into ``bars``."""
    from tqdm import tqdm

    def progress(name: str, done: int, total: int | None, phase: str) -> None:
        bar = bars.get(name)
        if bar is None:
            bar = bars[name] = tqdm(total=total, desc=f"{name:<20}", unit=" rows", unit_scale=True,
                                    leave=True, file=sys.stderr, dynamic_ncols=True)
        bar.total = total or bar.total
        bar.update(done - bar.n)
        bar.set_postfix_str(phase, refresh=True)

    return progress


def _show_report(report, report_path: Path, keep: bool) -> None:
    """The layers table and the first issues on stderr; the report files kept when ``keep`` (a
    report asked for, or one with issues), else removed."""
    from urbangis.ingest.gazetteer import report_paths
    from urbangis.ingest.report import layers_table, table

    if report.layers:
        click.echo(layers_table(report), err=True)
    if report.issues:
        shown = 30
        click.echo("\n" + table(report.issues, limit=shown), err=True)
        if len(report.issues) > shown or report.errors + report.warnings > shown:
            click.echo(f"... {report.errors} errors and {report.warnings} warnings in all", err=True)
    if not keep:
        for p in report_paths(report_path).values():
            p.unlink(missing_ok=True)
    elif report.files:
        click.echo("report: " + ", ".join(report.files.values()), err=True)


def _say_done(report, source: Path, check_only: bool) -> None:
    """The last line of a load (exit 1 when a check would reject rows)."""
    per_layer = ", ".join(f"{r.layer} {r.loaded}" for r in report.layers)
    if check_only:
        click.echo(f"checked {report.rows} rows from {source}, nothing written: {report.loaded} would load "
                   f"({per_layer}), {report.rejected} would be rejected"
                   + (", see the report" if report.rejected else ""))
        if report.rejected:
            sys.exit(1)
        return
    click.echo(f"loaded {report.loaded} rows ({per_layer}) from {source}"
               + (f"; {report.rejected} rows rejected, see the report" if report.rejected else ""))


def _close_bars(bars: dict) -> None:
    for bar in bars.values():
        bar.close()
    bars.clear()


# -- serving --------------------------------------------------------------------------------
@main.command("serve")
@click.option("--host", default=None, help="Bind address [default: URBANGIS_HOST or 127.0.0.1].")
@click.option("--port", default=None, type=int, help="Port [default: URBANGIS_PORT or 8000].")
@click.option("--workers", default=1, show_default=True, help="Worker processes.")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Serve the HTTP API (geocoding, OGC API, tiles, map page, ingest jobs)."""
    import uvicorn

    config = settings()
    _refuse_open_without_auth(host or config.server.host, config)
    _warn_if_schema_behind(config)
    _warn_if_ingest_open(host or config.server.host, config)
    uvicorn.run(
        "urbangis.api.app:create_app",
        factory=True,
        host=host or config.server.host,
        port=port or config.server.port,
        workers=workers,
        log_level=config.server.log_level,
    )


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _refuse_open_without_auth(host: str, config: Settings) -> None:
    """Access control off is for one person on their own machine: bound anywhere else, refuse."""
    if config.access.enabled:
        return
    if host not in LOOPBACK:
        raise click.ClickException(
            f"URBANGIS_AUTH=off with the bind address {host}: anyone who reaches it would read and write every "
            "area unsigned. Serve on 127.0.0.1, or turn access control on (unset URBANGIS_AUTH) and issue keys "
            "with `urbangis keys create` (docs/access.md)")
    click.secho(f"access control is OFF (URBANGIS_AUTH=off): serving unsigned and unscoped on {host} only",
                fg="yellow", err=True)


def _warn_if_ingest_open(host: str, config: Settings) -> None:
    """Bound beyond this machine with no ingest token, anyone who reaches the server can load data."""
    if host not in LOOPBACK and not config.ingest.token and not config.access.enabled:
        click.secho(f"warning: serving on {host} with the ingest endpoints open to anyone who can reach it; "
                    "set URBANGIS_INGEST_TOKEN to require 'Authorization: Bearer <token>' on /ingest/jobs",
                    fg="yellow", err=True)


def _warn_if_schema_behind(config: Settings) -> None:
    """Say so when the database's schema is older than this version's (``make serve`` migrates
    first; ``urbangis serve`` alone does not change the database). The server still starts: what
    needs a newer schema falls back or answers 503."""
    from urbangis.layers.migrate import pending

    try:
        with db.connect(db.conninfo(config.database)) as conn:
            todo, name = pending(conn), conn.info.dbname
    except Exception:  # database unreachable: the server's /healthz says so
        return
    if todo:
        click.secho(f"warning: {len(todo)} schema migration(s) not applied to {name} "
                    f"(first: {todo[0].version:04d}_{todo[0].name}); run `urbangis db migrate`", fg="yellow", err=True)


@main.command("version")
def version_cmd() -> None:
    """Print the urbangis version."""
    click.echo(f"urbangis {_version()}")


# The commands of their own modules (which import this one only inside their functions, so
# importing them at the top makes no cycle), registered before ``python -m`` runs ``main``.
main.add_command(geocode_cmd)
main.add_command(reverse_cmd)
main.add_command(samples)
main.add_command(heritage)
main.add_command(keys)
main.add_command(people)
main.add_command(audit)


if __name__ == "__main__":  # pragma: no cover
    main()
