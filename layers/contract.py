"""The gazetteer contract (docs/data-contract.md) as data: layers, their fields and tables.

The loader reads this to know what a file must carry and where it goes; the schema in
``migrations/`` is the same contract enforced by the database.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Field:
    name: str
    kind: str = "text"  # text | int | time | list (``|``-separated in files, text[] in the database)
    required: bool = False


@dataclass(frozen=True)
class Layer:
    name: str
    key: str
    fields: tuple[Field, ...]
    geometry: str | None  # multipolygon | multilinestring | point | areal_or_point | any | None
    table: str = ""
    # columns the database computes; never written by the loader
    computed: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.table:
            object.__setattr__(self, "table", self.name)

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


def _f(spec: str) -> tuple[Field, ...]:
    """Compact field spec: ``*name`` required, ``name:int``, ``name:time``, ``name:list``."""
    out = []
    for token in spec.split():
        required = token.startswith("*")
        token = token.lstrip("*")
        name, _, kind = token.partition(":")
        out.append(Field(name, kind or "text", required))
    return tuple(out)


# In load order: parents before children.
LAYERS: tuple[Layer, ...] = (
    Layer("admin_areas", "code", _f("*code *name *level *parent_code aliases:list"), "multipolygon"),
    Layer("unit_grids", "code", _f("*code *community_code"), "multipolygon"),
    Layer("responsibility_grids", "code", _f("*code *name district_code"), "multipolygon"),
    Layer("supervisors", "id", _f("*id *name *grid_codes:list"), None),
    Layer(
        "roads",
        "id",
        _f(
            "*id *name aliases:list historic_names:list kind district_code left_from:int left_to:int "
            "right_from:int right_to:int left_parity right_parity"
        ),
        "multilinestring",
    ),
    Layer("place_names", "id", _f("*id *name aliases:list historic_names:list kind district_code"), "areal_or_point"),
    Layer("courtyards", "id", _f("*id *name kind street_code community_code aliases:list"), "areal_or_point"),
    Layer("house_numbers", "id", _f("*id *parent_kind *parent_id *number"), "point", computed=("num",)),
    Layer("organisations", "id", _f("*id *name aliases:list kind road_id house_number"), "areal_or_point"),
    Layer("buildings", "id", _f("*id *parent_kind *parent_id *number"), "areal_or_point"),
    Layer("storefronts", "id", _f("*id *name *road_id house_number category"), "point"),
    Layer(
        "components",
        "code",
        _f("*code *name status owner_dept grid_code"),
        "any",
        computed=("district_code", "major_class", "minor_class"),
    ),
    Layer(
        "cases",
        "case_no",
        _f(
            "*case_no *kind *major_class *minor_class component_code *status source description address "
            "supervisor_id grid_code district_code *reported_at:time closed_at:time"
        ),
        "point",
    ),
)

BY_NAME: dict[str, Layer] = {layer.name: layer for layer in LAYERS}

# Each layer's Chinese title, as data staff name their files and exports (案件2024年5月.csv)
TITLE_ZH: dict[str, str] = {"admin_areas": "行政区划", "unit_grids": "单元网格", "responsibility_grids": "责任网格",
                            "supervisors": "监督员", "roads": "道路", "place_names": "地名", "courtyards": "院落",
                            "house_numbers": "门牌", "buildings": "楼牌", "organisations": "单位",
                            "storefronts": "门店", "components": "部件", "cases": "案件"}
