"""Every combination model answers with the right feature, on the hand-made gazetteer."""
from __future__ import annotations

import pytest

from urbangis.geocoder.models import MODELS, load_models
from urbangis.geocoder.rank import standard_address

from .gazetteer import ROAD_Y

# (model, query, layer, id)
CASES = [
    (1, "胜利路街道解放南路", "roads", "R1"),
    (2, "解放南路街道新华社区解放南路", "roads", "R1"),
    (3, "解放南路12号", "house_numbers", "H1"),
    (4, "解放南路12号3号楼", "buildings", "B1"),
    (5, "解放南路7栋", "buildings", "B2"),
    (6, "人民路天山拉面馆", "storefronts", "S1"),
    (7, "二道桥", "place_names", "P1"),
    (8, "二道桥5号", "house_numbers", "H6"),
    (9, "二道桥5号2号楼", "buildings", "B3"),
    (10, "二道桥A座", "buildings", "B4"),
    (11, "大小十字解放南路30号", "house_numbers", "H8"),
    (12, "乌鲁木齐市第一中学", "organisations", "O1"),
    (13, "乌鲁木齐市第一中学1号楼", "buildings", "B5"),
    (14, "胜利路街道胜利小区", "courtyards", "C1"),
    (15, "胜利路街道三甬碑社区胜利小区", "courtyards", "C1"),
    (16, "胜利小区3号", "house_numbers", "H7"),
    (17, "650102003001001", "unit_grids", "650102003001001"),
    (18, "6501020101000001", "components", "6501020101000001"),
]


def test_the_table_declares_18_models():
    assert [m.number for m in MODELS] == list(range(1, 19))
    assert all(m.parts and m.search for m in MODELS)


@pytest.mark.parametrize("model,query,layer,fid", CASES, ids=[f"m{c[0]}" for c in CASES])
def test_model(geocoder, model, query, layer, fid):
    ans = geocoder.geocode(query)
    best = ans.candidates[0]
    assert (best.model, best.layer, best.id) == (model, layer, fid), [(c.model, c.layer, c.id) for c in ans.candidates]
    assert 0.0 < best.score <= 1.0


def test_model_1_point_lies_on_the_road_inside_the_street(geocoder, index):
    best = geocoder.geocode("胜利路街道解放南路").candidates[0]
    lon, lat = index.plane.inv(best.x, best.y)
    assert 87.60 <= lon <= 87.63 and lat == pytest.approx(ROAD_Y, abs=1e-6)
    best = geocoder.geocode("解放南路街道解放南路").candidates[0]
    lon, _ = index.plane.inv(best.x, best.y)
    assert 87.63 <= lon <= 87.66
    assert [a["code"] for a in best.chain][-2:] == ["650102005", "650102005001"]


def test_model_14_and_15_tell_same_named_courtyards_apart_by_street(geocoder):
    assert geocoder.geocode("解放南路街道胜利小区").candidates[0].id == "C2"
    assert geocoder.geocode("胜利路街道胜利小区").candidates[0].id == "C1"
    assert geocoder.geocode("解放南路街道新华社区胜利小区").candidates[0].id == "C2"


def test_model_17_accepts_the_legacy_14_digit_grid_code(geocoder):
    best = geocoder.geocode("65010200300203").candidates[0]
    assert (best.model, best.id, best.level) == (17, "65010200300203", "grid")


@pytest.mark.parametrize("query", ["650102-003-001-001", "单元网格编码：650102003001001", "6501 0200 3001 001",
                                   "单元网格６５０１０２００３００１００１号"])
def test_model_17_reads_a_grid_code_however_it_is_written(geocoder, query):
    best = geocoder.geocode(query).candidates[0]
    assert (best.model, best.id, best.level, best.score) == (17, "650102003001001", "grid", 1.0)


@pytest.mark.parametrize("query", ["6501-02-02-01-000007", "部件编码:6501020201000007", "6501 0202 0100 0007"])
def test_model_18_reads_a_component_code_however_it_is_written(geocoder, query):
    assert geocoder.geocode(query).candidates[0].id == "6501020201000007"


def test_model_18_line_component(geocoder, index):
    best = geocoder.geocode("6501020201000007").candidates[0]
    lon, lat = index.plane.inv(best.x, best.y)
    assert 87.6200 <= lon <= 87.6210 and lat == pytest.approx(43.7950, abs=1e-6)


def test_answer_carries_chain_grids_and_standard_address(geocoder):
    best = geocoder.geocode("解放南路12号3号楼").candidates[0]
    assert [a["level"] for a in best.chain] == ["province", "city", "district", "street", "community"]
    assert best.unit_grid == "650102003001001"
    assert best.resp_grid == "TS-001"
    assert standard_address(best) == "天山区胜利路街道三甬碑社区居委会解放南路12号3号楼"


def test_a_city_adds_a_model_by_configuration(tmp_path, index):
    from urbangis.geocoder.engine import Geocoder

    cfg = tmp_path / "models.yaml"
    cfg.write_text("- {number: 19, name: 院落+楼牌号, parts: [courtyard, building], search: building}\n",
                   encoding="utf-8")
    models = load_models(cfg)
    assert [m.number for m in models][-1] == 19
    # without the model, 胜利小区 + a building number is answered by the courtyard itself ...
    plain = Geocoder(index, MODELS).geocode("胜利小区2号楼").candidates[0]
    assert (plain.model, plain.id) == (14, "C1") and plain.score < 1
    # ... with it, by the building
    best = Geocoder(index, models).geocode("胜利小区2号楼").candidates[0]
    assert (best.model, best.layer, best.id, best.score) == (19, "buildings", "B6", 1.0)


def test_bad_model_configuration_says_what_is_wrong(tmp_path):
    cfg = tmp_path / "models.json"
    cfg.write_text('[{"number": 20, "parts": ["river"], "search": "house"}]')
    with pytest.raises(ValueError, match="unknown parts"):
        load_models(cfg)
    cfg.write_text('[{"number": 20, "parts": ["road"], "search": "teleport"}]')
    with pytest.raises(ValueError, match="unknown search"):
        load_models(cfg)


def test_a_name_found_with_a_road_word_left_over_is_not_exact(geocoder):
    exact = geocoder.geocode("红山").candidates[0]
    loose = geocoder.geocode("红山路").candidates[0]  # no road 红山路
    assert exact.level == "exact" and (loose.id, loose.level) == (exact.id, "approximate")
    assert loose.score < 0.8 < exact.score


@pytest.mark.parametrize("query,branch", [
    ("中国银行沙依巴克支行", "O3"),  # the name as it is: 中国 is the brand's, not the country
    ("中国银行天山支行", "O2"),
    ("中国银行沙依巴克区支行", "O3"),  # the district written whole
    ("中国银行沙依巴克分行", "O3"),  # the wrong branch word
    ("沙依巴克区中国银行", "O3"),  # an area and the brand
    ("新疆乌鲁木齐市中国银行新华分理处", "O4"),
])
def test_the_branch_the_query_names_wins(geocoder, query, branch):
    assert geocoder.geocode(query).candidates[0].id == branch


def test_a_bare_brand_gives_its_branches_at_lower_confidence(geocoder):
    got = geocoder.geocode("中国银行").candidates
    assert {c.id for c in got} == {"O2", "O3", "O4"} and len({round(c.score, 6) for c in got}) == 1
    assert got[0].score <= 0.75
    # the country before an address is still dropped
    assert geocoder.geocode("中国新疆乌鲁木齐市天山区解放南路12号").candidates[0].id == "H1"
