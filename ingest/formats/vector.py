"""GeoJSON, GeoPackage, Shapefile, File Geodatabase, MapInfo, FlatGeobuf and KML through GDAL
(pyogrio), in Arrow batches."""
from __future__ import annotations

import shutil
import weakref
from pathlib import Path
from typing import Generator

import numpy as np
import pyarrow as pa
import pyogrio
import shapely
from pyogrio.raw import open_arrow

from .. import crs as crs_mod
from . import dbf, filegdb, mapinfo
from .base import Batch, ReadError, RowIssue


def list_layers(path: Path) -> list[str]:
    """Layer names in a GeoPackage (or any multi-layer GDAL source)."""
    try:
        return [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise ReadError(f"{path.name}: cannot open ({_first_line(exc)})") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# What GDAL's KML drivers add to every placemark's own fields: how Google Earth or 奥维 (Ovital)
# draws it, not data. Left out of a KML's columns (so they do not land in every row's attrs);
# id, Name and description are kept.
KML_STYLE_FIELDS = frozenset({"timestamp", "begin", "end", "altitudeMode", "tessellate", "extrude", "visibility",
                              "drawOrder", "icon", "snippet"})


class VectorReader:
    """One layer of a GDAL vector source, read in bounded Arrow batches."""

    has_geometry = True

    def __init__(self, path: Path, layer: str | None = None, encoding: str | None = None,
                 open_options: dict | None = None, kind: str | None = None, where: str | None = None) -> None:
        self.path = Path(path)
        self.open_options = open_options or {}
        self.layer = layer
        self.where = where  # a GDAL attribute filter (a rejected-rows file: one layer's rows)
        # KML coordinates are lon,lat[,altitude]: the altitude (0 when clamped to the ground, as
        # Google Earth writes it) is dropped, the layers being 2D
        self.kml = kind == "kml"
        self.warnings: list[RowIssue] = []
        self.encoding = encoding
        if encoding is None and self.path.suffix.lower() == ".shp":
            self.encoding, warning = dbf.detect(self.path)
            if warning:
                self.warnings.append(RowIssue(None, None, None, warning, "warning"))
        if self.path.suffix.lower() == ".shp" and dbf.sidecar(self.path, ".dbf") is None:
            raise ReadError(f"{self.path.name}: the shapefile's .dbf is missing (a shapefile is .shp + .shx + .dbf)")
        self._source = self.path  # what GDAL opens: the file, or a copy of a MapInfo header naming its charset
        if kind == "mapinfo":
            mapinfo.check_parts(self.path)
            self._source, warning, scratch = mapinfo.readable(self.path)
            if scratch is not None:
                weakref.finalize(self, shutil.rmtree, scratch, True)
            if warning:
                self.warnings.append(RowIssue(None, None, None, warning, "warning"))
        try:
            info = pyogrio.read_info(self._source, layer=layer, encoding=self.encoding, **self.open_options)
        except Exception as exc:
            raise ReadError(f"{self.path.name}: cannot read{f' layer {layer}' if layer else ''} "
                            f"({_first_line(exc)})") from exc
        self.columns = [str(c) for c in info["fields"]]
        self._domains: dict[str, dict[str, str]] = {}  # a geodatabase field's codes -> what they mean
        if kind == "filegdb":
            named = filegdb.coded_domains(self.path, layer or str(pyogrio.list_layers(self.path)[0][0]))
            for field, (domain, meanings) in named.items():
                if field in self.columns:
                    self._domains[field] = meanings
                    shown = ", ".join(f"{k} = {v}" for k, v in list(meanings.items())[:6])
                    self.warnings.append(RowIssue(None, field, None, f"field {field}: codes read as what the "
                                                  f"geodatabase's domain {domain} says they mean ({shown}"
                                                  f"{', ...' if len(meanings) > 6 else ''})", "warning"))
        self._read_columns = None
        if self.kml:
            self.columns = self._read_columns = [c for c in self.columns if c not in KML_STYLE_FIELDS]
        # a filter's row count is not known without reading the file once more: left unknown
        known = where is None and info.get("features", -1) >= 0
        self.total = int(info["features"]) if known else None
        self.estimate = self.total
        self.has_geometry = info.get("geometry_type") not in (None, "Unknown") or bool(info.get("crs"))
        self._crs_error: str | None = None
        try:
            self.declared_crs = crs_mod.declared_crs(info.get("crs"))
        except crs_mod.CRSError as exc:
            self.declared_crs = None
            self._crs_error = f"{self.path.name}: {exc}"

    @property
    def crs_error(self) -> str | None:
        """A declared CRS that cannot be used; fatal unless --source-crs overrides it."""
        return self._crs_error

    def batches(self, size: int) -> Generator[Batch, None, None]:
        """Consecutive batches; row numbers are 1-based feature numbers in file order."""
        start = 1
        try:
            with open_arrow(self._source, layer=self.layer, encoding=self.encoding, batch_size=size,
                            columns=self._read_columns, where=self.where, use_pyarrow=True, datetime_as_string=True,
                            **self.open_options) as (meta, reader):
                geom_name = meta.get("geometry_name") or "wkb_geometry"
                for record_batch in reader:
                    n = record_batch.num_rows
                    if n == 0:
                        continue
                    names = record_batch.schema.names
                    columns = {}
                    wkb = None
                    for i, name in enumerate(names):
                        col = record_batch.column(i)
                        if name == geom_name or (name == "wkb_geometry" and geom_name not in names):
                            wkb = col.to_pylist()
                            continue
                        if pa.types.is_dictionary(col.type):  # decoded by GDAL already
                            columns[name] = _undictionary(col)
                        elif name in self._domains:  # a text-coded domain GDAL leaves as codes
                            columns[name] = filegdb.decode(col.to_pylist(), self._domains[name])
                        else:
                            columns[name] = col.to_pylist()
                    if self.kml and wkb is not None:
                        wkb = _flat(wkb)
                    yield Batch(np.arange(start, start + n), columns, wkb=wkb)
                    start += n
        except ReadError:
            raise
        except Exception as exc:
            raise ReadError(f"{self.path.name}: unreadable after row {start - 1} ({_first_line(exc)}); "
                            "the file may be truncated or damaged") from exc


def _undictionary(col: pa.Array) -> list:
    """A dictionary-encoded column's values. GDAL hands a geodatabase field with an integer coded
    domain over as one, its codes the indices: a code the domain lacks (9 where it names 1-3) is
    out of bounds, which Arrow refuses to convert (the whole file was 'unreadable'); it is kept as
    the code, as text, for the checks to judge."""
    meanings = col.dictionary.to_pylist()
    return [None if k is None else meanings[k] if 0 <= k < len(meanings) and meanings[k] is not None else str(k)
            for k in col.indices.to_pylist()]


def _flat(wkb: list) -> list:
    """WKB with any Z (a KML altitude) dropped; the list as it was when every geometry is 2D."""
    geoms = shapely.from_wkb(np.asarray(wkb, dtype=object), on_invalid="ignore")
    if not shapely.has_z(geoms).any():
        return wkb
    flat = shapely.to_wkb(shapely.force_2d(geoms)).tolist()
    return [w if w is not None else raw for w, raw in zip(flat, wkb)]  # unreadable ones as they came
