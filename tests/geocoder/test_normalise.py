"""Normalisation: width, punctuation, numerals (names protected), variant spellings."""
from __future__ import annotations

import pytest

from urbangis.geocoder.normalise import building_key, cn_to_int, digits_variant, normalise, number_key, road_stem


@pytest.mark.parametrize("text,expected", [
    ("一百二十三号", "123号"),
    ("十二号", "12号"),
    ("二十号", "20号"),
    ("两百号", "200号"),
    ("一〇一室", "101室"),
    ("１２３号", "123号"),
    ("ＡＢ路", "AB路"),
    ("解放南路 12 号，3 号楼", "解放南路12号3栋"),
    ("3号幢", "3栋"),
    ("3#楼", "3栋"),
    ("A座", "A栋"),
    ("12号院", "12号"),
    ("12之1号", "12-1号"),
    ("12附三号", "12附3号"),
    ("501房", "501室"),
    ("解放南路12號", "解放南路12号"),
    ("解放南路12号附近", "解放南路12号"),
    ("中国新疆", "新疆"),
    ("a\tb\x00c", "ABC"),
    # codes as people write them: separators, labels, full-width digits, a number sign
    ("650102-009-005-002", "650102009005002"),
    ("6501 0201 0200 0145", "6501020102000145"),
    ("单元网格编码：650102009005002", "650102009005002"),
    ("部件编码:6501-02-01-02-000145", "6501020102000145"),
    ("６５０１０２００９００５００２", "650102009005002"),
    ("网格代码 650102—009—005—002", "650102009005002"),
    ("单元网格650102009005002号", "650102009005002"),
    ("6501.0201.0200.0145", "6501020102000145"),
    # ... and what is not a code stays as it was
    ("解放南路12-3号", "解放南路12-3号"),
    ("12-345-6789", "12-345-6789"),
    ("编码12345", "编码12345"),
])
def test_normalise(text, expected):
    assert normalise(text) == expected


@pytest.mark.parametrize("name", ["二道桥", "大小十字", "八楼", "七道湾", "三屯碑"])
def test_numerals_in_names_stay(name):
    assert normalise(name + "5号") == name + "5号"


def test_dictionary_protects_names_that_look_like_numbers():
    # a place called 三号院 (numeral + number unit) stays as written when the dictionary knows it
    def protect(text, s, e):
        return text.startswith("三号院") and s < 3

    assert normalise("三号院5号", protect) == "三号院5号"
    assert normalise("三号院5号") == "3号5号"


@pytest.mark.parametrize("text,value", [("一百二十三", 123), ("十", 10), ("十五", 15), ("一二三", 123),
                                        ("三千零五", 3005)])
def test_cn_to_int(text, value):
    assert cn_to_int(text) == value


def test_keys():
    assert number_key("12号") == "12" and number_key("十二号") == "12" and number_key("12-1") == "12-1"
    assert {building_key(b) for b in ("3号楼", "3栋", "3幢", "三号楼", "3座", "3")} == {"3"}
    assert building_key("A座") == "A"
    assert digits_variant("第一中学") == "第1中学"
    assert road_stem("解放南路") == ("解放南", "路")
    assert road_stem("友好大街") == ("友好", "大街")
    assert road_stem("路") is None
