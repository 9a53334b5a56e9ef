"""Reading one layer file (GeoJSON, GeoPackage, Shapefile, CSV) into plain columns and WKB."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pyogrio.raw import read as ogr_read
from pyproj import CRS

SPATIAL_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb")
TABLE_SUFFIXES = (".csv",)


class ReadError(ValueError):
    """A file could not be read; the message names the file and what is wrong with it."""


@dataclass
class RawLayer:
    """A layer as read: columns of Python values, WKB geometries, the declared CRS."""

    path: Path
    layer: str | None
    columns: dict[str, list] = field(default_factory=dict)
    wkb: list[bytes | None] | None = None
    srid: int | None = None

    def __len__(self) -> int:
        if self.wkb is not None:
            return len(self.wkb)
        return len(next(iter(self.columns.values()), []))


def _srid(crs_text: str | None, path: Path) -> int | None:
    if not crs_text:
        return None
    crs = CRS.from_user_input(crs_text)
    epsg = crs.to_epsg(min_confidence=70)
    if epsg is None:
        raise ReadError(f"{path}: CRS {crs.name!r} has no EPSG code; pass --source-crs")
    return epsg


def _clean(values: np.ndarray) -> list:
    out = values.tolist()
    if values.dtype.kind == "f":
        out = [None if v != v else v for v in out]  # NaN -> missing
    return out


def read_spatial(path: Path, layer: str | None = None) -> RawLayer:
    try:
        meta, _fids, geometry, field_data = ogr_read(path, layer=layer)
    except Exception as exc:  # pyogrio raises several DataSource/DataLayer error types
        raise ReadError(f"{path}: cannot read layer {layer or '(first)'}: {exc}") from exc
    columns = {name: _clean(values) for name, values in zip(meta["fields"], field_data)}
    wkb = None if geometry is None else list(geometry)
    return RawLayer(path, layer, columns, wkb, _srid(meta.get("crs"), path))


def read_table(path: Path) -> RawLayer:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except UnicodeDecodeError as exc:
        raise ReadError(f"{path}: not UTF-8 text ({exc})") from exc
    names = list(rows[0].keys()) if rows else []
    columns = {n: [(r.get(n) or None) for r in rows] for n in names}
    return RawLayer(path, None, columns, None, None)


def read_any(path: Path, layer: str | None = None) -> RawLayer:
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return read_table(path)
    if suffix in SPATIAL_SUFFIXES:
        return read_spatial(path, layer)
    raise ReadError(f"{path}: unsupported file type {suffix!r}")
