"""Stage 2, the gazetteer dictionary: every name, alias and historic name the index knows.

Keys are normalised names (:func:`geocoder.normalise.name_key`). Lookup walks the query from each
position through a *prefix set* (the flat form of a trie: every prefix of every key is a member,
so a walk stops as soon as no key can continue) and reports every key that ends there. A trie of
nested dicts would give the same walk at several times the memory for a city's 100,000+ names.

Tolerance (one typo or one missing character) uses a deletion index, as SymSpell does: every key
is also stored under each of its one-character deletions, so the candidates within edit distance
one of a string are found by a handful of hash lookups instead of a scan of all names.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

# How a key was derived from the gazetteer name, and what that costs in confidence.
HOW_PENALTY = {
    "name": 1.0,
    "alias": 0.99,  # a feature's own name ranks before another feature's alias of the same text
    "historic": 0.97,
    "short": 0.98,  # an admin name without its 居委会 / 办事处 ... tail, or with one added
    "digits": 0.99,  # 第一中学 found as 第1中学
    "suffix": 0.9,  # 解放南路 found as 解放南街 (road-type suffix swapped)
    "stem": 0.88,  # 解放南路 found as 解放南 (road-type suffix missing)
    "stem2": 0.87,  # the same for a suffix other than 路 (路 is the one most often left out)
    "stem_lane": 0.87,  # the same for a lane (巷, 胡同): never read before a road's suffix (东风巷 is no 东风大道)
    "brand": 0.75,  # 中国银行 alone, for every branch of the bank (which one the query does not say)
    "fuzzy": 0.8,  # one character wrong
    "fuzzy_indel": 0.78,  # one character missing or extra
}
PROTECTING = frozenset({"name", "alias", "historic", "short", "digits"})  # names as people write them
FUZZY_MIN_LEN = 3  # names shorter than this are never matched with an edit


@dataclass(slots=True)
class Entry:
    """One thing a key can mean: a feature of a layer, found through one kind of name."""

    kind: str  # province, city, district, street, community, road, place, org, courtyard, storefront
    idx: int  # position of the feature in the index's table for that kind
    how: str = "name"


@dataclass
class Dictionary:
    """Every name key of the gazetteer and what it can mean."""

    entries: dict[str, list[Entry]] = field(default_factory=dict)
    prefixes: set[str] = field(default_factory=set)
    deletes: dict[str, list[str]] = field(default_factory=dict)
    sorted_keys: list[str] = field(default_factory=list)
    maxlen: int = 0

    def add(self, key: str, kind: str, idx: int, how: str = "name") -> None:
        """Record that ``key`` can mean feature ``idx`` of ``kind`` (first way of naming it wins)."""
        if not key:
            return
        bucket = self.entries.get(key)
        if bucket is None:
            self.entries[key] = [Entry(kind, idx, how)]
            return
        for e in bucket:
            if e.kind == kind and e.idx == idx:
                return
        bucket.append(Entry(kind, idx, how))

    def finish(self) -> None:
        """Build the prefix set, the deletion index and the sorted key list once all names are in."""
        prefixes: set[str] = set()
        deletes: dict[str, list[str]] = {}
        maxlen = 0
        for key in self.entries:
            n = len(key)
            maxlen = max(maxlen, n)
            for j in range(1, n + 1):
                prefixes.add(key[:j])
            if n >= FUZZY_MIN_LEN and any(e.how in PROTECTING for e in self.entries[key]):
                for j in range(n):
                    d = key[:j] + key[j + 1 :]
                    lst = deletes.get(d)
                    if lst is None:
                        deletes[d] = [key]
                    elif lst[-1] != key:
                        lst.append(key)
        self.prefixes, self.deletes, self.maxlen = prefixes, deletes, maxlen
        self.sorted_keys = sorted(self.entries)

    # -- exact lookup -------------------------------------------------------------------------
    def matches_at(self, text: str, i: int) -> list[tuple[int, str]]:
        """Every key that starts at ``text[i]``: (end, key) pairs, shortest first."""
        out = []
        prefixes, entries = self.prefixes, self.entries
        n = len(text)
        j = i + 1
        while j <= n:
            piece = text[i:j]
            if piece not in prefixes:
                break
            if piece in entries:
                out.append((j, piece))
            j += 1
        return out

    def protect(self, text: str, start: int, end: int) -> bool:
        """True when a gazetteer name (not a derived variant) covers a character of ``text[start:end]``."""
        for s in range(max(0, start - self.maxlen + 1), end):
            for e, key in self.matches_at(text, s):
                if e > start and any(x.how in PROTECTING for x in self.entries[key]):
                    return True
        return False

    # -- tolerant lookup ----------------------------------------------------------------------
    def fuzzy(self, text: str) -> list[tuple[str, str]]:
        """Keys within one edit of ``text``: (key, "fuzzy") for a wrong character, (key,
        "fuzzy_indel") for a missing or an extra one."""
        if len(text) < FUZZY_MIN_LEN - 1:
            return []
        found: list[tuple[str, str]] = []
        entries, deletes = self.entries, self.deletes
        # text is a key with one character missing
        found.extend((k, "fuzzy_indel") for k in deletes.get(text, ()))
        if len(text) >= FUZZY_MIN_LEN:
            for j in range(len(text)):
                d = text[:j] + text[j + 1 :]
                # text has one character too many
                if d in entries and len(d) >= FUZZY_MIN_LEN:
                    found.append((d, "fuzzy_indel"))
                # one character wrong: same deletion position on both sides
                for key in deletes.get(d, ()):
                    if len(key) == len(text) and key[:j] == text[:j] and key[j + 1 :] == text[j + 1 :]:
                        found.append((key, "fuzzy"))
        best: dict[str, str] = {}
        for k, how in found:
            if k != text and best.get(k) != "fuzzy":
                best[k] = how
        return list(best.items())

    # -- autocomplete -------------------------------------------------------------------------
    def complete(self, prefix: str, limit: int) -> list[str]:
        """Keys that start with ``prefix``, shortest first, at most ``limit`` scanned * 20."""
        keys = self.sorted_keys
        i = bisect_left(keys, prefix)
        out: list[str] = []
        while i < len(keys) and keys[i].startswith(prefix) and len(out) < limit * 20:
            out.append(keys[i])
            i += 1
        out.sort(key=len)
        return out
