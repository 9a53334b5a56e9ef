"""Autocomplete: gazetteer names that start with what was typed, and house numbers of a named
road / place / courtyard that start with the digits typed after it."""
from __future__ import annotations

from .index import Index, each
from .normalise import normalise
from .parse import parse

MAX_SUGGESTIONS = 10
_KIND_ORDER = {"road": 0, "place": 1, "org": 2, "courtyard": 3, "district": 4, "street": 5, "community": 6,
               "storefront": 7, "city": 8, "province": 9}
_LAYER = {"road": "roads", "place": "place_names", "org": "organisations", "courtyard": "courtyards",
          "storefront": "storefronts"}
_PARENT = {"road": "r", "place": "p", "courtyard": "c"}


def _point(ix: Index, kind: str, idx: int):
    f = ix.feature_table(kind)[idx]
    return getattr(f, "x", None), getattr(f, "y", None)


def suggest(ix: Index, text: str, limit: int = MAX_SUGGESTIONS) -> list[dict]:
    """At most ``limit`` completions: {text, kind, layer, id, x, y} in the metric plane."""
    q = normalise(text, ix.words.protect)
    if not q:
        return []
    out: list[dict] = []
    seen: set[tuple[str, str]] = set()

    def add(display: str, kind: str, layer: str, fid: str, x, y) -> None:
        if (layer, fid) in seen or len(out) >= limit:
            return
        seen.add((layer, fid))
        out.append({"text": display, "kind": kind, "layer": layer, "id": fid, "x": x, "y": y})

    # a known name followed by digits: complete the house number
    parsed = parse(ix.words, q, tolerant=False)
    names = [t for t in parsed.tokens if t.type == "name"]
    tail = q[names[-1].end:] if names else ""
    if names and tail.isdigit():
        head = q[: names[-1].end]
        for e in names[-1].entries or ():
            code = _PARENT.get(e.kind)
            table = ix.houses.by_parent.get((code, e.idx)) if code else None
            if not table:
                continue
            nums = sorted((k for k in table if k.startswith(tail)), key=lambda k: (len(k), k))
            for i in (i for k in nums for i in each(table[k])):
                add(f"{head}{ix.houses.numbers[i]}号", "house_number", "house_numbers", ix.houses.ids[i],
                    float(ix.houses.xs[i]), float(ix.houses.ys[i]))
    # names that start with the whole text, then with the text after the last complete name
    prefixes = [("", q)]
    if names and tail and not tail.isdigit():
        prefixes.append((q[: names[-1].end], tail))
    for head, prefix in prefixes:
        keys = ix.words.complete(prefix, limit)
        ranked = []
        for key in keys:
            for e in ix.words.entries[key]:
                ranked.append((_KIND_ORDER.get(e.kind, 9), e.how != "name", len(key), key, e))
        ranked.sort(key=lambda r: r[:3])
        for _, _, _, key, e in ranked:
            f = ix.feature_table(e.kind)[e.idx]
            fid: str = getattr(f, "id", "") or getattr(f, "code", "")  # features have an id, admin areas a code
            x, y = _point(ix, e.kind, e.idx)
            layer = _LAYER.get(e.kind, "admin_areas")
            add(head + f.name, e.kind, layer, fid, x, y)
        if len(out) >= limit:
            break
    return out
