"""The class dictionary's lookups: by the three codes (intake's usual question, one dictionary
lookup), by names, and the refusals naming what was asked."""
from __future__ import annotations

import pytest

from urbangis.layers.classes import UnknownClass, load_classes
from urbangis.layers.settings import Settings


@pytest.fixture(scope="module")
def classes():
    return load_classes(Settings.from_env().cases.classes)


def test_codes_names_and_refusals(classes):
    for c in classes.all:  # every class by its codes, and by its names
        assert classes.resolve(c.kind, c.major, c.minor) is c
        assert classes.resolve(c.kind, major_name=c.major_name, minor_name=c.minor_name) is c
    assert classes.resolve("event", "01", "02").minor_name == "暴露垃圾"
    with pytest.raises(UnknownClass, match="no class in the class dictionary has kind 'event', major class '01', "
                                           "minor class '99'"):
        classes.resolve("event", "01", "99")
    with pytest.raises(UnknownClass, match="fits 2 classes"):  # 0505 is a component class and an event class
        classes.resolve(None, "05", "05")
