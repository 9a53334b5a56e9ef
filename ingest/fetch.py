"""What a query is known to return, checked: the one row of a count, an EXISTS, an aggregate, an
INSERT ... RETURNING or an UPDATE ... RETURNING of a row known to be there; the column names of a
SELECT. psycopg types both as possibly None."""
from __future__ import annotations

from typing import Any, TypeVar

import psycopg

R = TypeVar("R")


def one(cur: psycopg.Cursor[R]) -> R:
    """The one row ``cur`` returned."""
    row = cur.fetchone()
    if row is None:  # such a query always returns a row: none is a bug, not bad data
        raise RuntimeError("a query that always returns a row returned none")
    return row


def names(cur: psycopg.Cursor[Any]) -> list[str]:
    """The names of the columns of the rows ``cur`` returns."""
    if cur.description is None:  # only a statement that returns no rows has none
        raise RuntimeError("a query that returns rows has no description")
    return [d.name for d in cur.description]
