"""Byte ranges (RFC 9110 section 14) of an answer held in memory: a tile.

Files on disk (the static pages, a load's reports) go through Starlette's FileResponse, which
answers ranges itself; a tile is bytes made by PostGIS or read from the cache, for which neither
Starlette nor FastAPI offers ranges, so the single-range case GDAL's /vsicurl/ sends is written
here. Several ranges in one request are answered with the whole body (RFC 9110 allows it)."""
from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response

_SINGLE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def wanted(request: Request, etag: str | None) -> str | None:
    """The Range header to honour, or None for the whole body (none given, or an If-Range that
    does not match: our ETags are weak, and If-Range compares strongly)."""
    header = request.headers.get("range")
    if not header:
        return None
    if_range = request.headers.get("if-range")
    if if_range is not None and (etag is None or etag.startswith("W/") or if_range.strip() != etag):
        return None
    return header


def answer(body: bytes, header: str, media_type: str, headers: dict[str, str]) -> Response | None:
    """A 206 with the requested bytes of ``body``, a 416 when the range lies past its end, or None
    when ``header`` is not one byte range (then the whole body is sent, as RFC 9110 allows)."""
    m = _SINGLE.match(header)
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    size = len(body)
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
        if m.group(2) and int(m.group(2)) < start:
            return None  # an invalid range is ignored (RFC 9110 14.2)
    else:  # the last N bytes
        start, end = max(size - int(m.group(2)), 0), size - 1
    if start >= size or size == 0:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    return Response(body[start:end + 1], status_code=206, media_type=media_type,
                    headers={**headers, "Content-Range": f"bytes {start}-{end}/{size}"})
