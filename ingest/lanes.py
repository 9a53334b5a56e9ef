"""What the stages of one layer's load (ingest/gazetteer.py: prepare, choose the lane, load) hand
each other: the file made ready to load (:class:`Prepared`) and the lane chosen for it
(:class:`Lane`: the direct COPY of ingest/direct.py, or the staged upsert). Data only."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from urbangis.layers.contract import Layer

    from .crs import SourceCRS
    from .formats.base import LayerReader
    from .plan import Task
    from .report import LayerReport
    from .validate import RowConverter


@dataclass(frozen=True)
class Prepared:
    """One file (sheet, feature class) opened, its columns matched, its converter built, its CRS decided."""

    task: Task
    reader: LayerReader
    mapping: dict[str, str]  # the file's column for each field of the layer
    converter: RowConverter
    source: SourceCRS
    outlines: bool  # what this file says of the layer's geometry (False: a code list of admin areas)
    total: int | None  # the reader's exact row count and estimate when it was prepared
    expected: int | None
    result: LayerReport  # the layer's entry in the load's report, filled in by the stages
    t0: float  # when the layer's load started (time.perf_counter)

    @property
    def layer(self) -> Layer:
        """The contract layer the file goes to."""
        return self.task.layer


@dataclass(frozen=True)
class Lane:
    """How a prepared file goes into its layer: ``direct`` COPY (ingest/direct.py) or the staged upsert."""

    direct: bool
    aside: bool = False  # built in a new table swapped in for the layer's at the end (ingest/swap.py)
    replacing: bool = False  # this file replaces the layer (--replace, and the first file of its layer)
    keep_indexes: bool = False  # rows were deleted from a table other tables' deferred foreign keys point at
    finish: bool = True  # False: the last layer of a check; the direct lane builds no index and swaps nothing
