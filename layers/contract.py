"""The data contract (docs/data-contract.md) as one declaration: every layer, its fields and their
rules, in one place.

From this the loader validates (ingest/validate: types, code formats, enumerations and their
Chinese spellings, required fields, references, containment, natural keys), the registry takes
its default fields and titles (layers/registry.py), ``/ingest/layers`` says what each layer
accepts, docs/data-contract.md's layer table is written (``urbangis contract docs``), and the
database's field CHECKs are kept in step (:func:`field_checks`, applied by layers/migrate.py;
a test compares them with the declared formats value by value). Adding a status is an edit of
its :class:`Enum`; adding a layer is a :class:`Layer` here and its table in a migration.

Code formats are declared once (:data:`CODES`): a revision of a standard may change lengths.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


# -- code formats -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Code:
    """A code format: its characters, its allowed lengths, and what it is (for messages).

    ``digits`` codes are ASCII digits; ``word`` codes letters, digits, ``-`` and ``_``. ``lengths``
    are the exact lengths allowed, or (1, max) with ``up_to``. ``nonzero`` is a two-digit slice
    ``(start, end)`` that may not be ``00`` (a component's major class)."""

    name: str
    charset: str  # digits | word
    lengths: tuple[int, ...]
    describe: str
    up_to: bool = False
    nonzero: tuple[int, int] | None = None

    @property
    def pattern(self) -> re.Pattern:
        """The Python pattern of the format (whole value)."""
        chars = "[0-9]" if self.charset == "digits" else "[0-9A-Za-z_-]"
        if self.up_to:
            body = f"{chars}{{1,{self.lengths[-1]}}}"
        else:
            body = "|".join(f"{chars}{{{n}}}" for n in self.lengths)
        if self.nonzero:
            a, b = self.nonzero
            (n,) = self.lengths
            body = f"{chars}{{{a}}}(0[1-9]|[1-9][0-9]){chars}{{{n - b}}}"
        return re.compile(f"^(?:{body})$")

    def sql(self, column: str) -> str:
        """The CHECK expression of the format. An unbounded class plus a length, not a bounded
        repetition, which PostgreSQL's regex engine unrolls per repeat (a million cases COPY in
        4.0 s instead of 6.0 s; layers/migrations/0004_cheaper_code_checks.sql)."""
        chars = "^[0-9]+$" if self.charset == "digits" else "^[0-9A-Za-z_-]+$"
        if self.up_to:
            length = f"length({column}) <= {self.lengths[-1]}"
        elif len(self.lengths) == 1:
            length = f"length({column}) = {self.lengths[0]}"
        else:
            length = f"length({column}) IN ({', '.join(map(str, self.lengths))})"
        out = f"{column} ~ '{chars}' AND {length}"
        if self.nonzero:
            a, b = self.nonzero
            out += f" AND substring({column} FROM {a + 1} FOR {b - a}) <> '00'"
        return out


CODES: Mapping[str, Code] = MappingProxyType({c.name: c for c in (
    Code("district", "digits", (6,), "a 6-digit district code"),
    Code("street", "digits", (9,), "a 9-digit street office code"),
    Code("community", "digits", (12,), "a 12-digit community code"),
    Code("unit_grid", "digits", (14, 15), "a unit grid code: 15 digits (community 12 + 3), or the legacy 14"),
    Code("responsibility_grid", "word", (32,), "1-32 letters, digits, '-' or '_'", up_to=True),
    Code("component", "digits", (16,), "a component code: 16 digits = district 6 + major class 01-99 "
                                       "+ minor class 2 + serial 6", nonzero=(6, 8)),
    Code("component_ref", "digits", (16,), "a 16-digit component code"),
    Code("case_no", "word", (40,), "1-40 letters, digits, '-' or '_'", up_to=True),
    Code("major_class", "digits", (2,), "a 2-digit major class 01-99", nonzero=(0, 2)),
    Code("minor_class", "digits", (2,), "a 2-digit minor class"),
)})
ADMIN_LEVEL_DIGITS = MappingProxyType({"province": 6, "city": 6, "district": 6, "street": 9, "community": 12})
STANDARD_MAJORS = frozenset({"01", "02", "03", "04", "05", "06"})  # GB/T 30428.2 component and event majors


# -- enumerations -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Enum:
    """The values a field may take, and other spellings read as them without a warning (any letter
    case, and the Chinese terms of 数字城管 exports): each maps to exactly one value."""

    values: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        wrong = {a: v for a, v in self.aliases.items() if v not in self.values}
        if wrong:
            raise ValueError(f"aliases for values not in the enumeration: {wrong}")


ADMIN_LEVEL = Enum(("province", "city", "district", "street", "community"), {
    "省": "province", "自治区": "province", "直辖市": "province", "市": "city", "地级市": "city", "区": "district",
    "县": "district", "区县": "district", "县级市": "district", "街道": "street", "乡": "street", "镇": "street",
    "乡镇": "street", "社区": "community", "村": "community"})
ROAD_KIND = Enum(("main", "secondary", "branch", "lane", "block"), {
    "主干道": "main", "主干路": "main", "次干道": "secondary", "次干路": "secondary", "支路": "branch", "巷": "lane",
    "小巷": "lane", "胡同": "lane", "街坊路": "block"})
PARITY = Enum(("odd", "even", "all"), {"单": "odd", "单号": "odd", "双": "even", "双号": "even", "全": "all"})
COURTYARD_KIND = Enum(("courtyard", "compound"), {"院落": "courtyard", "大院": "courtyard", "小区": "compound"})
HOUSE_PARENT = Enum(("road", "place", "courtyard"))
BUILDING_PARENT = Enum(("house_number", "road", "place", "organisation", "courtyard"))
CASE_KIND = Enum(("component", "event"), {"部件": "component", "部件类": "component", "事件": "event",
                                          "事件类": "event"})
# The workflow of GB/T 30428 (上报, 立案, 派遣, 处置, 核查, 结案); the queue a case waits in names the
# step it has passed, and 办结 / 撤销 are the words of 12345 hotline and 一网统管 exports.
CASE_STATUS = Enum(("reported", "registered", "dispatched", "handling", "handled", "verified", "closed",
                    "cancelled", "not_registered"), {
    "不予立案": "not_registered", "不立案": "not_registered", "未立案": "not_registered",
    "上报": "reported", "已上报": "reported", "受理": "reported", "立案": "registered", "已立案": "registered",
    "派遣": "dispatched", "已派遣": "dispatched", "处置": "handling", "处置中": "handling", "处理中": "handling",
    "已处置": "handled", "处置完成": "handled", "已处理": "handled", "核查": "verified", "已核查": "verified",
    "核查通过": "verified", "结案": "closed", "已结案": "closed", "作废": "cancelled", "已作废": "cancelled",
    "已受理": "reported", "待受理": "reported", "待立案": "reported", "待派遣": "registered",
    "待处置": "dispatched", "待核查": "handled", "待结案": "verified", "办结": "closed", "已办结": "closed",
    "撤销": "cancelled", "已撤销": "cancelled"})

# Heritage (heritage/, docs/heritage.md): 历史文化名城/名镇/名村, 历史文化街区, 历史建筑, 文物保护单位; the
# levels of a listing; the zones of a protection plan (保护规划) and what a zone says of new building.
SITE_KIND = Enum(("city", "town", "village", "historic_district", "historic_building", "listed_relic"), {
    "历史文化名城": "city", "名城": "city", "历史文化名镇": "town", "名镇": "town", "历史文化名村": "village",
    "名村": "village", "历史文化街区": "historic_district", "街区": "historic_district",
    "历史建筑": "historic_building", "文物保护单位": "listed_relic", "文保单位": "listed_relic"})
SITE_LEVEL = Enum(("national", "regional"), {"国家级": "national", "国家": "national", "自治区级": "regional",
                                             "省级": "regional", "自治区": "regional"})
ZONE_KIND = Enum(("core", "construction_control", "environmental_coordination"), {
    "核心保护范围": "core", "核心保护区": "core", "保护范围": "core", "建设控制地带": "construction_control",
    "建控地带": "construction_control", "环境协调区": "environmental_coordination",
    "环境协调区域": "environmental_coordination"})
NEW_CONSTRUCTION = Enum(("forbidden", "allowed"), {"禁止": "forbidden", "不允许": "forbidden", "允许": "allowed",
                                                    "可以": "allowed"})


# -- relations --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """``field`` of this layer must name an existing row of ``table`` (by ``column``)."""

    field: str
    table: str
    column: str
    where: str = ""  # extra condition on the target row t (SQL)
    what: str = ""  # how to call the target in a message
    when: str = ""  # condition on the staged row s for the check to apply (SQL: s.field = 'value')


@dataclass(frozen=True)
class Inside:
    """The geometry must lie in the area of ``table`` named by ``expr`` (an SQL expression on s)."""

    field: str
    expr: str
    table: str
    what: str
    lines: bool = False  # lines only have to touch the area


@dataclass(frozen=True)
class Derived:
    """A code a row may leave empty, taken from the area of ``table`` (rows meeting ``where``)
    covering the row's point on surface; the smallest code where areas overlap (a shared edge)."""

    table: str
    where: str = ""  # condition on the areas' rows, unqualified (SQL)


# -- fields and layers ------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """One field of a layer and its rules."""

    name: str
    kind: str = "text"  # text | int | time | list (``|``-separated in files, text[] in the database)
    required: bool = False
    code: Code | None = None  # the format a value must have
    enum: Enum | None = None  # the values it may take
    headings: tuple[str, ...] = ()  # Chinese column headings of 数字城管 exports read as this field
    padded: int | None = None  # a shorter all-digit value is zero-padded to this width (with a warning)
    from_code: bool = False  # read from the row's code when the file has no column for it
    sometimes_empty: bool = False  # required, but legitimately empty on some rows (rules elsewhere)
    derived: Derived | None = None  # left empty, taken from the area the row lies in
    note: str = ""  # what the documentation says of it beyond the above


@dataclass(frozen=True)
class Layer:
    """One layer of the contract: its table, key, fields, geometry and the rules between rows."""

    name: str
    key: str
    fields: tuple[Field, ...]
    geometry: str | None  # multipolygon | multilinestring | point | areal_or_point | any | None
    title_zh: str
    title_en: str
    description: str = ""
    short_zh: str = ""  # how data staff name the layer's files (案件2024年5月.csv); default title_zh
    table: str = ""
    computed: tuple[str, ...] = ()  # columns the database computes; never written by the loader
    internal: tuple[str, ...] = ()  # computed columns that are not published
    refs: tuple[Ref, ...] = ()
    inside: tuple[Inside, ...] = ()
    natural_key: tuple[str, ...] = ()  # the same thing under two ids is a duplicate
    optional_geometry: bool = False  # rows may come without geometry (outlines not public)

    def __post_init__(self) -> None:
        if not self.table:
            object.__setattr__(self, "table", self.name)
        if not self.short_zh:
            object.__setattr__(self, "short_zh", self.title_zh)

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def published(self) -> tuple[str, ...]:
        """The columns a collection of this layer publishes by default: its fields, then what the
        database computes (but its internal columns)."""
        return tuple(f.name for f in self.fields) + tuple(c for c in self.computed if c not in self.internal)


def _c(name: str) -> Code:
    return CODES[name]


_DISTRICT_REF = Ref("district_code", "admin_areas", "code", "", "admin area")
_WHERE = "t.level = '{}'"

# In load order: parents before children.
LAYERS: tuple[Layer, ...] = (
    Layer("admin_areas", "code", (
        Field("code", required=True, note="district 6 digits, street office 9, community 12; "
                                           "province NN0000, city NNNN00"),
        Field("name", required=True),
        Field("level", required=True, enum=ADMIN_LEVEL, from_code=True),
        Field("parent_code", required=True, from_code=True, sometimes_empty=True,
              note="a district's or city's may be absent; a street's and a community's are its code less 3 digits"),
        Field("aliases", "list"),
    ), "multipolygon", "行政区划", "Administrative divisions",
        "Province, city, districts (区), street offices (街道) and communities (社区) with their "
        "statistics-bureau codes.",
        natural_key=("level", "parent_code", "name"), optional_geometry=True),
    Layer("unit_grids", "code", (
        Field("code", required=True, code=_c("unit_grid"), headings=("单元网格编码", "网格编码", "网格代码")),
        Field("community_code", required=True, code=_c("community"), headings=("社区编码", "社区代码")),
    ), "multipolygon", "单元网格", "Unit grids",
        "Unit grids of about 10,000 m² (万米单元网格, GB/T 30428.1), coded community code + sequence.",
        refs=(Ref("community_code", "admin_areas", "code", _WHERE.format("community"), "community"),),
        inside=(Inside("community_code", "s.community_code", "admin_areas", "community"),)),
    Layer("responsibility_grids", "code", (
        Field("code", required=True, code=_c("responsibility_grid")),
        Field("name", required=True),
        Field("district_code", code=_c("district")),
    ), "multipolygon", "责任网格", "Responsibility grids",
        "Responsibility grids binding supervisors (监督员) to areas.",
        refs=(_DISTRICT_REF,), inside=(Inside("district_code", "s.district_code", "admin_areas", "district"),)),
    Layer("supervisors", "id", (
        Field("id", required=True),
        Field("name", required=True),
        Field("grid_codes", "list", required=True, note="responsibility grid codes"),
    ), None, "监督员", "Supervisors", "City-management supervisors (监督员) and their responsibility grids."),
    Layer("roads", "id", (
        Field("id", required=True),
        Field("name", required=True),
        Field("aliases", "list"),
        Field("historic_names", "list"),
        Field("kind", enum=ROAD_KIND),
        Field("district_code", code=_c("district")),
        Field("left_from", "int"),
        Field("left_to", "int"),
        Field("right_from", "int"),
        Field("right_to", "int"),
        Field("left_parity", enum=PARITY),
        Field("right_parity", enum=PARITY),
    ), "multilinestring", "道路", "Roads",
        "Roads and lanes with their house-number ranges per side (line-point model).",
        refs=(_DISTRICT_REF,),
        inside=(Inside("district_code", "s.district_code", "admin_areas", "district", lines=True),)),
    Layer("place_names", "id", (
        Field("id", required=True),
        Field("name", required=True),
        Field("aliases", "list"),
        Field("historic_names", "list"),
        Field("kind", note="e.g. area, market, bridge, village"),
        Field("district_code", code=_c("district")),
    ), "areal_or_point", "地名", "Place names", "Place names with aliases and historic names.",
        refs=(_DISTRICT_REF,), inside=(Inside("district_code", "s.district_code", "admin_areas", "district"),)),
    Layer("courtyards", "id", (
        Field("id", required=True),
        Field("name", required=True),
        Field("kind", enum=COURTYARD_KIND),
        Field("street_code", code=_c("street")),
        Field("community_code", code=_c("community")),
        Field("aliases", "list"),
    ), "areal_or_point", "院落小区", "Courtyards and compounds", "Courtyards (院落) and residential compounds (小区).",
        short_zh="院落",
        refs=(Ref("street_code", "admin_areas", "code", _WHERE.format("street"), "street office"),
              Ref("community_code", "admin_areas", "code", _WHERE.format("community"), "community")),
        inside=(Inside("community_code", "s.community_code", "admin_areas", "community"),
                Inside("street_code", "s.street_code", "admin_areas", "street office"))),
    Layer("house_numbers", "id", (
        Field("id", required=True),
        Field("parent_kind", required=True, enum=HOUSE_PARENT),
        Field("parent_id", required=True),
        Field("number", required=True, note="as written: 12, 12-1, 12附3"),
    ), "point", "门牌号", "House numbers", "Door addresses under a road, a place or a courtyard.", short_zh="门牌",
        computed=("num",), internal=("num",),
        refs=(Ref("parent_id", "roads", "id", "", "road", "s.parent_kind = 'road'"),
              Ref("parent_id", "place_names", "id", "", "place", "s.parent_kind = 'place'"),
              Ref("parent_id", "courtyards", "id", "", "courtyard", "s.parent_kind = 'courtyard'")),
        natural_key=("parent_kind", "parent_id", "number")),
    Layer("organisations", "id", (
        Field("id", required=True),
        Field("name", required=True),
        Field("aliases", "list"),
        Field("kind", note="school, hospital, government, ..."),
        Field("road_id"),
        Field("house_number"),
    ), "areal_or_point", "单位", "Organisations", "Schools, hospitals, government offices, companies.",
        refs=(Ref("road_id", "roads", "id", "", "road"),)),
    Layer("buildings", "id", (
        Field("id", required=True),
        Field("parent_kind", required=True, enum=BUILDING_PARENT),
        Field("parent_id", required=True),
        Field("number", required=True, note="楼牌号 as written: 3号楼, 3栋, A座"),
    ), "areal_or_point", "楼牌号", "Buildings",
        "Buildings (楼牌号) under a house number, road, place, organisation or courtyard.", short_zh="楼牌",
        refs=(Ref("parent_id", "house_numbers", "id", "", "house number", "s.parent_kind = 'house_number'"),
              Ref("parent_id", "roads", "id", "", "road", "s.parent_kind = 'road'"),
              Ref("parent_id", "place_names", "id", "", "place", "s.parent_kind = 'place'"),
              Ref("parent_id", "organisations", "id", "", "organisation", "s.parent_kind = 'organisation'"),
              Ref("parent_id", "courtyards", "id", "", "courtyard", "s.parent_kind = 'courtyard'")),
        natural_key=("parent_kind", "parent_id", "number")),
    Layer("storefronts", "id", (
        Field("id", required=True),
        Field("name", required=True),
        Field("road_id", required=True),
        Field("house_number"),
        Field("category"),
    ), "point", "沿街铺面", "Storefronts", "Storefronts along roads.", short_zh="门店",
        refs=(Ref("road_id", "roads", "id", "", "road"),)),
    Layer("components", "code", (
        Field("code", required=True, code=_c("component"), headings=("部件编码", "部件标识码", "标识码", "编码")),
        Field("name", required=True, headings=("部件名称", "名称")),
        Field("status", headings=("部件状态", "状态")),
        Field("owner_dept", headings=("主管部门", "权属单位", "养护单位")),
        Field("grid_code", code=_c("unit_grid"), headings=("单元网格编码", "单元网格", "网格编码", "所在网格"),
              derived=Derived("unit_grids")),
    ), "any", "部件", "City components",
        "City components (GB/T 30428.2), 16-digit codes of district, major class, minor class and serial.",
        computed=("district_code", "major_class", "minor_class"),
        refs=(Ref("grid_code", "unit_grids", "code", "", "unit grid"),),
        inside=(Inside("code", "left(s.code, 6)", "admin_areas", "district (first 6 digits of the code)"),
                Inside("grid_code", "s.grid_code", "unit_grids", "unit grid"))),
    Layer("cases", "case_no", (
        Field("case_no", required=True, code=_c("case_no"), headings=("案件编号", "案卷编号", "案件号", "任务号")),
        Field("kind", required=True, enum=CASE_KIND, headings=("案件类型", "案件类别", "问题类型", "类型")),
        Field("major_class", required=True, code=_c("major_class"), padded=2,
              headings=("大类编码", "大类代码", "大类", "大类名称", "问题大类"),
              note="or the class dictionary's name of it (市容环境): layers/classes.csv"),
        Field("minor_class", required=True, code=_c("minor_class"), padded=2,
              headings=("小类编码", "小类代码", "小类", "小类名称", "问题小类"),
              note="or the class dictionary's name of it (暴露垃圾)"),
        Field("component_code", code=_c("component_ref"), headings=("部件编码", "部件标识码")),
        Field("status", required=True, enum=CASE_STATUS,
              headings=("案件状态", "状态", "当前状态", "处置状态", "办理状态")),
        Field("source", headings=("案件来源", "来源")),
        Field("description", headings=("问题描述", "案件描述", "描述")),
        Field("address", headings=("事发地址", "地址", "位置描述", "发生地址", "案发地址", "问题地址", "详细地址")),
        Field("supervisor_id", headings=("监督员编号", "监督员")),
        Field("grid_code", code=_c("unit_grid"), headings=("单元网格编码", "单元网格", "网格编码"),
              derived=Derived("unit_grids")),
        Field("district_code", code=_c("district"), headings=("区县编码", "区县代码", "行政区划代码"),
              derived=Derived("admin_areas", "level = 'district'")),
        Field("responsibility_grid", code=_c("responsibility_grid"), headings=("责任网格编码", "责任网格"),
              derived=Derived("responsibility_grids")),
        Field("reported_at", "time", required=True, headings=("上报时间", "发现时间", "受理时间")),
        Field("closed_at", "time", headings=("结案时间",)),
    ), "point", "案件", "Cases", "Component and event cases (案件) through their workflow.",
        refs=(Ref("component_code", "components", "code", "", "component"),
              Ref("supervisor_id", "supervisors", "id", "", "supervisor"),
              Ref("grid_code", "unit_grids", "code", "", "unit grid"),
              _DISTRICT_REF,
              Ref("responsibility_grid", "responsibility_grids", "code", "", "responsibility grid")),
        inside=(Inside("grid_code", "s.grid_code", "unit_grids", "unit grid"),
                Inside("district_code", "s.district_code", "admin_areas", "district"),
                Inside("responsibility_grid", "s.responsibility_grid", "responsibility_grids",
                       "responsibility grid"))),
    Layer("patrol_points", "id", (
        Field("id", required=True),
        Field("name", required=True),
        Field("grid_code", required=True, code=_c("responsibility_grid"), headings=("责任网格编码", "责任网格")),
    ), "point", "巡更点", "Patrol points",
        "Patrol points (巡更点) where supervisors check in on their rounds, each in its responsibility grid.",
        refs=(Ref("grid_code", "responsibility_grids", "code", "", "responsibility grid"),),
        inside=(Inside("grid_code", "s.grid_code", "responsibility_grids", "responsibility grid"),)),
    Layer("heritage_sites", "id", (
        Field("id", required=True),
        Field("name", required=True, headings=("名称", "保护对象名称")),
        Field("kind", required=True, enum=SITE_KIND, headings=("类型", "保护对象类型")),
        Field("level", required=True, enum=SITE_LEVEL, headings=("级别", "公布级别")),
        Field("district_code", code=_c("district"), headings=("区县编码", "行政区划代码"),
              note="the county (区县) the site lies in; a site may lie outside the loaded admin areas"),
        Field("provenance", required=True, headings=("来源", "数据来源"),
              note="where the outline comes from; sample data says `synthetic`"),
    ), "multipolygon", "历史文化保护对象", "Heritage sites",
        "Historic cities, towns, villages and districts, historic buildings and listed relics, national or "
        "regional, each with its outline.", short_zh="保护对象"),
    Layer("protection_zones", "id", (
        Field("id", required=True),
        Field("site_id", required=True, headings=("保护对象编号",)),
        Field("name", required=True, headings=("名称",)),
        Field("zone_kind", required=True, enum=ZONE_KIND, headings=("区划类型", "保护区划")),
        Field("new_construction", enum=NEW_CONSTRUCTION, headings=("新建",),
              note="empty: forbidden in a core protection area, allowed elsewhere"),
        Field("max_height_m", "int", headings=("限高", "建筑限高")),
        Field("max_footprint_change", "int", headings=("占地变化上限",),
              note="per cent of a building's footprint it may change by"),
        Field("provenance", required=True, headings=("来源", "数据来源")),
    ), "multipolygon", "保护区划", "Protection zones",
        "Core protection areas, construction-control zones and environmental-coordination zones of a site, "
        "with their rules.",
        refs=(Ref("site_id", "heritage_sites", "id", "", "heritage site"),)),
    Layer("historic_streets", "id", (
        Field("id", required=True),
        Field("site_id", required=True, headings=("保护对象编号",)),
        Field("name", required=True, headings=("名称", "街巷名称")),
        Field("provenance", required=True, headings=("来源", "数据来源")),
    ), "multilinestring", "历史街巷", "Historic streets", "Historic streets and lanes of a site.",
        refs=(Ref("site_id", "heritage_sites", "id", "", "heritage site"),)),
)

BY_NAME: dict[str, Layer] = {layer.name: layer for layer in LAYERS}
BY_TABLE: dict[str, Layer] = {layer.table: layer for layer in LAYERS}
# Each layer's Chinese name, as data staff name their files and exports (案件2024年5月.csv)
TITLE_ZH: dict[str, str] = {layer.name: layer.short_zh for layer in LAYERS}


def field_checks(layers: tuple[Layer, ...] = LAYERS) -> dict[tuple[str, str], str]:
    """(table, constraint name) -> CHECK expression, for every field with a code format or an
    enumeration: what layers/migrate.py keeps the database's constraints equal to."""
    out = {}
    for layer in layers:
        for f in layer.fields:
            if f.name in layer.computed or f.kind != "text":
                continue
            if f.code is not None:
                expr = f.code.sql(f.name)
            elif f.enum is not None:
                expr = f"{f.name} IN ({', '.join(_literal(v) for v in f.enum.values)})"
            else:
                continue
            out[(layer.table, f"{layer.table}_{f.name}_check")] = expr
    return out


def _literal(value: str) -> str:
    """An SQL string literal."""
    return "'" + value.replace("'", "''") + "'"
