"""How urbangis installs: one namespace, no top-level package of another project's name."""
from __future__ import annotations

import subprocess
import sys

import pytest

PACKAGES = ("api", "cases", "geocoder", "ingest", "layers", "ogc", "samplecity", "tiles")


@pytest.mark.parametrize("name", PACKAGES)
def test_folders_install_under_the_urbangis_namespace(name, tmp_path):
    # run outside the checkout: there the current folder would put the repository's folders on
    # sys.path, and 'import geocoder' would find ./geocoder instead of asking the installation
    code = f"import importlib, sys\nimportlib.import_module('urbangis.{name}')\ntry:\n" \
           f"    import {name}\nexcept ModuleNotFoundError:\n    sys.exit(0)\nsys.exit(3)\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, f"import {name} (exit {proc.returncode}): {proc.stderr or 'found a top-level package'}"


def test_entry_point_runs_from_the_namespace(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "urbangis.api.cli", "version"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("urbangis ")


def test_no_code_imports_a_package_by_its_bare_name():
    """Inside the checkout 'import geocoder' would find ./geocoder and hide the mistake: every
    import of a package of ours names the namespace (or is relative)."""
    import re

    from tests.paths import ROOT

    bare = re.compile(rf"^\s*(from|import)\s+({'|'.join(PACKAGES)})(\.|\s|$)", re.M)
    found = [f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
             for folder in (*PACKAGES, "tests", "bench") for path in (ROOT / folder).rglob("*.py")
             if ".venv" not in path.parts for text in [path.read_text(encoding="utf-8")]
             for m in bare.finditer(text)]
    assert found == []
