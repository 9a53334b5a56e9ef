"""Prefixes narrow and never fail; aliases, historic names, typos, missing characters, variants."""
from __future__ import annotations

import pytest

# (query, expected feature id, note)
CASES = [
    ("新疆维吾尔自治区乌鲁木齐市天山区解放南路12号", "H1", "full admin prefix"),
    ("乌市天山区胜利路街道三甬碑社区解放南路12号", "H1", "city alias + full chain"),
    ("水磨沟区解放南路12号", "H1", "a wrong district narrows nothing and fails nothing"),
    ("解放路南段12号", "H1", "road alias"),
    ("南门大街12号", "H1", "road historic name"),
    ("二道桥市场5号", "H6", "place alias"),
    ("二道桥子", "P1", "place historic name"),
    ("幸福大院", "C3", "courtyard alias"),
    ("一中1号楼", "B5", "organisation alias"),
    ("解放南陆12号", "H1", "one character wrong"),
    ("解放南12号", "H1", "road-type suffix missing"),
    ("解放南路12", "H1", "号 missing"),
    ("二道5号", "H6", "one character missing in a place"),
    ("二道乔5号", "H6", "typo in a place"),
    ("乌鲁木齐第一中学", "O1", "one character missing in an organisation"),
    ("河坝胡同7号", "H10", "road-type suffix swapped"),
    ("解放南路１２号３号楼", "B1", "full-width digits"),
    ("解放南路十二号三号楼", "B1", "Chinese numerals"),
    ("解放南路12号3栋", "B1", "栋 for 号楼"),
    ("解放南路12号3幢", "B1", "幢 for 号楼"),
    ("解放南路12号3#楼", "B1", "# for 号"),
    ("解放南路 12 号，3 号楼", "B1", "spaces and punctuation"),
    ("解放南路12號", "H1", "traditional 號"),
    ("解放南路12号3号楼2单元501室", "B1", "unit and room are kept out of the match"),
    ("解放南路12号院", "H1", "号院"),
    ("解放南路12之1号", "H3", "之 for -"),
    ("中国新疆乌鲁木齐市解放南路12号附近", "H1", "country prefix and 附近"),
]


@pytest.mark.parametrize("query,fid,note", CASES, ids=[c[2] for c in CASES])
def test_tolerant_match(geocoder, query, fid, note):
    cands = geocoder.geocode(query).candidates
    assert cands and cands[0].id == fid, (note, [(c.id, c.score) for c in cands])


def test_tolerant_matches_cost_confidence(geocoder):
    exact = geocoder.geocode("解放南路12号").candidates[0].score
    assert geocoder.geocode("解放南陆12号").candidates[0].score < exact
    assert geocoder.geocode("解放南12号").candidates[0].score < exact


def test_district_prefix_picks_between_same_named_roads(geocoder):
    west = geocoder.geocode("沙依巴克区人民路8号").candidates
    east = geocoder.geocode("天山区人民路8号").candidates
    assert west[0].id == "H5" and east[0].id == "H4"
    # both answers stay available as other candidates, ranked lower
    assert {c.id for c in west} == {"H4", "H5"}
    assert west[1].score < west[0].score


def test_place_road_house_prefers_the_number_near_the_place(geocoder):
    cands = geocoder.geocode("大小十字解放南路30号").candidates
    assert cands[0].id == "H8" and cands[0].score > cands[1].score


def test_nonsense_finds_nothing(geocoder):
    assert geocoder.geocode("'; DROP TABLE roads; --").candidates == []
    assert geocoder.geocode("qwertyuiop").candidates == []


def test_admin_only_query_answers_with_the_area(geocoder):
    best = geocoder.geocode("天山区").candidates[0]
    assert (best.level, best.layer, best.id, best.model) == ("area", "admin_areas", "650102", None)


def test_the_answer_says_how_the_query_was_read(geocoder):
    best = geocoder.geocode("新疆乌鲁木齐市天山区胜利路街道三甬碑社区解放南路十二号三号楼二单元501室").candidates[0]
    assert best.reading == {"province": "新疆", "city": "乌鲁木齐市", "district": "天山区", "street": "胜利路街道",
                            "community": "三甬碑社区", "road": "解放南路", "house": "12", "building": "3",
                            "extras": ["2单元", "501室"]}
    assert geocoder.geocode("6501020101000001").candidates[0].reading == {"component": "6501020101000001"}


@pytest.mark.parametrize("query,fid", [
    ("乌鲁木齐市乌鲁木齐市天山区解放南路12号", "H1"),  # a prefix pasted twice
    ("解放南路与人民路交叉口12号", None),  # two roads: the first is read, the second costs
])
def test_repeated_parts_do_not_empty_the_answer(geocoder, query, fid):
    cands = geocoder.geocode(query).candidates
    assert cands
    if fid:
        assert cands[0].id == fid and cands[0].score == 1.0
    else:
        assert cands[0].score < 1.0
