"""Paths the tests share."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data-samples" / "urumqi"
OUTPUT = ROOT / "test-output"
