"""The layers part of docs/data-contract.md, written from the contract (layers/contract.py), so
that the document cannot say other than what the loader and the database enforce.

``urbangis contract --write docs/data-contract.md`` replaces the text between the two markers;
a test fails when the file differs from what this writes.
"""
from __future__ import annotations

from pathlib import Path

from .contract import LAYERS, Field, Layer

BEGIN = "<!-- contract:begin (written by `urbangis contract --write`; edit layers/contract.py) -->"
END = "<!-- contract:end -->"
GEOMETRY = {"multipolygon": "polygon", "multilinestring": "line", "point": "point",
            "areal_or_point": "point or polygon", "any": "point, line or polygon", None: "none (CSV)"}


def _rules(layer: Layer, f: Field) -> str:
    said = []
    if f.code is not None:
        said.append(f.code.describe)
    if f.enum is not None:
        values = ", ".join(f"`{v}`" for v in f.enum.values)
        said.append(f"one of {values}" + (f" (or {len(f.enum.aliases)} Chinese spellings)" if f.enum.aliases else ""))
    said += [f"names {_a(r.what)}" + (f" where {r.when.removeprefix('s.')}" if r.when else "")
             for r in layer.refs if r.field == f.name]
    said += [f"the row lies in that {i.what}" + (" (a line touches it)" if i.lines else "")
             for i in layer.inside if i.field == f.name]
    if f.derived is not None:
        said.append(f"left empty: taken from the {f.derived.table.rstrip('s').replace('_', ' ')} the row lies in")
    if f.from_code:
        said.append("left out: read from the code")
    if f.padded:
        said.append(f"a shorter number is zero-padded to {f.padded} digits (warning)")
    if f.note:
        said.append(f.note)
    return "; ".join(said)


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _layer(layer: Layer) -> list[str]:
    key = f"key `{layer.key}`" + (f", natural key {' + '.join(layer.natural_key)}" if layer.natural_key else "")
    geometry = GEOMETRY[layer.geometry] + (" (optional)" if layer.optional_geometry else "")
    lines = [f"### `{layer.name}` {layer.title_zh} {layer.title_en}", "",
             f"{layer.description} Geometry: {geometry}; {key}; files named `{layer.name}.*` or "
             f"`{layer.short_zh}…`.", "",
             "| field | type | required | rules | Chinese headings read as it |", "|---|---|---|---|---|"]
    for f in layer.fields:
        required = "yes" + (" (not always)" if f.sometimes_empty else "") if f.required else ""
        headings = " ".join(f.headings)
        lines.append(f"| `{f.name}` | {f.kind} | {required} | {_rules(layer, f)} | {headings} |")
    if layer.computed:
        shown = [c for c in layer.computed if c not in layer.internal]
        if shown:
            lines += ["", f"Computed by the database and published: {', '.join(f'`{c}`' for c in shown)}."]
    return lines + [""]


def markdown() -> str:
    """The generated part of the document, markers included."""
    lines = [BEGIN, "", "## Layers", "",
             "In load order (parents first). Extra fields of a file are kept in `attrs`; multi-valued text "
             "fields use `|`.", ""]
    for layer in LAYERS:
        lines += _layer(layer)
    return "\n".join(lines + [END])


def rewrite(path: Path) -> bool:
    """Put the generated part into ``path`` between the markers; True when the file changed."""
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path}: no markers {BEGIN!r} ... {END!r} to write between")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    new = head + markdown() + tail
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False
