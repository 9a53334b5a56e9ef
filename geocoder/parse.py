"""Stage 3, tokens: every gazetteer name and every number the normalised query holds, and the
best way to cover the query with them.

Names come from the dictionary (longest keys win where they overlap, since the segmentation
maximises covered characters); numbers from their unit words (号 house, 栋 building, 单元 unit,
室 room, 层 floor); codes are digit runs of a unit grid's or a component's length. Only what no
exact name covers is retried with the dictionary's one-edit tolerance.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .dictionary import HOW_PENALTY, Dictionary, Entry
from .normalise import CODE_LENGTHS, ROAD_SUFFIXES

_NUMBER_TOKENS = (
    ("code", re.compile(rf"(?<![0-9])([0-9]{{{min(CODE_LENGTHS)},{max(CODE_LENGTHS)}}})(?![0-9])")),
    ("house", re.compile(r"(?<![0-9A-Z])([0-9]+(?:(?:-|附)[0-9]+)?)号")),
    ("building", re.compile(r"(?<![0-9A-Z])([0-9]+[A-Z]?|[A-Z]+[0-9]*)栋")),
    ("unit", re.compile(r"(?<![0-9])([0-9]+)单元")),
    ("room", re.compile(r"(?<![0-9])([0-9]+)室")),
    ("floor", re.compile(r"(?<![0-9])([0-9]+)(?:层|楼)(?![0-9])")),
    ("number", re.compile(r"(?<![0-9A-Z附-])([0-9]+(?:(?:-|附)[0-9]+)?)(?![0-9号栋单元室层楼A-Z-])")),
)


@dataclass(slots=True)
class Token:
    start: int
    end: int
    type: str  # name | house | building | unit | room | floor | number | code
    text: str  # the dictionary key (names) or the number as a key
    entries: list[Entry] | None = None
    cost: float = 1.0  # multiplier on confidence: 1 exact, lower for tolerant matches
    fuzzy: bool = False  # found with one edit
    entry_costs: list[float] | None = None  # per entry, for tolerant tokens (several keys merged)

    @property
    def weight(self) -> float:
        """What covering the query with this token is worth: its length, less for derived keys;
        a tolerant match counts 1.2 characters fewer, so it never pays to cut a typo'd name into
        pieces that each match something, nor to prefer an edit over an exact name."""
        length = self.end - self.start - (FUZZY_LOSS if self.fuzzy else 0.0)
        return length * min(self.cost, 0.999) - 0.01


@dataclass
class Parse:
    text: str
    tokens: list[Token] = field(default_factory=list)
    leftover: int = 0  # characters no token covers
    # a road-type suffix left over right after a name (友好路 read as the place 友好): what the name
    # found is not what the query named, so it is no exact match
    suffix_left: bool = False
    # stretches of two or more Chinese characters that no name covers (a road, place or branch the
    # gazetteer does not have: 雪松路 in 库车市雪松路52号), fillers such as 附近 aside
    unread: list[str] = field(default_factory=list)
    # the road-type suffix left over right after a name token, by the token's (start, end)
    suffix_after: dict[tuple[int, int], str] = field(default_factory=dict)

    def kinds(self) -> list[str]:
        return [t.type for t in self.tokens]


def _number_tokens(text: str) -> list[Token]:
    out = []
    for kind, rx in _NUMBER_TOKENS:
        for m in rx.finditer(text):
            out.append(Token(m.start(), m.end(), kind, m.group(1)))
    return out


def _name_tokens(words: Dictionary, text: str) -> list[Token]:
    out = []
    for i in range(len(text)):
        for end, key in words.matches_at(text, i):
            entries = words.entries[key]
            best = max(HOW_PENALTY.get(e.how, 1.0) for e in entries)
            out.append(Token(i, end, "name", key, entries, best))
    return out


def _segment(text: str, tokens: list[Token]) -> list[Token]:
    """Weighted interval scheduling: the set of non-overlapping tokens covering most text."""
    n = len(text)
    by_start: dict[int, list[Token]] = {}
    for t in tokens:
        by_start.setdefault(t.start, []).append(t)
    best = [0.0] * (n + 1)
    choice: list[Token | None] = [None] * (n + 1)
    for i in range(n - 1, -1, -1):
        best[i], choice[i] = best[i + 1], None
        for t in by_start.get(i, ()):
            score = t.weight + best[t.end]
            if score > best[i] + 1e-9:
                best[i], choice[i] = score, t
    path, i = [], 0
    while i < n:
        chosen = choice[i]
        if chosen is None:
            i += 1
        else:
            path.append(chosen)
            i = chosen.end
    return path


def _gaps(text: str, path: list[Token]) -> list[tuple[int, int]]:
    gaps, pos = [], 0
    for t in path:
        if t.start > pos:
            gaps.append((pos, t.start))
        pos = t.end
    if pos < len(text):
        gaps.append((pos, len(text)))
    return gaps


# road-type words a query means when it ends a name with them (道 alone is too often part of a
# name: 二道桥, 头道沟)
_SAID = tuple(x for x in ROAD_SUFFIXES if x != "道")
MAX_FUZZY_SPANS = 600
FUZZY_LOSS = 1.2
FUZZY_MIN_SPAN = 3


def _fuzzy_tokens(words: Dictionary, text: str, gaps: list[tuple[int, int]]) -> list[Token]:
    """Tolerant names for the uncovered stretches: every stretch of text that overlaps a gap (a
    typo can cut a name so that shorter names match the pieces around it) is looked up with one
    edit. All keys found for one stretch make one token, so the searches can tell between them."""
    spans: list[tuple[int, int]] = []
    n = len(text)
    for s in range(n):
        for e in range(s + FUZZY_MIN_SPAN, min(n, s + words.maxlen + 1) + 1):
            if any(s < ge and e > gs for gs, ge in gaps):
                spans.append((s, e))
    # a two-character gap of its own may be a three-character name with one character missing
    spans.extend((gs, ge) for gs, ge in gaps if ge - gs == FUZZY_MIN_SPAN - 1)
    out = []
    for s, e in spans[:MAX_FUZZY_SPANS]:
        found = words.fuzzy(text[s:e])
        # a road-type word the query ends the stretch with is what it says the thing is: no edit
        # may change or drop it (雪松路 is not the place 雪松城 with a typo)
        said = next((x for x in _SAID if text[s:e].endswith(x)), None)
        if said:
            found = [(key, how) for key, how in found if key.endswith(said)]
        if not found:
            continue
        entries, costs = [], []
        for key, how in found:
            for x in words.entries[key]:
                entries.append(x)
                costs.append(HOW_PENALTY.get(x.how, 1.0) * HOW_PENALTY[how])
        quality = max(HOW_PENALTY.get(x.how, 1.0) for x in entries)
        out.append(Token(s, e, "name", text[s:e], entries, quality, fuzzy=True, entry_costs=costs))
    return out


def parse(words: Dictionary, text: str, tolerant: bool = True) -> Parse:
    """Tokenise and segment a normalised query (``tolerant``: retry gaps with one edit)."""
    tokens = _number_tokens(text) + _name_tokens(words, text)
    path = _segment(text, tokens)
    gaps = [(s, e) for s, e in _gaps(text, path) if e - s >= 1]
    if tolerant and gaps and any(not text[s:e].isdigit() for s, e in gaps):
        fuzzy = _fuzzy_tokens(words, text, [(s, e) for s, e in gaps if not text[s:e].isdigit()])
        for _ in range(4):  # without the names glued to unread text, until none is
            path = _segment(text, tokens + fuzzy)
            glued = [t for t in path if t.fuzzy and _glued(text, path, t)]
            if not glued:
                break
            fuzzy = [t for t in fuzzy if all(t is not g for g in glued)]
    covered = sum(t.end - t.start for t in path)
    rest = _gaps(text, path)
    name_ends = {t.end for t in path if t.type == "name"}
    suffix_left = any(s in name_ends and text[s:e].startswith(ROAD_SUFFIXES) for s, e in rest)
    unread = [run for s, e in rest for run in _HAN_RUN.findall(text[s:e]) if run not in FILLERS]
    gap_at = {s: text[s:e] for s, e in rest}
    suffix_after = {}
    for t in path:
        gap = gap_at.get(t.end) if t.type == "name" else None
        suffix = next((x for x in ROAD_SUFFIXES if gap and gap.startswith(x)), None)
        if suffix:
            suffix_after[(t.start, t.end)] = suffix
    return Parse(text, path, len(text) - covered, suffix_left, unread, suffix_after)


_HAN = re.compile(r"[\u4e00-\u9fff]")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
# words around an address that name nothing of the gazetteer
FILLERS = frozenset({"附近", "旁边", "对面", "门口", "东侧", "西侧", "南侧", "北侧", "路口", "交叉口", "一带", "周边",
                     "路边", "门前", "楼下", "院内", "中国"})


def _glued(text: str, path: list[Token], token: Token) -> bool:
    """A name found with one edit that runs into characters nothing covers (尼喀巷 in 哈尼喀巷, 星巴扎
    in 红星巴扎) is a piece of a longer name the gazetteer does not have: more than one edit away."""
    covered: set[int] = set()
    for t in path:
        covered.update(range(t.start, t.end))
    before, after = token.start - 1, token.end
    if before >= 0 and before not in covered and _HAN.match(text[before]):
        return True
    # a road-type word left after it counts too: 萨依巴路 is a road name of its own, not the place
    # 萨依巴格 with a character missing and 路 added
    return after < len(text) and after not in covered and bool(_HAN.match(text[after])) and text[after] != "号"
