"""Pieces of SQL shared by the items query and the CQL2 translation: named parameters and the
geometry expressions that move coordinates between a request's CRS and the storage CRS.

Values only ever travel as bound parameters (``%(pN)s``); identifiers are quoted with
``psycopg.sql.Identifier``; type names come from the database catalogue, never from a request.
"""
from __future__ import annotations

from psycopg import sql

from . import crs as crsmod

# CGCS2000 (4490) and WGS 84 (4326, CRS84) coincide to a few centimetres; PROJ itself uses a
# null "ballpark" transformation between them, so we skip ST_Transform there (same result, less work).
SAME_AS_STORAGE = {4326, crsmod.STORAGE_SRID}


class Params:
    """Named bound parameters collected while a query is composed."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def add(self, value: object) -> sql.Composable:
        """Bind ``value``; its placeholder."""
        name = f"p{len(self.values)}"
        self.values[name] = value
        return sql.Placeholder(name)


def to_storage(geom: sql.Composable, crs: crsmod.Crs, storage_srid: int = crsmod.STORAGE_SRID) -> sql.Composable:
    """A geometry given in ``crs`` (authority axis order) as a geometry in the storage CRS."""
    if crs.swap_xy:
        geom = sql.SQL("ST_FlipCoordinates({})").format(geom)
    if crs.srid in SAME_AS_STORAGE and storage_srid in SAME_AS_STORAGE:
        return sql.SQL("ST_SetSRID({}, {})").format(geom, sql.Literal(storage_srid))
    return sql.SQL("ST_Transform(ST_SetSRID({}, {}), {})").format(
        geom, sql.Literal(crs.srid), sql.Literal(storage_srid)
    )


def from_storage(column: sql.Composable, crs: crsmod.Crs, storage_srid: int = crsmod.STORAGE_SRID) -> sql.Composable:
    """The stored geometry in the output ``crs``, in that CRS's authority axis order."""
    geom = column
    if not (crs.srid in SAME_AS_STORAGE and storage_srid in SAME_AS_STORAGE):
        geom = sql.SQL("ST_Transform({}, {})").format(geom, sql.Literal(crs.srid))
    if crs.swap_xy:
        geom = sql.SQL("ST_FlipCoordinates({})").format(geom)
    return geom


def envelope(params: Params, minx: float, miny: float, maxx: float, maxy: float, crs: crsmod.Crs,
             storage_srid: int = crsmod.STORAGE_SRID) -> sql.Composable:
    """A bbox (x/y order) as a polygon in the storage CRS; projected boxes are densified so their
    edges follow the curved image of the rectangle."""
    box = sql.SQL("ST_MakeEnvelope({}, {}, {}, {})").format(
        params.add(minx), params.add(miny), params.add(maxx), params.add(maxy)
    )
    if crs.srid in SAME_AS_STORAGE and storage_srid in SAME_AS_STORAGE:
        return sql.SQL("ST_SetSRID({}, {})").format(box, sql.Literal(storage_srid))
    step = max(maxx - minx, maxy - miny) / 32 or 1.0
    return sql.SQL("ST_Transform(ST_Segmentize(ST_SetSRID({}, {}), {}), {})").format(
        box, sql.Literal(crs.srid), params.add(step), sql.Literal(storage_srid)
    )
