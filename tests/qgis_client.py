"""Running QGIS 3.22 as Debian ships it (``python3-qgis``, headless) against a test server.

QGIS' Python bindings live in the system Python, not in the project's venv: each check is a
script run by ``/usr/bin/python3`` that prints one JSON document on its last line."""
from __future__ import annotations

import json
import subprocess

SYSTEM_PYTHON = "/usr/bin/python3"

PRELUDE = """
import json, os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from qgis.core import QgsApplication
app = QgsApplication([], False)
app.initQgis()
"""


def run(script: str, *args: str, timeout: int = 300) -> dict:
    """Run ``script`` (after a QGIS start-up) with ``args`` as sys.argv[1:]; its last printed line, as JSON."""
    # ended with os._exit: QGIS 3.22 crashes in exitQgis() while layers made by the script still live
    ending = "\nsys.stdout.flush()\nos._exit(0)\n"
    done = subprocess.run([SYSTEM_PYTHON, "-c", PRELUDE + script + ending, *args],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
