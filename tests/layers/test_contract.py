"""The contract is the one declaration of a layer's rules: the document, the registry and the
database's tables follow it."""
from __future__ import annotations

from tests.paths import ROOT
from urbangis.layers import contract_doc
from urbangis.layers import database as db
from urbangis.layers.contract import LAYERS
from urbangis.layers.registry import registry


def test_the_document_says_what_the_contract_declares():
    text = (ROOT / "docs" / "data-contract.md").read_text(encoding="utf-8")
    assert contract_doc.markdown() in text, "run `urbangis contract --write docs/data-contract.md`"


def test_every_contract_layer_has_its_columns_in_the_database(empty_db):
    with db.connect(empty_db) as conn:
        for layer in LAYERS:
            columns = {r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (layer.table,))}
            wanted = {f.name for f in layer.fields if f.name != "grid_codes"} | set(layer.computed)
            assert wanted <= columns, (layer.name, wanted - columns)


def test_the_registry_publishes_the_contract_s_fields_by_default():
    published = registry()
    for layer in LAYERS:
        if layer.table in published:
            coll = published[layer.table]
            assert coll.fields == layer.published and coll.id_field == layer.key
            assert coll.title.startswith(layer.title_zh)
