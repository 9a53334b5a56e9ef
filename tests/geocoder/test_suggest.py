"""Autocomplete from a prefix."""
from __future__ import annotations

from urbangis.geocoder.suggest import suggest


def test_names_starting_with_the_prefix(index):
    out = suggest(index, "解放")
    texts = [s["text"] for s in out]
    assert texts[0] == "解放南路"
    assert "解放南路街道" in texts
    assert len(out) <= 10


def test_house_numbers_after_a_road(index):
    out = suggest(index, "解放南路1")
    assert {s["text"] for s in out} == {"解放南路12号", "解放南路13号", "解放南路12-1号"}
    assert all(s["layer"] == "house_numbers" for s in out)


def test_completion_after_an_admin_prefix(index):
    out = suggest(index, "天山区二道")
    assert out and out[0]["text"] == "天山区二道桥"


def test_limit_and_nothing(index):
    assert len(suggest(index, "解", limit=2)) == 2
    assert suggest(index, "zzz") == []
