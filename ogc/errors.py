"""Errors of the OGC API layer as types; ``api`` maps them to HTTP statuses (400, 404)."""
from __future__ import annotations


class OgcError(Exception):
    """A request the client can fix; the message says which parameter and value were wrong."""

    status = 400
    code = "InvalidParameterValue"

    def __init__(self, description: str, **details) -> None:
        super().__init__(description)
        self.description = description
        self.details = {k: v for k, v in details.items() if v is not None}


class InvalidParameter(OgcError):
    """A query parameter is unknown, malformed or out of range (400)."""


class CollectionNotFound(OgcError):
    """No published collection has this id (404)."""

    status, code = 404, "NotFound"


class FeatureNotFound(OgcError):
    """The collection has no feature with this id (404)."""

    status, code = 404, "NotFound"
