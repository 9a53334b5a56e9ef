"""The kinds of error a request or an input can cause, each with its HTTP status.

Every domain error of the packages derives from one of these (``ogc.errors.InvalidParameter``
is an :class:`Invalid`, ``tiles.tms.TileError`` a :class:`NotFound`, ``ingest.formats.ReadError``
an :class:`UnsupportedMediaType` ...), so the API maps them to responses in one place
(``api/errors.py``) and no route translates an error by hand. They live here, at the bottom of
the packages, because every domain package may raise them and none may import ``api``.
"""
from __future__ import annotations


class UrbangisError(Exception):
    """An error with a status and a machine-readable code; ``details`` (parameter, value, row,
    field ...) say where, and go into the JSON error body beside ``description``."""

    status = 500
    code = "InternalError"
    headers: dict[str, str] | None = None

    def __init__(self, description: str, **details: object) -> None:
        super().__init__(description)
        self.description = description
        self.details = {k: v for k, v in details.items() if v is not None}

    def at(self, parameter: str) -> UrbangisError:
        """This error, said of the request parameter ``parameter`` (a value was parsed by a domain
        function that does not know which parameter carried it)."""
        if "parameter" not in self.details:
            self.details["parameter"] = parameter
            self.description = f"{parameter}: {self.description}"
            self.args = (self.description,)
        return self


class Invalid(UrbangisError):
    """A value the client sent cannot be used (400)."""

    status, code = 400, "InvalidParameterValue"


class Unauthorized(UrbangisError):
    """The request carries no credentials, or wrong ones (401)."""

    status, code = 401, "Unauthorized"


class NotFound(UrbangisError):
    """Nothing has that name or id (404)."""

    status, code = 404, "NotFound"


class Conflict(UrbangisError):
    """The request does not fit the current state of the thing it names (409)."""

    status, code = 409, "Conflict"


class TooLarge(UrbangisError):
    """The request or upload is over a limit (413)."""

    status, code = 413, "PayloadTooLarge"


class UnsupportedMediaType(UrbangisError):
    """The body or file is of a type that is not read here (415)."""

    status, code = 415, "UnsupportedMediaType"


class Unavailable(UrbangisError):
    """A part the answer needs is not ready or not reachable; retry later (503)."""

    status, code = 503, "ServiceUnavailable"


class Forbidden(UrbangisError):
    """The caller is known but its role may not do this (403)."""

    status, code = 403, "Forbidden"


class UriTooLong(UrbangisError):
    """The request target is over the server's limit (414)."""

    status, code = 414, "URITooLong"


class TooManyRequests(UrbangisError):
    """The caller is over its rate (429, with Retry-After: the whole seconds to wait)."""

    status, code = 429, "TooManyRequests"

    def __init__(self, description: str, retry_after: int, **details: object) -> None:
        super().__init__(description, retry_after=retry_after, **details)
        self.headers = {"Retry-After": str(retry_after)}
