"""Errors of the OGC API layer, each a kind of :mod:`urbangis.layers.errors` with its status;
``api`` maps them all in one place."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import psycopg

from urbangis.layers.errors import Invalid, NotFound


class InvalidParameter(Invalid):
    """A query parameter is unknown, malformed or out of range (400)."""


class CollectionNotFound(NotFound):
    """No published collection has this id (404)."""


class FeatureNotFound(NotFound):
    """The collection has no feature with this id (404)."""


# What PostgreSQL/PostGIS raise for values that pass our checks but not theirs: an invalid
# polygon in a filter, a coordinate outside a projection, a comparison of incompatible types.
REJECTED_VALUES = (psycopg.errors.DataError, psycopg.errors.UndefinedFunction, psycopg.errors.InternalError_)


@contextmanager
def values_checked_by_database() -> Iterator[None]:
    """Run a statement built from a request's values: what the database refuses of them is the
    client's to fix (400, with PostgreSQL's words), not a server error."""
    try:
        yield
    except REJECTED_VALUES as exc:
        message = (exc.diag.message_primary or str(exc)).strip()
        raise InvalidParameter(f"the database rejected the request: {message}") from None
