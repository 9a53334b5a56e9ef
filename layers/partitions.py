"""The month partitions of ``cases`` (migration 0015): made ahead, made for a month on demand, and
the rows of the default partition moved into their months.

A partition is named ``cases_YYYYMM`` for the month of the session's time zone (Beijing time unless
configured). Intake asks for its case's month once per process and month (the answer is kept);
the server makes this month's and the next months' at start and each new day, and settles the
default partition then; a load that brought cases of months without a partition (they land in
``cases_default``, where they are still found, only not pruned) settles them at its end, in its
transaction. Making a partition waits at most 2 s for its locks (migration 0016), else leaves
the rows in the default partition. The work is SQL functions of the migration, run
with the owner's rights: the API's role owns nothing.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import psycopg

log = logging.getLogger("urbangis.layers")

BY_MONTH = frozenset({"cases"})  # the tables partitioned by month whose loads settle() ends
AHEAD_MONTHS = 2  # months made ahead of the current one at start


class Months:
    """The months whose partition this process knows to exist."""

    def __init__(self) -> None:
        self._known: set[tuple[int, int]] = set()
        self._lock = threading.Lock()

    def ensure(self, conn: psycopg.Connection, day: dt.date) -> None:
        """Make the partition of ``day``'s month unless this process saw it made (autocommit
        connection or the caller's transaction)."""
        month = (day.year, day.month)
        with self._lock:
            if month in self._known:
                return
        if _value(conn.execute("SELECT urbangis_cases_partition(%s)", (day,))):
            log.info("cases: partition of %04d-%02d made", *month)
        with self._lock:
            self._known.add(month)


def ahead(conn: psycopg.Connection, today: dt.date, months: int = AHEAD_MONTHS) -> int:
    """Make the partitions of ``today``'s month and the ``months`` after it; how many were made."""
    made = 0
    y, m = today.year, today.month
    for _ in range(months + 1):
        made += bool(_value(conn.execute("SELECT urbangis_cases_partition(%s)", (dt.date(y, m, 1),))))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return made


def settle(conn: psycopg.Connection) -> int:
    """Move the default partition's rows into partitions of their months (made as needed); how
    many partitions were made."""
    made = _value(conn.execute("SELECT urbangis_cases_settle()"))
    if made:
        log.info("cases: %d month partitions made for the rows loaded", made)
    return int(made)


def _value(cur: psycopg.Cursor) -> Any:
    """The one value of a function's call."""
    row = cur.fetchone()
    if row is None:  # a SELECT of a function always returns a row
        raise RuntimeError("a function call returned no row")
    return row[0]
