"""HEAD on every GET route: HTTP requires a server that answers GET to answer HEAD with the same
status and headers and no body (RFC 9110 section 9.3.2); FastAPI's routes answer GET only, and
GDAL's /vsicurl/ (which asks HEAD before reading a tile) failed on the 405. A pure ASGI wrapper:
the request runs as GET and the body is dropped, its Content-Length kept."""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SENT = "urbangis.sent_method"  # the scope key of the method a HEAD request was sent with


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # a streamed body: its parts are dropped, the last one ends the answer
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # the method as sent stays known: a signature covers it (api/auth.py)
        await self.app({**scope, "method": "GET", SENT: "HEAD"}, receive, headers_only)
