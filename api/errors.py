"""Errors to responses, in one place. Every error body is JSON, ``{"code": ..., "description":
...}`` (the shape OGC API exceptions use), plus details that say where (parameter, value, row ...).

Domain errors carry their status (:mod:`urbangis.layers.errors`); errors of the libraries below
us are mapped by :data:`LIBRARY_ERRORS`. Routes translate nothing by hand."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping

import psycopg
import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from urbangis.layers.errors import UrbangisError

log = logging.getLogger("urbangis.api")

RETRY_AFTER = "5"  # seconds a client should wait before retrying a 503
# Errors raised by libraries, by type: status, code, what the client is told (the cause is logged).
LIBRARY_ERRORS: tuple[tuple[type[Exception], int, str, str], ...] = (
    # a row-level security policy refused a write (migration 0013): outside the caller's area
    (psycopg.errors.InsufficientPrivilege, 403, "Forbidden", "what was sent lies outside the caller's area"),
    (PoolTimeout, 503, "ServiceUnavailable", "every database connection of the server is busy; retry shortly"),
    # statement_timeout (URBANGIS_STATEMENT_TIMEOUT) stopped it; a subclass of OperationalError
    (psycopg.errors.QueryCanceled, 503, "ServiceUnavailable",
     "the request's database statement ran longer than the server allows and was stopped; retry, or ask for less"),
    (psycopg.OperationalError, 503, "ServiceUnavailable", "the database is unavailable"),
    # a value the database cannot take as sent (a NUL character in text, a number out of its
    # type's range): the client's; the reason is added to the answer (_library_handler)
    (psycopg.DataError, 400, "InvalidParameterValue", "a value sent cannot be stored as it is"),
)


def error_body(code: str, description: str, **details) -> dict:
    body = {"code": code, "description": description}
    body.update({k: _jsonable(v) for k, v in details.items() if v is not None})
    return body


@contextmanager
def parameter(name: str) -> Iterator[None]:
    """Errors raised within are said of the request parameter ``name`` (their status unchanged)."""
    try:
        yield
    except UrbangisError as exc:
        raise exc.at(name) from None


def _describe_validation(exc: RequestValidationError | pydantic.ValidationError) -> tuple[str, list[dict]]:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path"))
        problems.append({"parameter": where or None, "message": err.get("msg"), "value": err.get("input")})
    first = problems[0] if problems else {"parameter": None, "message": "invalid request"}
    text = f"{first['parameter']}: {first['message']}" if first["parameter"] else str(first["message"])
    return text, problems


def _response(status: int, body: dict, headers: Mapping[str, str] | None = None) -> JSONResponse:
    if status == 503:
        headers = {"Retry-After": RETRY_AFTER, **(headers or {})}
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Install the handlers: domain errors, request validation, HTTP errors, library errors, the rest."""

    @app.exception_handler(UrbangisError)
    async def _domain(request: Request, exc: UrbangisError) -> JSONResponse:
        if exc.status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc.description)
        return _response(exc.status, error_body(exc.code, exc.description, **exc.details), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        text, problems = _describe_validation(exc)
        return _response(400, error_body("InvalidParameterValue", text, errors=problems))

    # a model a route builds from a request's values (GET /cases/check's query into a report)
    @app.exception_handler(pydantic.ValidationError)
    async def _model(_: Request, exc: pydantic.ValidationError) -> JSONResponse:
        text, problems = _describe_validation(exc)
        return _response(400, error_body("InvalidParameterValue", text, errors=problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "NotFound" if exc.status_code == 404 else "HTTPError"
        headers = exc.headers
        if exc.status_code == 405:  # Starlette's Allow names one route's methods; say every route's at this path
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(request))}
        return _response(exc.status_code, error_body(code, str(exc.detail)), headers)

    for kind, status, code, description in LIBRARY_ERRORS:
        app.add_exception_handler(kind, _library_handler(status, code, description))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _response(500, error_body("InternalError", "internal error; it has been logged"))


def _library_handler(status: int, code: str, description: str):
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        if status < 500 and isinstance(exc, psycopg.DataError):  # what about the value was wrong
            return _response(status, error_body(code, f"{description}: {str(exc).splitlines()[0]}"))
        return _response(status, error_body(code, description))

    return handle


def _allowed(request: Request) -> list[str]:
    """The methods some route takes at the request's path, asked of the routes themselves."""
    routes = request.app.router.routes
    return [method for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
            if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)]


# -- the OpenAPI document says what the handlers above answer ---------------------------------
ERROR_SCHEMA = {
    "type": "object", "required": ["code", "description"],
    "properties": {
        "code": {"type": "string", "example": "InvalidParameterValue"},
        "description": {"type": "string", "description": "what was wrong, and where"},
        "parameter": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def error_response(description: str) -> dict:
    """An OpenAPI response whose body is the Error object."""
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def document_errors(app: FastAPI, *more: Callable[[dict], None]) -> None:
    """FastAPI documents a 422 for every operation with parameters; this server answers a request
    it cannot take with 400 (and an unknown thing in a path with 404), in the Error shape. Rewrite
    the generated document to say so, once, after every route is included; ``more`` are further
    rewrites of the document (a family's parameters whose limits come from the settings)."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = ERROR_SCHEMA
        for path, item in spec.get("paths", {}).items():
            for op in item.values():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                responses = op["responses"]
                if responses.pop("422", None) is not None or op.get("parameters") or op.get("requestBody"):
                    responses.setdefault("400", error_response("Bad request: the body says which parameter or "
                                                               "value is wrong, and why"))
                if op.get("requestBody"):
                    responses.setdefault("413", error_response("The body is over the server's limit "
                                                               "(URBANGIS_AUTH_MAX_BODY_KB, or the upload's own)"))
                if "{" in path:
                    responses.setdefault("404", error_response("Not found: nothing of that name or id"))
                if op.get("security"):
                    responses.setdefault("401", error_response("The token is missing or wrong"))
                _mark_required(op)
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        for rewrite in more:
            rewrite(spec)
        app.openapi_schema = spec
        return spec

    # FastAPI's documented way to change the generated document is to replace the app's ``openapi``;
    # its class declares a method there, which mypy will not let an instance attribute replace.
    app.openapi = openapi  # type: ignore[method-assign]


def contract_requires(*names: str) -> dict:
    """`openapi_extra` of a route whose handler takes these query parameters as optional only to
    answer their absence with its own message ("q is required: the address to geocode") instead of
    the validator's: the document still says they are required (a client generated from it must
    send them), a string with something other than spaces in it."""
    return {"x-urbangis-required": list(names)}


def _mark_required(op: dict) -> None:
    names = op.pop("x-urbangis-required", None)
    for param in op.get("parameters", []) if names else ():
        if param.get("in") != "query" or param.get("name") not in names:
            continue
        schema = param.get("schema", {})
        kinds = [s for s in schema.pop("anyOf", []) if s.get("type") != "null"]
        if kinds:
            schema.update(kinds[0])
        schema.pop("default", None)
        if schema.get("type") == "string":
            schema.update(minLength=1, pattern=r"\S")
        param["required"] = True


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value if not isinstance(value, str) else value[:200]
    return str(value)[:200]
