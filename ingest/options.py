"""What a load is asked to do (LoadOptions) and how it fails (LoadError), shared by the planner
(ingest.plan), the loader (ingest.gazetteer), the CLI and the HTTP jobs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from urbangis.layers.errors import Invalid

from . import crs as crs_mod
from .formats.archive import MAX_TOTAL
from .formats.tabular import Geocode
from .report import Report

Progress = Callable[[str, int, "int | None", str], None]  # layer, rows done, total, phase


class LoadError(Invalid, ValueError):
    """The input cannot be loaded (400); nothing was written. ``report`` says why, row by row if it can."""

    def __init__(self, message: str, report: Report | None = None) -> None:
        super().__init__(message)
        self.report = report


class LoadRejected(LoadError):
    """Strict mode: some rows have errors, so nothing was loaded (see the report)."""


@dataclass
class LoadOptions:
    """How to load; every field has the default data staff want."""

    source_crs: crs_mod.SourceCRS | None = None  # overrides what the files declare
    strict: bool = True  # all or nothing; False: load the good rows, report the rest
    replace: bool = False  # empty each loaded layer first
    layer: str | None = None  # contract layer of a single file whose name does not say it
    batch_size: int = 50_000
    geocode: Geocode | None = None  # address -> (lon, lat) in EPSG:4490, for tables without coordinates
    report_path: Path | None = None  # JSON report; the table (.txt) and rejected rows go beside it
    progress: Progress | None = None
    timezone: str = "Asia/Shanghai"  # for times written without an offset
    encoding: str | None = None  # force a text encoding (else .cpg / detection)
    max_unpacked: int = MAX_TOTAL  # zip archives: largest total unpacked size
    source_label: str | None = None  # how the report names the source (default: its path)
    check_only: bool = False  # validate and report what a load would do, then roll it back
    outside_china: bool = False  # rows may lie anywhere (demonstration data over foreign imagery)
    area: str | None = None  # admin code of the caller's area: rows outside it, or updating rows outside it, are errors
