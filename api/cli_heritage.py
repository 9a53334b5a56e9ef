"""``urbangis heritage``: the heritage sample, imagery epochs, and change detection between two
dates (docs/heritage.md)."""
from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import NoReturn

import click

from urbangis.layers import database as db

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data-samples"
# the demonstration sites' imagery pairs (data-samples/imagery) and their dates; the Landsat files
# say only the year, so the date is the year's middle (attrs.date_precision = year)
DEMO_EPOCHS = (
    ("HD-NAIP", "m_4709963_se_14_1_20090818.tif", dt.date(2009, 8, 18), "day"),
    ("HD-NAIP", "m_4709963_se_14_1_20200831.tif", dt.date(2020, 8, 31), "day"),
    ("HD-LANDSAT", "1985.tif", dt.date(1985, 7, 1), "year"),
    ("HD-LANDSAT", "2020.tif", dt.date(2020, 7, 1), "year"),
)


def _settings():
    from .cli import settings
    return settings()


def _fail(message: str) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


@click.group("heritage")
def heritage() -> None:
    """Heritage-change monitoring: historic sites and their protection zones, imagery epochs
    (GeoTIFF -> Cloud-Optimized GeoTIFF, raster tiles), change patches between two dates checked
    against the zones' rules, and the inspectors' review. See docs/heritage.md."""


@heritage.command("samples")
@click.option("--if-empty", is_flag=True, help="Only when the database holds no heritage site yet.")
def samples_cmd(if_empty: bool) -> None:
    """Load the heritage sample: the five national historic cities of Xinjiang (data-samples/heritage,
    real county outlines, synthetic zones) and two demonstration sites over the real imagery pairs
    (data-samples/heritage-demo, outside China, loaded with --outside-china), and register the
    pairs' four images as epochs."""
    from urbangis.ingest.gazetteer import LoadError, LoadOptions, load_gazetteer
    from urbangis.ingest.imagery import register

    config = _settings()
    info = db.conninfo(config.database)
    folder = config.heritage.imagery_folder(config.database.home)
    with db.connect(info) as conn:
        if if_empty and (conn.execute("SELECT EXISTS (SELECT 1 FROM heritage_sites)").fetchone() or (False,))[0]:
            click.echo("database already holds heritage sites; nothing loaded (--if-empty)")
            return
        try:
            for sub, outside in (("heritage", False), ("heritage-demo", True)):
                report = load_gazetteer(conn, SAMPLES_DIR / sub, LoadOptions(outside_china=outside,
                                                                            timezone=config.database.timezone))
                click.echo(f"loaded {sum(r.inserted + r.updated for r in report.layers)} rows from "
                           f"data-samples/{sub}")
        except LoadError as exc:
            _fail(str(exc))
        for site, name, acquired, precision in DEMO_EPOCHS:
            epoch = register(conn, SAMPLES_DIR / "imagery" / name, acquired, folder, name=name, site_id=site)
            if precision != "day":
                conn.execute("UPDATE imagery_epochs SET attrs = attrs || %s WHERE id = %s",
                             (json.dumps({"date_precision": precision}), epoch.id))
                conn.commit()
            click.echo(f"epoch {epoch.id}: {name} ({acquired}, site {site})")


@heritage.command("register")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--date", "acquired", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="When the image was taken (YYYY-MM-DD).")
@click.option("--site", help="The heritage site it covers (its id).")
@click.option("--name", help="A name for the epoch (default: the file's).")
def register_cmd(image: Path, acquired: dt.datetime, site: str | None, name: str | None) -> None:
    """Register a GeoTIFF (any CRS) as an imagery epoch: it is kept as a Cloud-Optimized GeoTIFF
    aligned to the map's tile grid and served as raster tiles at
    /heritage/imagery/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}.png. Registering the same file twice
    gives the same epoch."""
    from urbangis.ingest.imagery import ImageryError, register

    config = _settings()
    with db.connect(db.conninfo(config.database)) as conn:
        try:
            epoch = register(conn, image, acquired.date(), config.heritage.imagery_folder(config.database.home),
                             name=name, site_id=site)
        except ImageryError as exc:
            _fail(str(exc))
    click.echo(json.dumps({"id": epoch.id, "name": epoch.name, "acquired": epoch.acquired.isoformat(),
                           "site": epoch.site_id, "pixel_m": epoch.pixel_m, "bands": epoch.bands}, ensure_ascii=False))


def _date_of(path: Path, given: dt.datetime | None, which: str) -> dt.date:
    """The date given, or the one in the file's name (…_20090818.tif)."""
    if given is not None:
        return given.date()
    found = re.search(r"(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])", path.stem)
    if found:
        return dt.datetime.strptime(found.group(0), "%Y%m%d").date()
    _fail(f"--{which}-date: the date of {path.name} is not in its name; give it (YYYY-MM-DD)")


