"""The URI a signed request is verified against (api/auth.py ``request_url``) is Starlette's
``request.url`` exactly, whether spelled directly (the common request) or left to Starlette."""
from __future__ import annotations

import pytest
from starlette.requests import Request

from urbangis.api.auth import request_url

HOSTS = [b"127.0.0.1:8011", b"localhost", b"gis.example.cn", b"GIS.Example.CN:443", b"a-b.c:0080", b"h:65535",
         b"h:65536", b"h:123456", b"[::1]:8000", b"[fe80::1]", b"bad host", b"h/x", b"h@evil", b"h:", b"",
         b"\xe5\x9f\x8e\xe7\xae\xa1.cn", None]
PATHS = ["/collections/buildings/items", "/", "/cases/C1/events", "//double", "/a%3Fb", "/a?b", "/a#b", "/a\\b",
         "*", "", "/城管/案件", "/tiles/WebMercatorQuad/14/1/2"]
QUERIES = [b"", b"x=\xff", b"limit=100&bbox=87.5,43.7,87.6,43.8", b"q=%E5%9F%8E", b"a=1#frag", b"f=json&f=html"]


def scope_of(host: bytes | None, path: str, query: bytes, scheme: str = "http") -> dict:
    headers = [(b"accept", b"*/*")] + ([(b"host", host)] if host is not None else [])
    return {"type": "http", "method": "GET", "scheme": scheme, "server": ("127.0.0.1", 8011), "path": path,
            "raw_path": path.encode(), "query_string": query, "headers": headers, "root_path": ""}


@pytest.mark.parametrize("scheme", ["http", "https", "ws"])
def test_the_same_url_as_starlette(scheme):
    compared = 0
    for host in HOSTS:
        for path in PATHS:
            for query in QUERIES:
                scope = scope_of(host, path, query, scheme)
                try:
                    expected = str(Request(scope).url)
                except Exception as exc:  # (Starlette refuses it: so must we, the same way)
                    with pytest.raises(type(exc)):
                        request_url(Request(scope))
                    continue
                assert request_url(Request(scope)) == expected, (host, path, query)
                compared += 1
    assert compared > 400


def test_the_common_request_does_not_build_starlettes_url():
    request = Request(scope_of(b"127.0.0.1:8011", "/collections/buildings/items", b"limit=100"))
    assert request_url(request) == "http://127.0.0.1:8011/collections/buildings/items?limit=100"
    assert not hasattr(request, "_url")  # (spelled directly, not through request.url)
    odd = Request(scope_of(b"[::1]:8011", "/a", b""))
    assert request_url(odd) == "http://[::1]:8011/a" and hasattr(odd, "_url")
