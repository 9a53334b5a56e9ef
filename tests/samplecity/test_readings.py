"""The evaluation set's unambiguity rule (samplecity.readings) on a small gazetteer built by hand:
the kinds of query that made the geocoder's noisy scores a coin toss are told apart from the
ones with a single reading."""
from __future__ import annotations

from types import SimpleNamespace

from shapely.geometry import LineString

from urbangis.samplecity.places import Place
from urbangis.samplecity.readings import Feature, NameIndex, ambiguity
from urbangis.samplecity.roads import Road
from urbangis.samplecity.skeleton import Area, Skeleton

TIANSHAN, SAYBAG = "650102", "650103"


def _road(rid: str, name: str, district: str, top: int, aliases=(), historic=()) -> Road:
    return Road(rid, name, "branch", district, LineString([(0, 0), (100, 0)]), list(aliases), list(historic),
                1, top, 2, top + 1, "odd", "even")


def _city():
    ts = Area(TIANSHAN, "天山区", "district", "650100")
    sy = Area(SAYBAG, "沙依巴克区", "district", "650100")
    street = Area(TIANSHAN + "001", "燕儿窝街道", "street", TIANSHAN)
    ts.children.append(street)
    sk = Skeleton(Area("650000", "新疆维吾尔自治区", "province", None), Area("650100", "乌鲁木齐市", "city", "650000"),
                  [ts, sy])
    roads = [
        _road("R1", "惠民路", TIANSHAN, 31), _road("R2", "惠民街", SAYBAG, 31),  # both hold No. 11
        _road("R3", "长寿路", TIANSHAN, 31), _road("R4", "长寿街", SAYBAG, 5),  # only 长寿路 holds No. 11
        _road("R5", "海南西街", TIANSHAN, 31), _road("R6", "海南东街", TIANSHAN, 31), _road("R7", "黄河路", SAYBAG, 31),
        _road("R8", "河滩北路", TIANSHAN, 31, aliases=["河滩快速路"]),
        _road("R9", "河滩路", SAYBAG, 31, aliases=["河滩快速路"], historic=["黄河街"]),
        _road("R10", "北梁路", TIANSHAN, 31),
    ]
    places = [Place("P1", "明园", "area", SAYBAG, None), Place("P2", "北梁公园", "park", TIANSHAN, None)]
    return SimpleNamespace(skeleton=sk, roads=roads, places=places, organisations=[], courtyards=[])


def _seg(kind, text, obj=None, how=None, clean=None):
    return SimpleNamespace(kind=kind, text=text, obj=obj, how=how, clean=text if clean is None else clean)


def _road_query(city, rid: str, text: str, number: str, how=None, prefix=None):
    rd = next(r for r in city.roads if r.id == rid)
    segs = [_seg("road", text, rd, how, rd.name), _seg("num", number), _seg("hao", "号")]
    return ([_seg("prefix", prefix)] if prefix else []) + segs


def test_missing_suffix_needs_one_road_holding_the_number():
    city = _city()
    ix = NameIndex(city)
    # 惠民 + 11: 惠民路 and 惠民街 both hold 11, nothing in the query tells them apart
    why = ambiguity(ix, _road_query(city, "R2", "惠民", "11", "missing_suffix"))
    assert why and why[0] == "missing_suffix"
    # a district prefix does: only 惠民街 is in 沙依巴克区
    assert ambiguity(ix, _road_query(city, "R2", "惠民", "11", "missing_suffix", prefix="乌鲁木齐市沙依巴克区")) is None
    # a prefix without the district does not
    assert ambiguity(ix, _road_query(city, "R2", "惠民", "11", "missing_suffix", prefix="乌鲁木齐市")) is not None
    # 长寿 + 11: 长寿街 stops at No. 5, so only 长寿路 holds 11
    assert ambiguity(ix, _road_query(city, "R3", "长寿", "11", "missing_suffix")) is None
    assert ambiguity(ix, _road_query(city, "R3", "长寿", "3", "missing_suffix")) is not None


def test_typo_must_be_one_edit_from_one_name_only():
    city = _city()
    ix = NameIndex(city)
    assert ix.near("海南民街", None) == {Feature("roads", "R5", TIANSHAN), Feature("roads", "R6", TIANSHAN)}
    why = ambiguity(ix, _road_query(city, "R5", "海南民街", "8", "typo"))
    assert why and why[0] == "typo"
    assert ambiguity(ix, _road_query(city, "R5", "海华西街", "8", "typo")) is None  # only 海南西街 is one edit away
    assert ambiguity(ix, _road_query(city, "R5", "海南东街", "8", "typo"))[1].endswith("is itself a name")
    # a typo that writes another name into the query: 北梁公园 -> 北梁明园 (明园 is a place)
    park = city.places[1]
    assert "明园" in ambiguity(ix, [_seg("place", "北梁明园", park, "typo", park.name)])[1]
    assert ambiguity(ix, [_seg("place", "北梁公圆", park, "typo", park.name)]) is None


def test_aliases_and_historic_names_shared_by_several_features():
    city = _city()
    ix = NameIndex(city)
    # 河滩快速路 is an alias of a road in each district: the city-wide query has two readings
    assert ambiguity(ix, _road_query(city, "R9", "河滩快速路", "3", "alias")) is not None
    assert ambiguity(ix, _road_query(city, "R9", "河滩快速路", "3", "alias", prefix="沙依巴克区")) is None
    # 黄河街 (historic name of 河滩路 here) is one edit from 黄河路 but spelt by one feature only
    assert ambiguity(ix, _road_query(city, "R9", "黄河街", "3", "historic")) is None


def test_names_as_written_need_their_district_when_repeated():
    city = _city()
    city.roads.append(_road("R11", "北梁路", SAYBAG, 31))
    ix = NameIndex(city)
    assert ambiguity(ix, _road_query(city, "R10", "北梁路", "3")) is not None
    district = city.skeleton.districts[0]
    assert ambiguity(ix, [_seg("district", "天山区", district)] + _road_query(city, "R10", "北梁路", "3")) is None
