"""THE table of combination models: which parts a query needs and which search resolves it.

Adding a combination is a configuration change: a JSON or YAML file named by the setting
``URBANGIS_GEOCODER_MODELS`` (read with :func:`load_models`) holds more rows of the same shape
(``number``, ``name``, ``parts``, ``relax``, ``search``, ``level``), e.g. courtyard + building no.
as model 19::

    - {number: 19, name: 院落+楼牌号, parts: [courtyard, building], search: building}

Parts: ``street``, ``community`` (admin parts), ``road``, ``place``, ``org``, ``courtyard``,
``storefront`` (named parts), ``house``, ``building`` (numbers), ``grid``, ``component`` (codes).
A part listed in ``relax`` may be absent: the model still answers, with lower confidence (a
road without its street office is still "street office + road", resolved on the whole road).
Searches are the functions of :mod:`geocoder.searches`, by name.
"""
from __future__ import annotations

import json
from pathlib import Path

from .query import ALL_PARTS, SEARCH_NAMES, Model

# The 18 combination models of the tender (mission.md §1), in its order.
MODELS: tuple[Model, ...] = (
    Model(1, "街道+道路", "street office + road", ("street", "road"), "road_in_area", relax=("street",)),
    Model(2, "街道+社区+道路", "street office + community + road", ("street", "community", "road"), "road_in_area",
          relax=("street",)),
    Model(3, "道路(胡同)+门牌号", "road (lane) + house no.", ("road", "house"), "house"),
    Model(4, "道路+门牌号+楼牌号", "road + house no. + building no.", ("road", "house", "building"), "building"),
    Model(5, "道路+楼牌号", "road + building no.", ("road", "building"), "building"),
    Model(6, "道路+沿街铺面", "road + storefront name", ("road", "storefront"), "storefront", relax=("road",)),
    Model(7, "地名", "place name", ("place",), "feature"),
    Model(8, "地名+门牌号", "place name + house no.", ("place", "house"), "house"),
    Model(9, "地名+门牌号+楼牌号", "place name + house no. + building no.", ("place", "house", "building"), "building"),
    Model(10, "地名+楼牌号", "place name + building no.", ("place", "building"), "building"),
    Model(11, "地名+道路+门牌号", "place name + road + house no.", ("place", "road", "house"), "place_road_house"),
    Model(12, "单位", "organisation", ("org",), "feature"),
    Model(13, "单位+楼牌号", "organisation + building no.", ("org", "building"), "building"),
    Model(14, "街道+院落", "street office + courtyard", ("street", "courtyard"), "feature", relax=("street",)),
    Model(15, "街道+社区+院落", "street office + community + courtyard", ("street", "community", "courtyard"),
          "feature", relax=("street",)),
    Model(16, "院落+门牌号", "courtyard + house no.", ("courtyard", "house"), "house"),
    Model(17, "单元网格", "unit grid (code)", ("grid",), "grid"),
    Model(18, "城市部件编码", "city component code", ("component",), "component"),
)


def _validate(row: dict, where: str) -> Model:
    try:
        number = int(row["number"])
        parts = tuple(row["parts"])
        search = str(row["search"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: a model needs number, parts and search ({exc})") from None
    unknown = set(parts) - ALL_PARTS
    if unknown:
        raise ValueError(f"{where}: model {number}: unknown parts {sorted(unknown)}; known: {sorted(ALL_PARTS)}")
    if search not in SEARCH_NAMES:
        raise ValueError(f"{where}: model {number}: unknown search {search!r}; known: {sorted(SEARCH_NAMES)}")
    relax = tuple(row.get("relax") or ())
    if set(relax) - set(parts):
        raise ValueError(f"{where}: model {number}: relax must name parts of the model")
    return Model(number, str(row.get("name") or f"model {number}"), str(row.get("title") or row.get("name") or ""),
                 parts, search, relax)


def load_models(path: str | Path | None = None) -> tuple[Model, ...]:
    """The built-in table plus the rows of a city's JSON/YAML file (a row with a built-in number
    replaces that model)."""
    if not path:
        return MODELS
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        rows = yaml.safe_load(text)
    else:
        rows = json.loads(text)
    if isinstance(rows, dict):
        rows = rows.get("models", [])
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a list of models")
    extra = {m.number: m for m in (_validate(r, f"{path} row {i + 1}") for i, r in enumerate(rows))}
    table = [extra.pop(m.number, m) for m in MODELS]
    return tuple(table + sorted(extra.values(), key=lambda m: m.number))

