"""How people mistype and vary addresses, and the checks that keep a varied query to one reading.

A query is a list of :class:`Part` (prefix, street, community, road, num, bldg, place, store,
org, court, code). Each noise kind changes parts (or, for ``punct``, the joins between them) and
is recorded by name:

- ``fullwidth``: ASCII digits and letters of numbers and codes in full width (１２号, Ａ座);
- ``cn_numerals``: a house or building number in Chinese numerals (十二号, 三号楼);
- ``missing_suffix``: a road without 路/街/巷/大道/大街/胡同 (天山一 for 天山一路), only where no
  other name starts with what is left;
- ``alias`` / ``historic``: another name of the feature that names it alone;
- ``prefix``: province / prefecture / county before the address, in full or short forms;
- ``typo``: one character of a name of three or more replaced by a near-homophone or look-alike,
  only where the result is within one substitution of no other name;
- ``punct``: commas, 、, dashes and spaces between the parts;
- ``building_variant``: 3号楼 as 3栋 / 3幢 / 3号楼2单元, 12号 under a place or courtyard as 12号院;
- ``code_format``: unit grid and component codes in groups (652902-001-002-003), spaced, or labelled
  (单元网格编码：…, 部件编码:…).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .names import CN_DIGITS, ROAD_SUFFIXES, cn_number

KINDS = ["fullwidth", "cn_numerals", "missing_suffix", "alias", "historic", "prefix", "typo", "punct",
         "building_variant", "code_format"]
NAME_ROLES = ("road", "place", "org", "court", "street", "community", "store")
# generic endings a typo leaves alone (the slip is in the proper part of the name)
_SUFFIXES = ("街道", "社区", "家属院", "小区", "花园", "公寓") + ROAD_SUFFIXES
_FULL = str.maketrans("0123456789ABCDEFGH", "０１２３４５６７８９ＡＢＣＤＥＦＧＨ")

# near-homophones and look-alikes (pinyin input slips, handwriting read back)
_CONFUSABLE = """天添田 山衫删珊 路露陆鹭 巷项象 街阶接 道到稻 大达 城成诚 新心欣辛 文闻纹 化华花 友有右
谊义宜 龟归贵 兹滋资 热惹 斯思丝 坦滩谈 萨撒洒 克刻客 巴八吧 扎札渣 库酷裤 木牧目 格阁各 拉啦腊 墩敦吨
花华画 园圆元源 公工功 寓遇玉 小晓笑 区曲趋 中钟忠 学雪薛 医依衣 院苑愿 银印音 行形星 广光 场厂常
东冬董 西溪希 南楠难 北贝备 阔扩括 纳那娜 吐土图 曼漫慢 喀卡咖 尔儿耳 艾爱 帽冒貌 姆母 托拖妥 恰洽
其琪奇 依衣伊 丁订 瓦娃 铁贴 匠酱 铜同童 馕囊 乌屋污 塘唐堂 博波勃 阿啊 勒乐 都督 加家佳 比笔 哈蛤
玉育 吾午武 胡湖 杨阳扬 红洪宏 柳留流 沙砂纱 枣早 石时 榴留 关官 林琳临 基机鸡 棉绵 麻马 光广 农浓
粮良梁 站占战 邮油由 电店 村存 果国 葡蒲 萄桃陶 杏幸 桑嗓 核和何 环还 老劳 渠曲 边编 人仁 民明 政正
府付 局菊 教较 建健 设社 商尚 业叶 储楚 蓄序 供共 销消 气汽器 糖唐 泥尼 毯坦 交郊 通同 昆坤 仑伦论
雪学 莲连联 富福 安按 居据 阳杨 金今 桥乔 绿律 洲州周 水税 利力 家加 属蜀 疾及 控空 检简 察查 法发
院远 武五 装庄 卫为 畜蓄 物务 资姿 干甘 部步 宾滨 馆管 酒久 店电 信新 移宜 动冻 燃然 热惹 力利 司思
职植 技记 校效 幼又 儿而 双爽 实石 验言 级极 保宝 健建 妇附 委伟 管馆 理里 育玉 体题 图涂 书输 财才
穗岁 馨心 怡宜 晖辉 振震 兴星 庭停 景井 苑院 紫子 荆经 锦景 绣秀 翠脆 湖胡 润闰 泽则 祥详 恒横 源元
盛胜 世事 瑞锐 丰风 嘉家 禾和 宁凝 康糠 雅亚 珠朱 明名 和河 杏幸 桑丧 核河 旦但 枸狗 杞起 迎营 宾滨
苑院 昆坤 丝思 柏百 铺浦 团团 结节 客刻 运云 站占 湿诗 地第 河和 渭卫 儿而 童同 场常 贸茂 品拼
区曲 片骗 兰蓝 盖改 提题 亚压 什十 然燃 门们 油由 基机 沙纱 铁贴 园圆 纺访 电店 雪学 泉全 桥乔
长常 青清 建见 里理 龙隆 口扣 恰洽 白百 杨扬 城成 南难 北备 达大 坑吭 卡咖 穆木 音因 舞午 依伊"""
CONFUSABLE: dict[str, str] = {}
for _group in _CONFUSABLE.split():
    CONFUSABLE.setdefault(_group[0], "")
    CONFUSABLE[_group[0]] += "".join(ch for ch in _group[1:] if ch != _group[0] and ch not in CONFUSABLE[_group[0]])


@dataclass
class Part:
    """One piece of a query: its role, its text as it stands, the feature it names."""

    role: str
    text: str
    feature: tuple[str, str] | None = None
    changed: bool = False  # its name was replaced (alias, historic, typo, missing suffix)
    number: str | None = None  # num / bldg / code: the value as the gazetteer writes it


@dataclass
class Draft:
    model: int
    parts: list[Part]
    lon: float | None
    lat: float | None
    target: dict | None
    interpolated: bool = False
    noise: list[str] = field(default_factory=list)
    seps: list[str] | None = None

    def text(self) -> str:
        seps = self.seps or [""] * (len(self.parts) - 1)
        out = self.parts[0].text
        for sep, p in zip(seps, self.parts[1:]):
            out += sep + p.text
        return out


class Lexicon:
    """Every spelling of every named feature, and the checks built on them."""

    def __init__(self) -> None:
        self.owners: dict[str, set[tuple[str, str]]] = {}
        self.spellings: dict[tuple[str, str], set[str]] = {}
        self._wild: dict[str, set[str]] | None = None

    def add(self, spelling: str, feature: tuple[str, str]) -> None:
        self.owners.setdefault(spelling, set()).add(feature)
        self.spellings.setdefault(feature, set()).add(spelling)
        self._wild = None

    @property
    def wild(self) -> dict[str, set[str]]:
        if self._wild is None:
            self._wild = {}
            for s in self.owners:
                for i in range(len(s)):
                    self._wild.setdefault(s[:i] + "?" + s[i + 1:], set()).add(s)
        return self._wild

    def names_alone(self, spelling: str, feature: tuple[str, str]) -> bool:
        return self.owners.get(spelling) == {feature}

    def typo_ok(self, new: str, feature: tuple[str, str]) -> bool:
        """``new`` is no spelling, and the only spellings one substitution away are the feature's."""
        if new in self.owners:
            return False
        mine = self.spellings.get(feature, set())
        for i in range(len(new)):
            for s in self.wild.get(new[:i] + "?" + new[i + 1:], ()):
                if s not in mine or self.owners[s] != {feature}:
                    return False
        return True

    def stem_ok(self, stem: str, feature: tuple[str, str]) -> bool:
        """No spelling of anything else starts with ``stem`` (and ``stem`` itself is none)."""
        if stem in self.owners:
            return False
        return all(self.owners[s] == {feature} for s in self.owners if s.startswith(stem))

    def far_from_all(self, name: str) -> bool:
        """A made-up name: at least two edits from every spelling (天山路 vs 天山一路 fails), and
        inside none (卫星路 would fail against 卫星路支行)."""
        for s in self.owners:
            if abs(len(s) - len(name)) <= 1 and _edits(s, name) < 2:
                return False
            if name in s:
                return False
        return True


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (small strings)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


