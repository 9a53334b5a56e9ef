"""The routers' first look at a path (api/route_heads.py) leaves out only routers that could not
have matched: every route of the app, asked with a path of its own shape and with paths of no
route, is answered by the same route (or none, or the same 405) as without it."""
from __future__ import annotations

import re

from starlette.routing import Match

from urbangis.api import route_heads
from urbangis.api.app import create_app


def _resolve(app, path: str, method: str, guarded: bool):
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}
    partial = None
    for entry in app.router.routes:
        matches = entry.matches if guarded else getattr(entry.matches, "__wrapped__", entry.matches)
        match, child = matches(scope)
        if match == Match.FULL:
            return "full", entry, child.get("endpoint")
        if match == Match.PARTIAL and partial is None:
            partial = ("partial", entry, child.get("endpoint"))
    return partial or ("none", None, None)


def test_first_look_changes_no_answer():
    app = create_app("host=/nowhere dbname=none")
    routed = [e for e in app.router.routes if getattr(e, "original_router", None) is not None]
    guarded = [e for e in routed if hasattr(e.matches, "__wrapped__")]
    assert len(guarded) == len(routed) >= 10  # every router of ours has one
    paths = []
    for entry in routed:
        for route in entry.original_router.routes:
            concrete = re.sub(r"\{[^}]+\}", "x1", route.path)
            for method in sorted(route.methods or {"GET"}):
                paths.append((concrete, method))
            paths.append((concrete, "DELETE"))  # a method the route may not have: the same 405 or not
            paths.append((concrete + "/", "GET"))  # the trailing-slash variant
    paths += [("/", "GET"), ("/nowhere", "GET"), ("/cases", "GET"), ("/casesx", "POST"), ("", "GET"),
              ("/collections", "POST"), ("/ingest", "GET"), ("/ingest/", "GET")]
    full = 0
    for path, method in paths:
        got, want = _resolve(app, path, method, True), _resolve(app, path, method, False)
        assert got == want, (path, method, got, want)
        full += got[0] == "full"
    assert full >= 60  # the paths of the routes were found (not all "none")


def test_beginnings_stop_at_the_first_parameter():
    class R:
        def __init__(self, path):
            self.path = path

    class Router:
        routes = [R("/cases"), R("/cases/{case_no}/events"), R("/cases/check"), R("/{any}")]

    assert route_heads.beginnings(Router()) == ("/cases", "/cases/", "/cases/check", "/")
    assert route_heads.beginnings(Router(), "/api") == ("/api/cases", "/api/cases/", "/api/cases/check", "/api/")

    class Nested:
        routes = [R("/a"), type("Inc", (), {"original_router": Router(), "path": "/b"})()]

    assert route_heads.beginnings(Nested()) is None  # a nested router: no shortcut


def test_the_path_is_read_as_starlette_reads_it():
    from starlette._utils import get_route_path  # (private: compared with, not used)

    for path, root in [("/cases", ""), ("/api/cases", "/api"), ("/api", "/api"), ("/apix/cases", "/api"),
                       ("/other", "/api"), ("/", "/")]:
        scope = {"type": "http", "path": path, "root_path": root}
        assert route_heads._route_path(scope) == get_route_path(scope), (path, root)
