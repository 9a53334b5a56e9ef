"""Outside tools the tests run in venvs of their own (their pins must not meet the project's)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.paths import ROOT


def pinned(package: str, version: str) -> Path:
    """The venv under URBANGIS_HOME holding ``package==version``, made on first use."""
    home = Path(os.environ.get("URBANGIS_HOME", ROOT / ".urbangis"))
    venv = home / f"{package}-{version}"
    if not (venv / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
        done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"{package}=={version}"],
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        (venv / ".installed").touch()
    return venv