# -- the noise kinds ----------------------------------------------------------------------------
class Noiser:
    """Applies noise kinds to drafts; each method returns whether it could."""

    def __init__(self, lex: Lexicon, prefixes: list[str], other_names: dict[tuple[str, str], dict[str, list[str]]],
                 county_names: tuple[str, ...], rng: np.random.Generator) -> None:
        self.lex, self.prefixes, self.other, self.rng = lex, prefixes, other_names, rng
        self.county_names = county_names

    def apply(self, kind: str, d: Draft) -> bool:
        ok = getattr(self, kind)(d)
        if ok:
            d.noise.append(kind)
        return ok

    def _choice(self, items: list):
        return items[int(self.rng.integers(len(items)))] if items else None

    def fullwidth(self, d: Draft) -> bool:
        parts = [p for p in d.parts if p.role in ("num", "bldg", "code") and re.search(r"[0-9A-H]", p.text)]
        if not parts:
            return False
        for p in parts:
            p.text = p.text.translate(_FULL)
        return True

    def cn_numerals(self, d: Draft) -> bool:
        if any(p.role == "road" and p.changed and p.text and p.text[-1] in CN_DIGITS for p in d.parts):
            return False  # 天山一 + 十二号 would read as 天山 + 一十二号
        cands = [p for p in d.parts if p.role == "num" and re.fullmatch(r"\d+号", p.text)]
        cands += [p for p in d.parts if p.role == "bldg" and re.fullmatch(r"\d+(号楼|栋|幢)", p.text)]
        p = self._choice(cands)
        if p is None:
            return False
        m = re.match(r"(\d+)(.*)", p.text)
        p.text = cn_number(int(m.group(1))) + m.group(2)
        return True

    def missing_suffix(self, d: Draft) -> bool:
        cands = []
        for i, p in enumerate(d.parts):
            if p.role != "road" or p.changed:
                continue
            suffix = next((s for s in ROAD_SUFFIXES if p.text.endswith(s)), None)
            if suffix is None:
                continue
            stem = p.text[: -len(suffix)]
            nxt = d.parts[i + 1].text if i + 1 < len(d.parts) else ""
            if len(stem) < 2 or not self.lex.stem_ok(stem, p.feature):
                continue
            if stem[-1] in CN_DIGITS and nxt[:1] in CN_DIGITS + "十百":
                continue
            cands.append((p, stem))
        return self._apply(self._choice(cands))

    @staticmethod
    def _apply(pick) -> bool:
        """Give the chosen part its new text (False when there was nothing to choose)."""
        if pick is None:
            return False
        pick[0].text, pick[0].changed = pick[1], True
        return True

    def _other(self, d: Draft, which: str) -> bool:
        cands = []
        for p in d.parts:
            if p.role not in NAME_ROLES or p.changed or p.feature is None:
                continue
            for name in self.other.get(p.feature, {}).get(which, []):
                if self.lex.names_alone(name, p.feature):
                    cands.append((p, name))
        return self._apply(self._choice(cands))

    def alias(self, d: Draft) -> bool:
        return self._other(d, "aliases")

    def historic(self, d: Draft) -> bool:
        return self._other(d, "historic")

    def prefix(self, d: Draft) -> bool:
        if d.model in (17, 18) or any(p.role == "prefix" for p in d.parts):
            return False
        if any(d.parts[0].text.startswith(n) for n in self.county_names):
            return False  # 库车市第一中学 carries its county already
        d.parts.insert(0, Part("prefix", self._choice(self.prefixes)))
        return True

    def typo(self, d: Draft) -> bool:
        parts = [p for p in d.parts if p.role in NAME_ROLES and not p.changed and len(p.text) >= 3 and p.feature]
        order = self.rng.permutation(len(parts))
        for k in order:
            p = parts[int(k)]
            stem = len(p.text) - len(next((x for x in _SUFFIXES if p.text.endswith(x)), ""))
            positions = [i for i, ch in enumerate(p.text[:stem]) if ch in CONFUSABLE and ch not in CN_DIGITS + "十"]
            self.rng.shuffle(positions)
            for i in positions:
                for ch in self.rng.permutation(list(CONFUSABLE[p.text[i]])):
                    new = p.text[:i] + str(ch) + p.text[i + 1:]
                    if self.lex.typo_ok(new, p.feature):
                        p.text, p.changed = new, True
                        return True
        return False

    def punct(self, d: Draft) -> bool:
        n = len(d.parts)
        if n < 2:
            return False
        seps = []
        for a, b in zip(d.parts, d.parts[1:]):
            numeric = a.role in ("num", "bldg") or b.role in ("num", "bldg")
            pool = ["，", "、", " ", "　", ","] if numeric else ["，", "、", " ", "-", "　", ","]
            seps.append(self._choice(pool) if self.rng.random() < 0.6 else "")
        if not any(seps):
            seps[int(self.rng.integers(len(seps)))] = self._choice(["，", " ", "、"])
        d.seps = seps
        return True

    def building_variant(self, d: Draft) -> bool:
        cands = []
        for p in d.parts:
            if p.role == "bldg":
                m = re.fullmatch(r"(\d+)(号楼|栋|幢)", p.text)
                if m:
                    n, style = m.groups()
                    options = {"号楼": [f"{n}栋", f"{n}幢", f"{n}号楼{self.rng.integers(1, 5)}单元"],
                               "栋": [f"{n}号楼", f"{n}幢", f"{n}栋{self.rng.integers(1, 4)}单元"],
                               "幢": [f"{n}栋", f"{n}号楼"]}[style]
                    cands.append((p, self._choice(options)))
                m = re.fullmatch(r"([A-H])座", p.text)
                if m:
                    cands.append((p, f"{m.group(1)}栋"))
            if p.role == "num" and d.model in (8, 16) and re.fullmatch(r"\d+号", p.text):
                cands.append((p, p.text + "院"))
        pick = self._choice(cands)
        if pick is None:
            return False
        pick[0].text = pick[1]
        return True

    def code_format(self, d: Draft) -> bool:
        p = next((p for p in d.parts if p.role == "code"), None)
        if p is None:
            return False
        c = p.number
        if d.model == 17:
            groups = [c[:6], c[6:9], c[9:12], c[12:]]
            label = self._choice(["单元网格编码：", "网格编码:", "单元网格", "万米网格编码 "])
        else:
            groups = [c[:6], c[6:8], c[8:10], c[10:]]
            label = self._choice(["部件编码:", "部件编码：", "部件标识码 ", "部件"])
        style = int(self.rng.integers(4))
        body = {0: "-".join(groups), 1: " ".join(groups), 2: c, 3: "-".join(groups)}[style]
        if style in (2, 3) or self.rng.random() < 0.3:
            body = label + body
        if body == c:
            return False
        p.text = body
        return True
