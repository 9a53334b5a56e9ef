"""An evaluation city the geocoder was never tuned on: a synthetic town around a real Xinjiang
county seat (default 652902 库车市), written independently of samplecity/.

``build(out, county, seed, per_model)`` writes ``out/gazetteer/<layer>.geojson`` (EPSG:4490, the
layers of docs/data-contract.md) and ``out/queries.jsonl`` (the 18 combination models, clean and
noisy, and made-up addresses) and returns what it wrote. See README.md in this folder.

Modules: county (the real place), town (street plan), names (naming habits), admin (street
offices, communities, grids), roads (naming the plan), addresses (house numbers, buildings,
storefronts), features (places, courtyards, organisations), components, gazetteer (writing),
noise and queries (the evaluation set), check (reading the files back against the contract).
"""
from .assemble import build, make_town

__all__ = ["build", "make_town"]
