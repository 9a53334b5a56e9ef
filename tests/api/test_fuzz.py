"""schemathesis (PyPI, pinned; in a venv of its own under URBANGIS_HOME, made on first use)
against a real server over a sample city of its own (fuzzing writes: cases, fixes, ingest jobs).

Every operation of /openapi.json, every phase (the schema's examples, coverage, fuzzing, stateful
chains over the links it infers), every check: no 5xx, every answer as documented (status, content
type, headers, body schema), schema-violating requests refused, schema-valid ones accepted except
on the operations tests/api/schemathesis.toml lists with the rule OpenAPI cannot state. At least
1,000 generated requests; seeded, so a failure is reproduced by the curl line it prints. Injection
attempts are among what it sends (quotes, SQL and CQL2 fragments, control characters, huge
numbers): CQL2, bbox and address inputs too, in the places the fuzzing phase chooses; the
targeted ones are in tests/ogc (CQL2) and tests/geocoder."""
from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import sample_database, served
from tests.venvs import pinned
from urbangis.layers import database as db

VERSION = "4.32.5"
CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = 10  # per operation and phase: ~2,200 requests, ~1 minute
SEED = 3


@pytest.fixture(scope="session")
def schemathesis_cli() -> Path:
    return pinned("schemathesis", VERSION) / "bin" / "st"


@pytest.fixture(scope="module")
def fuzzed_server():
    from urbangis.api.app import create_app

    info = sample_database("urbangis_fuzz")
    try:
        with served(create_app(info)) as url:
            yield url
    finally:
        db.drop_database(info)


def test_schemathesis_finds_nothing(schemathesis_cli, fuzzed_server, tmp_path):
    done = subprocess.run(
        [str(schemathesis_cli), "--config-file", str(CONFIG), "run", f"{fuzzed_server}/openapi.json",
         "-n", str(EXAMPLES), "--seed", str(SEED), "-w", "1", "--request-timeout", "60", "--no-color",
         "--report", "junit,json", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    summary = json.loads(next(tmp_path.glob("json-*.json")).read_text(encoding="utf-8"))
    failures = []
    for case in ET.parse(next(tmp_path.glob("junit-*.xml"))).iter("testcase"):
        for failed in (*case.iter("failure"), *case.iter("error")):
            failures.append(f"{case.get('name')}: {(failed.text or failed.get('message') or '')[:1500]}")
    assert not failures, "\n\n".join(failures)
    assert done.returncode == 0, done.stdout[-3000:]
    ops = summary["operations"]
    assert ops["tested"] == ops["selected"] == ops["total"] and ops["errored"] == 0, ops
    assert {name: p["status"] for name, p in summary["phases"].items()} == dict.fromkeys(
        ("examples", "coverage", "fuzzing", "stateful"), "success")
    assert summary["test_cases"]["generated"] >= 1000 and summary["test_cases"]["errored"] == 0, summary["test_cases"]
