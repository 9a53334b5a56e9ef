"""The layer registry matches the schema, and malformed configurations are refused clearly."""
from __future__ import annotations

import re

import pytest

from urbangis.layers import database as db
from urbangis.layers.registry import MapView, RegistryError, load_map_view, load_registry, registry


def test_every_collection_matches_a_table(empty_db):
    with db.connect(empty_db) as conn:
        columns = {
            (t, c)
            for t, c in conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
            )
        }
    for coll in registry().values():
        time_field = [coll.time_field] if coll.time_field else []
        for column in (coll.id_field, coll.geometry_column, *coll.fields, *time_field):
            assert (coll.table, column) in columns, f"{coll.id}: {coll.table}.{column} does not exist"


def test_simplify_steps():
    roads = registry()["roads"]
    assert roads.simplify_at(5) == 1.0 and roads.simplify_at(15) == 0.5 and roads.simplify_at(20) == 0.0


@pytest.mark.parametrize(
    "text, message",
    [
        ("collections: {x: {title: X, id_field: id, fields: [a], geometry: blob}}", "geometry must be one of"),
        ("collections: {x: {title: X, fields: [a], geometry: point}}", "missing key(s) id_field"),
        ("collections: {x: {title: X, id_field: id, fields: [a], geometry: point, colour: red}}",
         "unknown key(s) colour"),
        ("collections: [", "not valid YAML"),
        ("map: {center: [187, 43]}\ncollections: {x: {title: X, id_field: id, fields: [a], geometry: point}}",
         "map.center must be [lon, lat]"),
        ("map: {zoom: 13, pitch: 40}\ncollections: {x: {title: X, id_field: id, fields: [a], geometry: point}}",
         "`map` takes only"),
        ("collections: {x: {title: X, id_field: id, fields: [a], geometry: polygon, fill_opacity: 2}}",
         "fill_opacity must be between 0 and 1"),
    ],
)
def test_bad_configuration(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(RegistryError, match=re.escape(message)):
        load_registry(path)


def test_map_view(tmp_path):
    path = tmp_path / "c.yaml"
    body = "collections: {x: {title: X, id_field: id, fields: [a], geometry: point}}\n"
    path.write_text(body)
    assert load_map_view(path) == MapView()  # unset: the tiles open where the data is
    path.write_text("map: {center: [87.6, 43.8], zoom: 14}\n" + body)
    assert load_map_view(path) == MapView(center=(87.6, 43.8), zoom=14)
    assert load_map_view().center is not None  # the shipped registry opens on the old town
