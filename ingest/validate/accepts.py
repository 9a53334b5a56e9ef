"""What the loader accepts for each contract layer, said from the tables the checks themselves use
(field formats, enumerations and their Chinese spellings, the column headings of 数字城管 exports,
the coordinate columns), so the description cannot drift from the validation. For data staff
preparing a file, and for the CSV template of a layer."""
from __future__ import annotations

import csv
import io

from urbangis.layers.contract import TITLE_ZH, Layer

from ..formats import degrees
from ..formats.tabular import ADDRESS_NAMES, LAT_NAMES, LON_NAMES, LONLAT_NAMES, WEB_MAP_HINT, WKT_NAMES
from .relations import DERIVED, INSIDE, OPTIONAL_GEOMETRY, REFS
from .rows import ENUM_ALIASES, ENUMS, FORMATS, FROM_CODE, HEADINGS, NOT_ALWAYS_REQUIRED, TIME_FORMATS

GEOMETRY = {
    "multipolygon": "polygon or multipolygon",
    "multilinestring": "line or multiline",
    "point": "point",
    "areal_or_point": "polygon or point",
    "any": "point, line or polygon",
}
TYPES = {"text": "text", "int": "integer", "list": "list (several values separated by |)",
         "time": f"date/time, e.g. {TIME_FORMATS}; without an offset, Beijing time"}


def describe(layer: Layer) -> dict:
    """The layer's key, geometry and fields: type, required, the format a code must have, the
    values an enumeration takes (with their accepted Chinese spellings), the Chinese headings a
    column may have instead of the field's name, what it must name that exists, the area the
    geometry must lie in, whether an empty value is taken from the location."""
    fields = []
    for f in layer.fields:
        required = f.required and (layer.name, f.name) not in NOT_ALWAYS_REQUIRED
        spec = {"name": f.name, "type": f.kind, "required": required}
        if f.kind != "text":
            spec["description"] = TYPES[f.kind]
        if (layer.name, f.name) in FORMATS:
            spec["format"] = FORMATS[(layer.name, f.name)][1]
        if (layer.name, f.name) in ENUMS:
            spec["values"] = list(ENUMS[(layer.name, f.name)])
            aliases = ENUM_ALIASES.get((layer.name, f.name))
            if aliases:
                spec["value_aliases"] = dict(aliases)
        if (layer.name, f.name) in HEADINGS:
            spec["headings"] = list(HEADINGS[(layer.name, f.name)])
        refs = [r for r in REFS.get(layer.name, ()) if r.field == f.name]
        if refs:  # house_numbers' parent_id: a road, place or courtyard, as parent_kind says
            spec["must_exist"] = " or ".join(dict.fromkeys(r.what for r in refs)) + (
                " (the kind parent_kind names)" if any(r.when for r in refs) else "")
        inside = [i.what for i in INSIDE.get(layer.name, ()) if i.field == f.name]
        if inside:
            spec["geometry_inside"] = inside[0]
        if (layer.name, f.name) in DERIVED:
            spec["when_empty"] = "taken from where the row lies"
        if (layer.name, f.name) in FROM_CODE:
            spec["when_empty"] = ("read from the code (12 digits a community, 9 a street, 6 a district; a street's "
                                  "or community's parent is the code less its last 3 digits)")
        fields.append(spec)
    out: dict[str, object] = {
        "name": layer.name, "title_zh": TITLE_ZH[layer.name], "key": layer.key, "fields": fields,
        "computed": list(layer.computed), "geometry": GEOMETRY.get(layer.geometry) if layer.geometry else None}
    if layer.name in OPTIONAL_GEOMETRY:
        out["geometry_optional"] = ("a file without geometry (a code list) updates names, levels and parents and "
                                    "keeps the outlines the database holds; new codes come without one")
    if layer.geometry:
        out["coordinates"] = {
            "longitude_columns": list(LON_NAMES), "latitude_columns": list(LAT_NAMES),
            "coordinate_values": degrees.HINT,
            "lonlat_columns": list(LONLAT_NAMES),
            "web_map_columns": WEB_MAP_HINT,
            "wkt_columns": list(WKT_NAMES),
            "address_columns": list(ADDRESS_NAMES) if layer.geometry in ("point", "areal_or_point", "any") else [],
        }
    return out


def template_csv(layer: Layer) -> str:
    """A CSV of the layer's columns, no rows, UTF-8 with a byte-order mark (so Excel shows the
    Chinese staff type into it): its fields, then lon/lat for layers whose rows can be points (a
    table of components or places is one of points; their polygons come as GIS files), wkt for
    lines and polygons."""
    columns = [f.name for f in layer.fields]
    if layer.geometry in ("point", "any", "areal_or_point"):
        columns += ["lon", "lat"]
    elif layer.geometry:
        columns.append("wkt")
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(columns)
    return "\ufeff" + out.getvalue()
