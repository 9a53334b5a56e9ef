"""Imagery epochs (heritage monitoring, docs/heritage.md): a GeoTIFF in any CRS registered for an
area and a date becomes a Cloud-Optimized GeoTIFF aligned to the WebMercatorQuad tile grid
(rio-cogeo's web-optimised COG: each internal tile is a map tile of some zoom, so a raster tile
is read from one or four internal tiles of one overview), kept in the server's imagery folder and
listed in ``imagery_epochs`` with its footprint, date and bands.

The before/after comparison (heritage/detect.py) reads the epochs' files in their own grid; the
COG's Web Mercator copy is for the map (tiles/imagery.py).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import morecantile
import psycopg
import rasterio
import shapely
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_geom
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles
from shapely.geometry import box, mapping, shape

from urbangis.layers.errors import Invalid

log = logging.getLogger("urbangis.ingest")
# GDAL warns on every open of a TIFF whose extra bands are not tagged as ExtraSamples (NAIP and
# Landsat exports often are not) and reads them right all the same: not worth a line per tile
logging.getLogger("rasterio._env").setLevel(logging.ERROR)

NAIP_BANDS = ("red", "green", "blue", "nir")  # 4-band uint8 orthoimagery (NAIP, GF-2 pan-sharpened, ...)


class ImageryError(Invalid, ValueError):
    """An image that cannot be registered (400), with the reason."""


@dataclass(frozen=True)
class Epoch:
    id: int
    name: str
    acquired: dt.date
    path: Path
    site_id: str | None
    pixel_m: float
    bands: int
    created: bool = False  # registered by this call (False: the same image and date were already)


def _band_names(count: int, given: tuple[str, ...] | None) -> list[str]:
    if given:
        if len(given) != count:
            raise ImageryError(f"band names: {len(given)} given for an image of {count} bands")
        return list(given)
    return list(NAIP_BANDS[:count]) if count in (3, 4) else [f"b{i + 1}" for i in range(count)]


def describe(source: Path) -> dict:
    """What the registration needs to know of ``source``: CRS, size, bands, pixel size in metres,
    footprint in CGCS2000 (EPSG:4490) as a shapely polygon; an ImageryError says what is wrong."""
    try:
        with rasterio.open(source) as src:
            if src.crs is None:
                raise ImageryError(f"{source.name}: the image has no CRS (a GeoTIFF must say where it is)")
            if src.count < 1:
                raise ImageryError(f"{source.name}: the image has no bands")
            outline = shapely.segmentize(box(*src.bounds), max(src.bounds[2] - src.bounds[0], 1e-9) / 20)
            footprint = shape(transform_geom(src.crs, "EPSG:4490", mapping(outline)))
            centre = footprint.centroid
            if src.crs.is_geographic:  # degrees: the pixel's metres on the ellipsoid at the centre
                from pyproj import Geod
                _, _, metres = Geod(ellps="GRS80").inv(centre.x, centre.y, centre.x + src.res[0], centre.y)
                pixel_m = abs(metres)
            else:
                pixel_m = float(src.res[0]) * float(src.crs.linear_units_factor[1])
            return {"crs": src.crs.to_string(), "width": src.width, "height": src.height, "count": src.count,
                    "pixel_m": pixel_m, "footprint": footprint, "dtype": src.dtypes[0]}
    except RasterioIOError as exc:  # (GDAL's message names the file by its path here: said by its name)
        reason = str(exc).replace(f"'{source}' ", "").replace(str(source), source.name)
        raise ImageryError(f"{source.name}: not a readable raster ({reason})") from None


def to_cog(source: Path, target: Path) -> None:
    """``source`` as a web-optimised COG at ``target`` (deflate, internal tiles 256, overviews)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.tif")
    profile = cog_profiles.get("deflate")
    profile.update(blockxsize=256, blockysize=256)  # an internal tile is a 256-pixel map tile
    with rasterio.open(source) as src:
        cog_translate(src, str(partial), profile, web_optimized=True, tms=morecantile.tms.get("WebMercatorQuad"),
                      overview_resampling="average", resampling="bilinear", quiet=True,
                      config={"GDAL_NUM_THREADS": "ALL_CPUS"}, in_memory=False)
    valid, errors, _warnings = cog_validate(str(partial))
    if not valid:
        partial.unlink(missing_ok=True)
        raise ImageryError(f"{source.name}: the COG made of it is not valid: {'; '.join(errors)}")
    partial.replace(target)


def register(conn: psycopg.Connection, source: Path, acquired: dt.date, folder: Path, name: str | None = None,
             site_id: str | None = None, band_names: tuple[str, ...] | None = None) -> Epoch:
    """Register ``source`` as an epoch of imagery acquired on ``acquired`` (for ``site_id`` when
    given): its COG written into ``folder`` (named by content, so the same image registered twice
    is one file and one row: the second registration returns the first)."""
    info = describe(source)
    known = site_id is None or conn.execute("SELECT 1 FROM heritage_sites WHERE id = %s", (site_id,)).fetchone()
    if not known:
        raise ImageryError(f"site: no heritage site {site_id!r}")
    rel = f"{acquired.isoformat()}-{file_digest(source)[:16]}.tif"
    found = conn.execute("SELECT id FROM imagery_epochs WHERE path = %s", (rel,)).fetchone()
    if found is not None:
        return epoch(conn, found[0], folder)
    target = folder / rel
    if not target.exists():
        log.info("imagery: %s -> COG %s (%d x %d, %d bands)", source.name, target, info["width"], info["height"],
                 info["count"])
        to_cog(source, target)
    row = conn.execute(
        "INSERT INTO imagery_epochs (name, acquired, site_id, path, source, source_crs, bands, band_names, pixel_m, "
        "width, height, geom) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "ST_SetSRID(ST_GeomFromWKB(%s), 4490)) RETURNING id",
        (name or source.stem, acquired, site_id, rel, source.name, info["crs"], info["count"],
         _band_names(info["count"], band_names), info["pixel_m"], info["width"], info["height"],
         shapely.to_wkb(info["footprint"]))).fetchone()
    conn.commit()
    return replace(epoch(conn, row[0] if row else 0, folder), created=True)


def file_digest(path: Path | str) -> str:
    """The SHA-256 of a file (hex), read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def epoch_of(conn: psycopg.Connection, digest: str) -> int | None:
    """The registered epoch made of the file whose SHA-256 is ``digest`` (its COG is named by it), if any."""
    row = conn.execute("SELECT id FROM imagery_epochs WHERE path LIKE %s ORDER BY id LIMIT 1",
                       (f"%-{digest[:16]}.tif",)).fetchone()
    return row[0] if row else None


def epoch(conn: psycopg.Connection, epoch_id: int, folder: Path) -> Epoch:
    """A registered epoch (KeyError when there is none)."""
    row = conn.execute("SELECT id, name, acquired, path, site_id, pixel_m, bands FROM imagery_epochs WHERE id = %s",
                       (epoch_id,)).fetchone()
    if row is None:
        raise KeyError(epoch_id)
    return Epoch(row[0], row[1], row[2], folder / row[3], row[4], float(row[5]), row[6])