@heritage.command("detect")
@click.option("--before", "before", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The earlier image (GeoTIFF, any CRS).")
@click.option("--after", "after", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The later image; warped to the earlier one's grid and co-registered.")
@click.option("--site", help="A heritage site's id: detect within its zones and store the patches (with the zone "
                             "each lies in and the rules it breaks).")
@click.option("--zones", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Or polygons (GeoJSON, lon/lat) to detect within; nothing is stored.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="GeoJSON FeatureCollection (CRS84) of the patches: class, area_m2, confidence.")
@click.option("--before-date", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Date of --before (default: read from its name, e.g. _20090818).")
@click.option("--after-date", type=click.DateTime(formats=["%Y-%m-%d"]), help="Date of --after (likewise).")
@click.option("--replace", is_flag=True, help="With --site: store the run again even if it was stored (reviews of "
                                              "its patches are lost).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
def detect_cmd(before: Path, after: Path, site: str | None, zones: Path | None, out: Path,
               before_date: dt.datetime | None, after_date: dt.datetime | None, replace: bool, progress: bool) -> None:
    """Find the changes between two images of a place: warped to one grid, co-registered to a
    fraction of a pixel (refused when the residual stays over URBANGIS_HERITAGE_MAX_RESIDUAL_PX),
    normalised, scored per pixel, thresholded from the data, cleaned and polygonised into patches
    classed as new construction, demolition, alteration, vegetation loss or gain, water change or
    other, each with its area in m² and a confidence. Windowed: the memory is the block's plus the patches found."""
    from shapely.geometry import shape

    from urbangis.heritage import store
    from urbangis.heritage.coregister import Misregistered
    from urbangis.heritage.detect import Params, detect, to_geojson

    if site and zones:
        _fail("--site and --zones: give one (a site's zones come from the database)")
    config = _settings()
    params = Params(max_residual_px=config.heritage.max_residual_px)
    info = db.conninfo(config.database)
    outlines = None
    if zones is not None:
        try:
            doc = json.loads(zones.read_text("utf-8"))
            outlines = [shape(f["geometry"]) for f in doc.get("features", [doc])]
        except (ValueError, KeyError, TypeError) as exc:
            _fail(f"--zones: {zones.name} is not a GeoJSON of polygons ({exc})")
    d0 = d1 = None
    if site:
        d0, d1 = _date_of(before, before_date, "before"), _date_of(after, after_date, "after")
        if d0 >= d1:
            _fail(f"--before-date {d0} is not before --after-date {d1}")
        with db.connect(info) as conn:
            try:
                outlines = [g for _, g in store.site_zones(conn, site)] or [store.site_outline(conn, site)]
            except Exception as exc:  # NotFound: a clear message, not a trace
                _fail(str(exc))
    from urbangis.ingest.imagery import ImageryError, describe, epoch_of, file_digest

    try:
        seen = [describe(path)["footprint"] for path in (before, after)]
    except ImageryError as exc:
        _fail(str(exc))
    if not seen[0].intersects(seen[1]):
        _fail(f"{before.name} and {after.name} do not overlap: two images of the same place are compared")
    if outlines and not any(seen[0].intersects(z) for z in outlines):
        _fail(f"the {'site' if site else 'zones'} do not overlap {before.name}: nothing to compare there")
    try:
        patches = detect(str(before), str(after), zones=outlines, progress=progress, params=params)
    except Misregistered as exc:
        _fail(f"the two images cannot be co-registered: {exc}")
    out.write_text(json.dumps(to_geojson(patches), ensure_ascii=False), "utf-8")
    click.echo(f"{len(patches)} patches -> {out}")
    if site and d0 and d1:
        digests = file_digest(before), file_digest(after)
        run = store.run_key(site, *digests, repr(params))
        with db.connect(info) as conn:
            e0, e1 = (epoch_of(conn, d) for d in digests)  # registered: the report shows them
            stored = store.save_run(conn, site, patches, d0, d1, run, e0, e1, replace=replace)
        said = "already stored (use --replace to store it again)" if stored.already else "stored"
        click.echo(f"run {stored.run}: {stored.patches} patches {said} for site {site}, {stored.violations} "
                   f"breaking a zone's rules; report: /heritage/sites/{site}/report")
        _say_superseded(info, site, d0, d1, stored.run, stored.carried)


def _say_superseded(info: str, site: str, d0: dt.date, d1: dt.date, run: str, carried: int = 0) -> None:
    """Which earlier run of the same dates the report no longer shows, or which later one it shows
    instead of ``run`` (heritage/report.py: the latest run of each pair of dates and source)."""
    from urbangis.heritage import report as reportlib

    with db.connect(info) as conn:
        listed = [r for r in reportlib.runs(conn, site, d0, d1)
                  if (r["before_date"], r["after_date"]) == (d0.isoformat(), d1.isoformat())]
    mine = next((r for r in listed if r["run"] == run), None)
    if mine is None:
        return
    if mine["superseded_by"]:
        click.echo(f"the report shows run {mine['superseded_by']} (stored later) for these dates; "
                   f"?run={run} shows this one")
        return
    for r in listed:
        if r["superseded_by"] == run:
            click.echo(f"it supersedes run {r['run']} in the report ({r['patches']} patches, {r['reviewed']} "
                       f"reviewed, kept: ?run={r['run']}); {carried} review(s) carried over to the patches "
                       "that overlap the reviewed ones")


@heritage.command("footprints")
@click.option("--before", "before", required=True, type=click.Path(exists=True, path_type=Path),
              help="Building footprints of the earlier date (any vector file GDAL reads; column `height` in "
                   "metres if known).")
@click.option("--after", "after", required=True, type=click.Path(exists=True, path_type=Path),
              help="Footprints of the later date.")
@click.option("--site", help="A heritage site's id: check the changes against its zones' rules and store them.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="GeoJSON (CRS84) of every building: status (new, demolished, altered, unchanged), reasons, "
                   "heights, areas, footprint change, zone, violations.")
@click.option("--before-date", type=click.DateTime(formats=["%Y-%m-%d"]), help="Date of --before (with --site).")
@click.option("--after-date", type=click.DateTime(formats=["%Y-%m-%d"]), help="Date of --after (with --site).")
@click.option("--min-iou", default=0.3, show_default=True, help="Below this IoU two footprints are not one building.")
@click.option("--iou-unchanged", default=0.85, show_default=True,
              help="At or above this IoU (and heights within tolerance) a building is unchanged.")
@click.option("--height-tolerance", default=3.0, show_default=True, help="Metres of height change that count.")
@click.option("--replace", is_flag=True, help="With --site: store the comparison again even if it was stored.")
def footprints_cmd(before: Path, after: Path, site: str | None, out: Path, before_date: dt.datetime | None,
                   after_date: dt.datetime | None, min_iou: float, iou_unchanged: float, height_tolerance: float,
                   replace: bool) -> None:
    """Compare two epochs of building footprints: each building matched one to one by IoU is
    unchanged or altered (footprint or height beyond the tolerances); the rest are demolished or
    new. With --site, each change is checked against the zone it lies in (a new building where new
    construction is forbidden, a height over the zone's maximum, a footprint changed beyond its
    limit) and stored as a change patch for review."""
    import geopandas as gpd

    from urbangis.heritage import store
    from urbangis.heritage.buildings import changes
    from urbangis.heritage.footprints import Tolerances
    from urbangis.ingest.imagery import file_digest

    frames = []
    for path in (before, after):
        try:
            frame = gpd.read_file(path)
        except Exception as exc:  # pyogrio's errors: say which file, not a trace
            _fail(f"{path.name}: cannot read footprints ({exc})")
        if frame.crs is None:
            _fail(f"{path.name}: the file does not say its CRS")
        frames.append(frame.to_crs("EPSG:4490"))
    tol = Tolerances(min_iou=min_iou, iou_unchanged=iou_unchanged, height_tol_m=height_tolerance)
    config = _settings()
    info = db.conninfo(config.database)
    zones = None
    if site:
        if before_date is None or after_date is None:
            _fail("--site needs --before-date and --after-date (YYYY-MM-DD)")
        with db.connect(info) as conn:
            try:
                zones = store.site_zones(conn, site)
            except Exception as exc:  # NotFound
                _fail(str(exc))
    features = changes(frames[0], frames[1], zones, tol)
    out.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), "utf-8")
    counts: dict[str, int] = {}
    for f in features:
        counts[f["properties"]["status"]] = counts.get(f["properties"]["status"], 0) + 1
    click.echo(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f" -> {out}")
    if site and before_date and after_date:
        run = store.run_key(site, file_digest(before), file_digest(after), repr(tol))
        with db.connect(info) as conn:
            stored = store.save_buildings(conn, site, features, before_date.date(), after_date.date(), run,
                                          replace=replace)
        said = "already stored (use --replace to store it again)" if stored.already else "stored"
        click.echo(f"run {stored.run}: {stored.patches} building changes {said} for site {site}, "
                   f"{stored.violations} breaking a zone's rules")
        _say_superseded(info, site, before_date.date(), after_date.date(), stored.run, stored.carried)
