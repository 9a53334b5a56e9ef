"""The shape every reader yields."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from urbangis.layers.errors import UnsupportedMediaType

from ..crs import SourceCRS


class ReadError(UnsupportedMediaType, ValueError):
    """A file could not be read (415: not a file of a kind read here, or damaged); the message names
    the file and what is wrong with it."""


class MissingParts(ReadError):
    """A file that comes in several parts arrived without one of them (400)."""

    status, code = 400, "InvalidParameterValue"


@dataclass(frozen=True)
class RowIssue:
    """One problem with one value of one row, found while reading or checking it."""

    row: int | None  # record number in the file (spreadsheet row for CSV/XLSX); None: whole file
    field: str | None
    value: object
    reason: str
    severity: str = "error"  # "error" rejects the row; "warning" is reported and loaded


@dataclass
class Batch:
    """Up to batch_size consecutive records.

    ``rows`` numbers them as a person finds them in the file; ``columns`` holds Python values per
    column; geometry is either ``wkb`` (bytes, straight from GDAL) or ``geoms`` (shapely).
    """

    rows: np.ndarray
    columns: dict[str, list]
    wkb: list | None = None
    geoms: np.ndarray | None = None
    issues: list[RowIssue] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def pieces(self, first: int) -> Iterator["Batch"]:
        """The batch cut into consecutive pieces of ``first``, twice that, four times ... rows.
        Each issue goes with one piece: the one holding its row, else (a row left out, blank) the
        first piece past it; whole-file ones and those of rows before the first with the first."""
        start, size, n = 0, first, len(self.rows)
        if n == 0:
            yield self
            return
        taken = 0
        issues = sorted(self.issues, key=lambda i: -1 if i.row is None else i.row)
        while start < n:
            end = min(n, start + size)
            hi = self.rows[end - 1]
            mine = len(issues) if end == n else next(
                (k for k in range(taken, len(issues)) if issues[k].row is not None and issues[k].row > hi), len(issues))
            yield Batch(self.rows[start:end], {k: v[start:end] for k, v in self.columns.items()},
                        wkb=None if self.wkb is None else self.wkb[start:end],
                        geoms=None if self.geoms is None else self.geoms[start:end], issues=issues[taken:mine])
            taken, start, size = mine, end, size * 2


class LayerReader(Protocol):
    path: Path
    layer: str | None
    columns: list[str]
    declared_crs: SourceCRS | None
    total: int | None  # exact, when the format says it (None: unknown)
    estimate: int | None  # about how many rows (the progress bar, the choice of lane): total where known
    has_geometry: bool
    warnings: list[RowIssue]

    @property
    def crs_error(self) -> str | None:
        """A declared CRS that cannot be used; fatal unless --source-crs overrides it."""

    def batches(self, size: int) -> Iterator[Batch]: ...
