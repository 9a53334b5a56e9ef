"""One settings module: every variable documented in the README, read only when asked, secrets
masked, bad values refused with the variable's name."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from pydantic import ValidationError

from tests.paths import ROOT
from urbangis.layers.settings import DatabaseSettings, Settings


def _readme_table() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Configuration"):]
    section = section[:section.index("\n## ", 3)]
    return dict(re.findall(r"^\| `(URBANGIS_[A-Z0-9_]+)` \| `([^`]*)` \|", section, flags=re.M))


def test_readme_table_lists_every_setting_with_its_default():
    documented = _readme_table()
    declared = {v.name: v.default or "unset" for v in Settings.from_env().variables()}
    assert documented == declared


def test_nothing_is_read_at_import_time(tmp_path):
    # a setting that cannot be parsed fails where settings are read, never on import
    env = {"URBANGIS_PG_PORT": "not-a-port", "URBANGIS_GEOCODER_SIDE_OFFSET": "x", "PATH": "/usr/bin:/bin"}
    code = ("import urbangis.api.app, urbangis.api.cli, urbangis.geocoder.interpolate, urbangis.geocoder.models, "
            "urbangis.layers.registry, urbangis.tiles.tilesets, urbangis.ogc.params, urbangis.ingest.gazetteer")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_no_module_reads_the_environment_itself():
    readers = []
    for package in ("api", "cases", "geocoder", "ingest", "layers", "ogc", "samplecity", "tiles"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "settings.py" and package == "layers":
                continue
            text = path.read_text(encoding="utf-8")
            if re.search(r"os\.environ|os\.getenv|getenv\(", text):
                readers.append(str(path.relative_to(ROOT)))
    assert readers == []


def test_settings_are_read_when_asked(monkeypatch):
    monkeypatch.setenv("URBANGIS_OGC_DEFAULT_LIMIT", "250")
    monkeypatch.setenv("URBANGIS_TIMEZONE", "Asia/Urumqi")
    s = Settings.from_env()
    assert s.ogc.default_limit == 250 and s.database.timezone == "Asia/Urumqi"
    monkeypatch.delenv("URBANGIS_OGC_DEFAULT_LIMIT")
    assert Settings.from_env().ogc.default_limit == 1000


def test_a_bad_value_names_the_setting(monkeypatch):
    monkeypatch.setenv("URBANGIS_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        DatabaseSettings()


def test_config_command_masks_secrets(tmp_path):
    env = {"URBANGIS_INGEST_TOKEN": "s3cret-T0ken", "URBANGIS_DATABASE_URL": "postgresql://gis:pa55word@db.example/gis",
           "PATH": "/usr/bin:/bin", "URBANGIS_OGC_MAX_LIMIT": "5000"}
    proc = subprocess.run([sys.executable, "-m", "urbangis.api.cli", "config", "--json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["URBANGIS_INGEST_TOKEN"] == "****"
    assert shown["URBANGIS_DATABASE_URL"] == "postgresql://gis:****@db.example/gis"
    assert shown["URBANGIS_OGC_MAX_LIMIT"] == "5000" and shown["URBANGIS_HOME"] == str(tmp_path / ".urbangis")
    assert "s3cret" not in proc.stdout + proc.stderr and "pa55word" not in proc.stdout + proc.stderr
    table = subprocess.run([sys.executable, "-m", "urbangis.api.cli", "config"], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert table.returncode == 0 and "URBANGIS_TIMEZONE" in table.stdout and "s3cret" not in table.stdout


def test_a_bad_setting_stops_the_command_line_with_its_name(tmp_path):
    env = {"URBANGIS_PG_PORT": "not-a-port", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "urbangis.api.cli", "config"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "pg_port" in proc.stderr and "Traceback" not in proc.stderr
