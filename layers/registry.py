"""The layer registry: what is published, read from ``collections.yaml`` (or the file the
settings name, ``URBANGIS_COLLECTIONS``). Publishing code (ogc/, tiles/, the map style) iterates
this; adding a table to the configuration publishes it everywhere."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from psycopg import sql

from .contract import BY_TABLE

GEOMETRY_KINDS = ("point", "line", "polygon", "mixed")
# A part of a mixed collection holds the features of one geometry kind: its id suffix, the
# dimension of those geometries (ST_Dimension) and its title's words.
PART_KINDS = {"point": ("points", 0, "点", "points"), "line": ("lines", 1, "线", "lines"),
              "polygon": ("polygons", 2, "面", "polygons")}
# The parts a contract layer's geometry rule allows (layers/contract.py).
_CONTRACT_PARTS = {"areal_or_point": ("point", "polygon"), "any": ("point", "line", "polygon")}


class RegistryError(ValueError):
    """The collections configuration is malformed; the message names the entry and key."""


@dataclass(frozen=True)
class Collection:
    """One published table."""

    id: str
    table: str
    title: str
    description: str
    id_field: str
    fields: tuple[str, ...]
    geometry: str
    group: str
    geometry_column: str = "geom"
    storage_crs: int = 4490
    time_field: str | None = None
    minzoom: int = 0
    maxzoom: int = 22
    simplify: dict[int, float] = field(default_factory=dict)
    tile_feature_limit: int = 20000
    tile_fields: tuple[str, ...] | None = None
    tile_min_pixels: float = 0.0  # lines and polygons smaller than this (bounding box, tile pixels) left out
    color: str = "#3388ff"
    fill_opacity: float = 0.1
    public: bool = False  # served to callers without credentials (the `public` role); else in-area only
    # A mixed collection is also published as one collection per geometry kind (QGIS and GDAL type
    # a layer from its first features and drop the others): ``parts`` names the kinds, and each
    # part is a Collection of its own with ``part_of`` its mixed one and ``dimension`` its kind.
    parts: tuple[str, ...] = ()
    part_of: str | None = None
    dimension: int | None = None

    def simplify_at(self, zoom: int) -> float:
        """Simplification tolerance in tile pixels at ``zoom`` (the last step at or below it)."""
        steps = [z for z in self.simplify if z <= zoom]
        return float(self.simplify[max(steps)]) if steps else 0.0

    def in_zoom(self, zoom: int) -> bool:
        return self.minzoom <= zoom <= self.maxzoom

    @property
    def family(self) -> str:
        """The collection a map toggles this one with: the mixed one for a part, else itself."""
        return self.part_of or self.id

    @property
    def tile_columns(self) -> tuple[str, ...]:
        """The attributes vector tiles carry: ``tile_fields`` if set, else all ``fields``."""
        return self.tile_fields if self.tile_fields is not None else self.fields


_KEYS = {f for f in Collection.__dataclass_fields__} - {"id", "part_of", "dimension"}
_REQUIRED = ("title", "id_field", "fields", "geometry")


def _contract_defaults(table: str) -> dict:
    """What a collection of a contract layer's table publishes unless the registry says otherwise:
    its fields (and computed columns), key, titles and description (layers/contract.py)."""
    layer = BY_TABLE.get(table)
    if layer is None:
        return {}
    return {"title": f"{layer.title_zh} {layer.title_en}", "description": layer.description,
            "id_field": layer.key, "fields": list(layer.published),
            "parts": list(_CONTRACT_PARTS.get(layer.geometry or "", ()))}


def _build(cid: str, spec: dict, defaults: dict) -> Collection:
    if not isinstance(spec, dict):
        raise RegistryError(f"collection {cid!r}: expected a mapping, got {type(spec).__name__}")
    merged = {**defaults, **_contract_defaults(spec.get("table", cid)), **spec}
    unknown = set(merged) - _KEYS
    if unknown:
        raise RegistryError(f"collection {cid!r}: unknown key(s) {', '.join(sorted(unknown))}")
    missing = [k for k in _REQUIRED if k not in merged]
    if missing:
        raise RegistryError(f"collection {cid!r}: missing key(s) {', '.join(missing)}")
    if merged["geometry"] not in GEOMETRY_KINDS:
        raise RegistryError(f"collection {cid!r}: geometry must be one of {GEOMETRY_KINDS}")
    merged.setdefault("table", cid)
    merged.setdefault("description", "")
    merged.setdefault("group", "other")
    merged["fields"] = tuple(merged["fields"])
    if merged.get("tile_fields") is not None:
        merged["tile_fields"] = tuple(merged["tile_fields"])
        extra = set(merged["tile_fields"]) - set(merged["fields"])
        if extra:
            raise RegistryError(f"collection {cid!r}: tile_fields not in fields: {', '.join(sorted(extra))}")
    merged["simplify"] = {int(z): float(t) for z, t in (merged.get("simplify") or {}).items()}
    if not 0 <= int(merged.get("minzoom", 0)) <= int(merged.get("maxzoom", 22)) <= 30:
        raise RegistryError(f"collection {cid!r}: need 0 <= minzoom <= maxzoom <= 30")
    if float(merged.get("tile_min_pixels", 0)) < 0:
        raise RegistryError(f"collection {cid!r}: tile_min_pixels must be 0 or more")
    if not 0 <= float(merged.get("fill_opacity", 0.1)) <= 1:
        raise RegistryError(f"collection {cid!r}: fill_opacity must be between 0 and 1")
    parts = merged.get("parts") or ()
    if merged["geometry"] != "mixed":
        if spec.get("parts"):
            raise RegistryError(f"collection {cid!r}: parts are for a collection of geometry: mixed")
        parts = ()  # (a contract layer's default applies to a mixed collection only)
    if isinstance(parts, str) or not set(parts) <= set(PART_KINDS):
        raise RegistryError(f"collection {cid!r}: parts must be a list of {', '.join(PART_KINDS)}")
    merged["parts"] = tuple(k for k in PART_KINDS if k in parts)
    return Collection(id=cid, **merged)


def kind_condition(coll: Collection, alias: str | None = None) -> sql.Composable | None:
    """The SQL condition keeping a part's features (``ST_Dimension`` of its kind), on the geometry
    column of ``alias``; None for a collection that is not a part."""
    if coll.dimension is None:
        return None
    column = sql.Identifier(*((alias,) if alias else ()), coll.geometry_column)
    return sql.SQL("ST_Dimension({}) = {}").format(column, sql.Literal(coll.dimension))


def part_id(cid: str, kind: str) -> str:
    """The id of the part of mixed collection ``cid`` holding its ``kind`` features."""
    return f"{cid}_{PART_KINDS[kind][0]}"


def _parts(coll: Collection) -> list[Collection]:
    """The collections of ``coll``'s geometry kinds (it stays published as it is)."""
    out = []
    for kind in coll.parts:
        _suffix, dimension, zh, en = PART_KINDS[kind]
        title = coll.title + f" ({zh} {en})"
        out.append(replace(coll, id=part_id(coll.id, kind), title=title, geometry=kind, parts=(),
                           part_of=coll.id, dimension=dimension,
                           description=f"{coll.description} Only the {en} of {coll.id}.".strip()))
    return out


