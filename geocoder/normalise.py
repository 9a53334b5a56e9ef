"""Stage 1, clean the text: width, punctuation, number words and variant spellings.

The normaliser never guesses names: a run of Chinese numerals becomes digits only where it is a
number (it is followed by a number unit such as 号/栋/单元/室, or follows 附/-) and no gazetteer
name covers it (二道桥, 大小十字, 八楼 stay as written). The dictionary passes a ``protect``
callable for that check.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Callable

from urbangis.layers.contract import CODES

# Control characters, whitespace and punctuation that never carry meaning in an address.
_DROP = re.compile(
    r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202f\ufeff"
    r",.;:!?'\"`~@$%^&*_+=|\\/<>()\[\]{}"
    r"、，。；：！？“”‘’「」『』（）【】《》〈〉…·・—–]+"
)
_TRAD = str.maketrans({"號": "号", "棟": "栋", "樓": "楼", "單": "单", "區": "区", "門": "门", "條": "条"})

# Chinese numerals. 两 and 〇 appear in spoken numbers ("两百", "一〇一").
_CN_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNIT = {"十": 10, "百": 100, "千": 1000}
_CN_RUN = re.compile(r"[零〇一二两三四五六七八九十百千]+")
# A numeral run is a number when a number unit follows it, or when it follows 附 / - (12附三).
_NUMBER_AFTER = re.compile(r"(?:号|栋|单元|室|层|附|-|之|幢|座|号楼|号院)")
_NUMBER_BEFORE = ("附", "-", "之")

# Variant spellings of house, building, unit and room numbers.
_BUILDING = re.compile(r"(?<=[0-9A-Z])(?:号楼|号幢|号栋|号座|栋|幢|座|#楼|#)(?!院)")
_HOUSE_VARIANTS = re.compile(r"(?<=[0-9])(?:号院|号)")
_NUM_JOIN = re.compile(r"(?<=[0-9])(?:之|—|–|－|~)(?=[0-9])")
_ROOM = re.compile(r"(?<=[0-9])(?:房|户)(?![0-9])")
_TRAILING_NOISE = re.compile(r"(?:附近|旁边|对面|门口|一带|周边)$")
_LEADING_COUNTRY = re.compile(r"^(?:中华人民共和国|中国)")

# Road-type suffixes, longest first; a road called X路 is also found as X街, X大街 ... (penalised).
ROAD_SUFFIXES = ("大街", "大道", "胡同", "路", "街", "巷", "道")
LANE_SUFFIXES = frozenset({"胡同", "巷"})  # a lane is not a road: 东风巷 is not 东风大道 with its suffix swapped


def cn_to_int(text: str) -> int | None:
    """Value of a Chinese numeral run: 一百二十三 -> 123, 一二三 / 一〇一 -> digit by digit."""
    if not text:
        return None
    if all(ch in _CN_DIGIT for ch in text):
        if len(text) == 1:
            return _CN_DIGIT[text]
        return int("".join(str(_CN_DIGIT[ch]) for ch in text))
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGIT:
            current = _CN_DIGIT[ch]
        elif ch in _CN_UNIT:
            unit = _CN_UNIT[ch]
            total += (current or 1) * unit
            current = 0
        else:
            return None
    return total + current


def basic(text: str) -> str:
    """Width, case and punctuation: the part of normalisation that needs no dictionary."""
    text = unicodedata.normalize("NFKC", text).translate(_TRAD).upper()
    # "#" is kept here: right after a number it is a number sign ("3#楼"), see unify_variants.
    text = _DROP.sub("", text)
    return _NUM_JOIN.sub("-", text)


def name_key(name: str) -> str:
    """The dictionary key of a gazetteer name (no numeral conversion: names keep their words)."""
    return _DROP.sub("", unicodedata.normalize("NFKC", name).translate(_TRAD).upper().replace("#", ""))


def digits_variant(key: str) -> str:
    """A name key with every numeral run turned into digits (第一中学 -> 第1中学)."""

    def repl(m: re.Match) -> str:
        value = cn_to_int(m.group(0))
        return m.group(0) if value is None else str(value)

    return _CN_RUN.sub(repl, key)


def convert_numerals(text: str, protect: Callable[[str, int, int], bool] | None = None) -> str:
    """Turn Chinese numerals that are numbers into digits, sparing runs inside gazetteer names."""
    if not _CN_RUN.search(text):
        return text
    out, last = [], 0
    for m in _CN_RUN.finditer(text):
        start, end = m.span()
        is_number = bool(_NUMBER_AFTER.match(text, end)) or (start > 0 and text[start - 1] in _NUMBER_BEFORE)
        if not is_number or (protect is not None and protect(text, start, end)):
            continue
        value = cn_to_int(m.group(0))
        if value is None:
            continue
        out.append(text[last:start])
        out.append(str(value))
        last = end
    out.append(text[last:])
    return "".join(out)


def unify_variants(text: str, protect: Callable[[str, int, int], bool] | None = None) -> str:
    """号楼/幢/座/# -> 栋, 号院 -> 号, 房/户 -> 室; drop trailing 附近-like words and a leading 中国
    (the country before an address: 中国新疆...; with a dictionary (``protect``), only when a
    gazetteer name starts right after it, so 中国银行 and 中国电信 keep their names)."""
    country = _LEADING_COUNTRY.match(text)
    if country and (protect is None or protect(text[country.end():], 0, 1)):
        text = text[country.end():]
    text = _TRAILING_NOISE.sub("", text)
    text = _BUILDING.sub("栋", text).replace("#", "")
    text = _HOUSE_VARIANTS.sub("号", text)
    return _ROOM.sub("室", text)


# The lengths of the codes a query may give instead of an address (unit grids, components), from
# the one declaration of code formats (a revision of the standard may change them).
CODE_LENGTHS = frozenset(CODES["unit_grid"].lengths) | frozenset(CODES["component"].lengths)
_CODE_LO, _CODE_HI = min(CODE_LENGTHS), max(CODE_LENGTHS)
# digit groups joined by separators (basic() has dropped spaces and dots and made dashes "-"):
# 650102-009-005-002, 6501-0201-0200-0145
_GROUPED = re.compile(r"(?<![0-9-])[0-9]+(?:-[0-9]+)+(?![0-9-])")
# a label before a code: 单元网格编码：, 部件编码, 网格代码, 标识码, 编号 ...
_LABEL_OF = r"(?:(?:万米)?单元网格|网格|城市部件|部件)"
_LABEL_WORD = r"(?:编码|标识码|代码|编号|号码|码)"
_CODE_LABEL = re.compile(rf"(?:{_LABEL_OF}{_LABEL_WORD}?|{_LABEL_WORD})(?=[0-9]{{{_CODE_LO},{_CODE_HI}}}(?![0-9]))")
# a number sign after a code (单元网格650102009005002号)
_CODE_SIGN = re.compile(rf"(?<![0-9])([0-9]{{{_CODE_LO},{_CODE_HI}}})号$")


def plain_codes(text: str) -> str:
    """A unit-grid or component code as its digits: separators between digit groups joined when
    the digits make a code's length (a house number such as 12-3 never does), and the label
    before it and a 号 after it dropped."""

    def join(m: re.Match) -> str:
        digits = m.group(0).replace("-", "")
        return digits if len(digits) in CODE_LENGTHS and len(m.group(0).split("-")[0]) >= 4 else m.group(0)

    text = _GROUPED.sub(join, text)
    text = _CODE_LABEL.sub("", text)
    return _CODE_SIGN.sub(r"\1", text)


def normalise(text: str, protect: Callable[[str, int, int], bool] | None = None) -> str:
    """The whole stage: basic cleaning, number words to digits (names protected), variants, codes
    in plain digits."""
    return plain_codes(unify_variants(convert_numerals(basic(text), protect), protect))


def number_key(number: str) -> str:
    """Key of a house number as written (12, 12-1, 12附3, 十二号, １２號 -> 12...)."""
    text = normalise(number)
    return text[:-1] if text.endswith("号") else text


_BUILDING_KEY = re.compile(r"^([0-9]+|[A-Z]+[0-9]*|[0-9]+[A-Z])(?:栋)?$")


def building_key(number: str) -> str:
    """Key of a building number as written (3号楼, 3栋, 3幢, A座, 三号楼 -> 3 / A)."""
    text = normalise(number)
    if text.endswith("号"):
        text = text[:-1]
    m = _BUILDING_KEY.match(text)
    return m.group(1) if m else text


def road_stem(key: str) -> tuple[str, str] | None:
    """Split a road name key into (stem, suffix) when it ends with a road-type suffix."""
    for suffix in ROAD_SUFFIXES:
        if key.endswith(suffix) and len(key) - len(suffix) >= 2:
            return key[: -len(suffix)], suffix
    return None


def has_control_characters(text: str) -> bool:
    """True when the text holds control characters other than ordinary whitespace."""
    return any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text)
