"""`urbangis geocode`, `urbangis geocode --batch`, `urbangis reverse` on a real database."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.geocoder.conftest import geo_db  # noqa: F401  (the hand-made gazetteer, shared)

URBANGIS = str(Path(sys.executable).parent / "urbangis")


@pytest.fixture(scope="module")
def env(geo_db):  # noqa: F811
    return {**os.environ, "URBANGIS_DATABASE_URL": geo_db}


def run(env, *args):
    return subprocess.run([URBANGIS, *args], capture_output=True, text=True, env=env)


def test_geocode_one(env):
    p = run(env, "geocode", "天山区解放南路12号3号楼")
    assert p.returncode == 0, p.stderr
    assert "解放南路12号3号楼" in p.stdout and "model 4" in p.stdout
    p = run(env, "geocode", "--json", "二道桥")
    assert json.loads(p.stdout)["matched"]["id"] == "P1"


def test_geocode_batch(env, tmp_path):
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("id,address\n1,解放南路12号\n2,\n3,胜利小区3号\n", encoding="utf-8")
    p = run(env, "geocode", "--batch", str(src), "--out", str(dst))
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(dst.open(encoding="utf-8")))
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["model"] == "3" and rows[1]["error"] and rows[2]["model"] == "16"
    assert "3 rows: 2 found, 0 not found, 1 refused" in p.stderr


def test_reverse(env):
    p = run(env, "reverse", "87.60501", "43.78991")
    assert p.returncode == 0, p.stderr
    assert "解放南路12号" in p.stdout and "650102003001001" in p.stdout


def test_bad_input_is_a_usage_error(env):
    assert run(env, "geocode", "").returncode == 2
    assert run(env, "reverse", "200", "43").returncode == 2
    assert run(env, "geocode", "x", "--crs", "EPSG:1").returncode == 2
    assert run(env, "geocode").returncode == 2


@pytest.mark.parametrize("args", [["geocode"], ["reverse"]])
def test_help(args):
    out = subprocess.run([URBANGIS, *args, "--help"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("Usage: urbangis") and len(out.splitlines()) >= 5