@dataclass(frozen=True)
class MapView:
    """Where the map opens (the ``map`` section): ``center`` [lon, lat] in CRS84 and ``zoom``.
    Unset, the TileJSON and the style open where the data is (tiles.tilejson.center)."""

    center: tuple[float, float] | None = None
    zoom: int | None = None


def _read(path: Path | None) -> tuple[dict, str]:
    if path is None:
        text = resources.files("urbangis.layers").joinpath("collections.yaml").read_text(encoding="utf-8")
        where = "layers/collections.yaml"
    else:
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RegistryError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise RegistryError(f"{where}: expected a mapping with `collections`")
    return doc, where


def _view(spec, where: str) -> MapView:
    if spec is None:
        return MapView()
    if not isinstance(spec, dict) or set(spec) - {"center", "zoom"}:
        raise RegistryError(f"{where}: `map` takes only `center: [lon, lat]` and `zoom`")
    center, zoom = spec.get("center"), spec.get("zoom")
    if center is not None:
        ok = isinstance(center, list) and len(center) == 2 and all(isinstance(v, (int, float)) for v in center)
        if not ok or not (-180 <= center[0] <= 180 and -90 <= center[1] <= 90):
            raise RegistryError(f"{where}: map.center must be [lon, lat] in degrees, got {center!r}")
        center = (float(center[0]), float(center[1]))
    if zoom is not None and (not isinstance(zoom, int) or not 0 <= zoom <= 24):
        raise RegistryError(f"{where}: map.zoom must be a whole number 0-24, got {zoom!r}")
    return MapView(center=center, zoom=zoom)


def load_registry(path: Path | None = None) -> dict[str, Collection]:
    """Read and check a collections file; returns collections by id, in file order."""
    doc, where = _read(path)
    _view(doc.get("map"), where)  # a bad `map` section is reported when the registry is read
    defaults = doc.get("defaults") or {}
    entries = doc.get("collections") or {}
    if not isinstance(entries, dict) or not entries:
        raise RegistryError(f"{where}: no `collections` mapping")
    out: dict[str, Collection] = {}
    for cid, spec in entries.items():
        coll = _build(cid, spec, defaults)
        for c in (coll, *_parts(coll)):
            if c.id in out:
                raise RegistryError(f"{where}: collection {c.id!r} is declared twice (a part of a mixed "
                                    "collection is named <id>_points, _lines or _polygons)")
            out[c.id] = c
    return out


@lru_cache(maxsize=8)
def registry(path: Path | None = None) -> dict[str, Collection]:
    """The registry of ``path`` (default: the packaged ``collections.yaml``), read once."""
    return load_registry(path)


def load_map_view(path: Path | None = None) -> MapView:
    """The ``map`` section of a collections file."""
    doc, where = _read(path)
    return _view(doc.get("map"), where)


@lru_cache(maxsize=8)
def map_view(path: Path | None = None) -> MapView:
    """The opening view of the map of ``path``'s registry, read once."""
    return load_map_view(path)
