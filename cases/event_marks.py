"""Which case events a server process has read: the highest id, and the ids below it that were not
there when it read (a transaction that took its id earlier and committed later, or one that rolled
back), asked for again until they come or are too old to come.

Identity values are handed out when a row is inserted, not when it commits, so a reader asking only
for ids above the highest it has seen would miss a slower transaction's event. Was: each refresh
(once a second) read the last 10,000 events again, ~85 ms of the server's CPU and as much of
PostgreSQL's a second under steady intake; now it reads the new events and the few ids missing.
"""
from __future__ import annotations

from typing import Iterable

GAP_TTL = 300.0  # seconds an id missing below the mark is asked for (a transaction open that long is lost)
MAX_GAPS = 100_000  # ids asked for at most (the oldest dropped first)
RECENT = 10_000  # after a full read: how far below its last event an uncommitted one may lie
AFTER_READ = 60.0  # seconds the ids missing at a full read are asked for


class EventMarks:
    """The highest event id read (``mark``) and the ids below it still missing (``gaps``, each
    with the time it was first missed)."""

    def __init__(self, mark: int = 0) -> None:
        self.mark = mark
        self.gaps: dict[int, float] = {}

    @classmethod
    def after_read(cls, last: int, present: Iterable[int], now: float) -> EventMarks:
        """Marks after a full read whose snapshot held events up to ``last`` and, of the ids in
        (``last`` - RECENT, ``last``], those in ``present``: the others are asked for during
        AFTER_READ seconds (mostly events of cases deleted since; a transaction still open at the
        read has committed or rolled back by then)."""
        marks = cls(max(last - RECENT, 0))
        marks.seen(present, now - GAP_TTL + AFTER_READ, upto=last)
        return marks

    def seen(self, ids: Iterable[int], now: float, upto: int = 0) -> None:
        """Ids just read (and, with ``upto``, the highest id known handed out): those missing
        between the old mark and the new one become gaps; gaps older than GAP_TTL, or over
        MAX_GAPS, are given up."""
        got = set(ids)
        for i in got:
            self.gaps.pop(i, None)
        top = max(max(got, default=self.mark), upto)
        if top > self.mark:
            # (ids more than MAX_GAPS below the top would be given up at once: a jump of the
            # sequence, after a restore say, is not walked id by id)
            for i in range(max(self.mark + 1, top - MAX_GAPS), top + 1):
                if i not in got:
                    self.gaps[i] = now
            self.mark = top
        if self.gaps:
            for i in [i for i, t in self.gaps.items() if now - t > GAP_TTL]:
                del self.gaps[i]
            over = len(self.gaps) - MAX_GAPS
            if over > 0:
                for i in sorted(self.gaps)[:over]:
                    del self.gaps[i]

    def wanted(self) -> tuple[int, list[int]]:
        """(the mark, the gaps): a catch-up reads ids above the one and those in the other."""
        return self.mark, sorted(self.gaps)
