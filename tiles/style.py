"""The MapLibre style of the city tileset, generated from the registry: one or more style layers
per collection by its geometry kind, coloured and grouped as configured, shown from its minzoom.

No text labels: a label needs glyph (font) files, which would have to come from the internet;
features are inspected by clicking instead."""
from __future__ import annotations

from typing import Mapping, Sequence

from urbangis.layers.registry import Collection

SOURCE = "city"
BACKGROUND = "#f4f1ea"

# Drawing order: areas under lines under points, so nothing small is hidden by a fill.
_ORDER = {"polygon": 0, "mixed": 1, "line": 2, "point": 3}
# Only for a mixed collection declared without parts: QGIS' converter of MapLibre styles turns
# these filters into ones that never match (its layers stay empty, without a warning), so the
# registry gives mixed collections parts and the city tileset carries those instead.
_POLYGONS = ["match", ["geometry-type"], ["Polygon", "MultiPolygon"], True, False]
_LINES = ["match", ["geometry-type"], ["LineString", "MultiLineString"], True, False]
_POINTS = ["match", ["geometry-type"], ["Point", "MultiPoint"], True, False]


def source_ids(colls: Sequence[Collection]) -> dict[str, str]:
    """The style source of each collection: one source per maxzoom.

    A client overzooms a source past its maxzoom, but not one layer of a source: if admin areas
    (tiles up to z16) shared a source with cases (up to z22), z17 tiles would have no admin
    layer and the areas would vanish. So collections that stop earlier get a source of their own
    (the city tileset restricted to them with ``collections=``), which the client overzooms."""
    top = max(c.maxzoom for c in colls)
    return {c.id: SOURCE if c.maxzoom == top else f"{SOURCE}-z{c.maxzoom}" for c in colls}


def _meta(coll: Collection) -> dict:
    # a part is switched on and off with its mixed collection (coll.family)
    return {"urbangis:collection": coll.family, "urbangis:layer": coll.id, "urbangis:group": coll.group,
            "urbangis:title": coll.title}


def style_layers(coll: Collection, source: str = SOURCE) -> list[dict]:
    """The MapLibre style layers that draw ``coll`` from ``source``."""
    base = {"source": source, "source-layer": coll.id, "minzoom": coll.minzoom, "metadata": _meta(coll)}
    fill = {**base, "id": f"{coll.id}-fill", "type": "fill",
            "paint": {"fill-color": coll.color, "fill-opacity": coll.fill_opacity}}
    outline = {**base, "id": f"{coll.id}-outline", "type": "line",
               "paint": {"line-color": coll.color, "line-width": 1}}
    line = {**base, "id": f"{coll.id}-line", "type": "line",
            "layout": {"line-cap": "round", "line-join": "round"},
            "paint": {"line-color": coll.color,
                      "line-width": ["interpolate", ["linear"], ["zoom"], 10, 1, 16, 4]}}
    circle = {**base, "id": f"{coll.id}-circle", "type": "circle",
              "paint": {"circle-color": coll.color,
                        "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 2, 16, 5],
                        "circle-stroke-color": "#ffffff", "circle-stroke-width": 1}}
    if coll.geometry == "polygon":
        return [fill, outline]
    if coll.geometry == "line":
        return [line]
    if coll.geometry == "point":
        return [circle]
    # mixed: each geometry type by its own layer
    return [
        {**fill, "filter": _POLYGONS},
        {**outline, "filter": _POLYGONS},
        {**line, "filter": _LINES},
        {**circle, "filter": _POINTS},
    ]


def groups(colls: Sequence[Collection]) -> dict[str, list[str]]:
    """Layer-switcher groups: {group: [collection ids]}, in registry order."""
    out: dict[str, list[str]] = {}
    for c in colls:
        members = out.setdefault(c.group, [])
        if c.family not in members:
            members.append(c.family)
    return out


def _titles(colls: Sequence[Collection], registry: Mapping[str, Collection]) -> dict[str, str]:
    """Titles of the layers and of the mixed collections their parts belong to (the switcher's)."""
    out = {c.id: c.title for c in colls}
    for c in colls:
        if c.part_of and c.part_of in registry:
            out.setdefault(c.part_of, registry[c.part_of].title)
    return out


def city_style(colls: Sequence[Collection], tilejson_url: str, center: list[float] | None, zoom: int,
               registry: Mapping[str, Collection] | None = None) -> dict:
    """The MapLibre (style spec v8) document of the city tileset served at ``tilejson_url``
    (``registry``: every collection, for the titles of the mixed ones the layers are parts of)."""
    ordered = sorted(colls, key=lambda c: _ORDER.get(c.geometry, 1))  # stable: registry order within a kind
    sources = source_ids(colls)
    members: dict[str, list[str]] = {}
    for cid, source in sources.items():
        members.setdefault(source, []).append(cid)
    doc: dict = {
        "version": 8,
        "name": "urbangis city",
        "metadata": {
            "urbangis:groups": groups(colls),
            "urbangis:titles": _titles(colls, registry or {}),
        },
        "sources": {
            source: {
                "type": "vector",
                "url": tilejson_url if source == SOURCE else f"{tilejson_url}?collections={','.join(ids)}",
            }
            for source, ids in members.items()
        },
        "layers": [{"id": "background", "type": "background", "paint": {"background-color": BACKGROUND}}]
        + [layer for c in ordered for layer in style_layers(c, sources[c.id])],
    }
    if center:
        doc["center"] = center
        doc["zoom"] = zoom
    return doc
