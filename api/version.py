"""The installed version of urbangis."""
from __future__ import annotations

from importlib import metadata


def version() -> str:
    try:
        return metadata.version("urbangis")
    except metadata.PackageNotFoundError:  # running from a checkout without install
        return "0+unknown"
