"""Readers, one per kind of input, that yield a layer in bounded batches.

Every reader gives the same shape: column names, the CRS the file declares, a row count when the
format knows it cheaply, warnings about the file as a whole, and :class:`Batch` objects of at
most ``batch_size`` rows. Nothing here touches the database.
"""
from __future__ import annotations

from pathlib import Path

from .base import Batch, LayerReader, ReadError, RowIssue
from .sniff import detect_kind

__all__ = ["WORKBOOKS", "Batch", "DATA_SUFFIXES", "MULTI_LAYER", "MULTI_LAYER_SUFFIXES", "LayerReader", "ReadError",
           "RowIssue", "detect_kind", "open_layer", "list_layers"]

SPATIAL_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb", ".kml", ".kmz", ".tab", ".mif")
# .et: WPS Spreadsheets' own format, a BIFF8 workbook like an .xls inside (read as one)
TABLE_SUFFIXES = (".csv", ".xlsx", ".xls", ".et", ".ods")
WORKBOOKS = ("xlsx", "ods")  # kinds read sheet by sheet through GDAL
DATA_SUFFIXES = SPATIAL_SUFFIXES + TABLE_SUFFIXES
MULTI_LAYER = ("gpkg", "kml", "filegdb")  # kinds whose files hold several layers (a KML: one per folder)
MULTI_LAYER_SUFFIXES = (".gpkg", ".kml", ".kmz", ".xlsx", ".xls", ".et", ".ods", ".gdb")


def list_layers(path: Path) -> list[str]:
    """The layers inside a multi-layer file (GeoPackage, KML, File Geodatabase), the sheets of a workbook; one name
    for single-layer files."""
    from .vector import list_layers as _vector_layers

    if detect_kind(path) in (*MULTI_LAYER, *WORKBOOKS):
        return _vector_layers(path)
    return [path.stem]


def open_layer(path: Path, layer: str | None = None, *, geocode=None, encoding: str | None = None,
               where: str | None = None) -> LayerReader:
    """Open one layer of ``path`` with the reader its content (not only its suffix) calls for;
    ``where``: only the rows of a GDAL attribute filter (vector files)."""
    kind = detect_kind(path)
    if kind in ("csv", *WORKBOOKS):
        from .tabular import TableReader

        return TableReader(path, kind, geocode=geocode, encoding=encoding, sheet=layer)
    from .vector import VectorReader

    return VectorReader(path, layer, encoding=encoding, kind=kind, where=where)
