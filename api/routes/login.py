"""People log in (the map and ingest pages): ``GET /login`` (the page), ``POST /login`` (a form or
JSON: login, password, one-time code), ``POST /logout``, ``GET /whoami``. A session is a cookie
scripts cannot read (HttpOnly, SameSite=Strict, Secure over https). docs/access.md."""
from __future__ import annotations

import asyncio
import urllib.parse

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from urbangis.access.audit import Entry
from urbangis.access.people import LoginFailed
from urbangis.layers.errors import Conflict, Invalid, TooManyRequests, Unauthorized

from ..auth import COOKIE, caller_of
from ..services import services_of
from .maps import STATIC

router = APIRouter(tags=["people"])
OFFERS = [("login", "/login", "text/html", "Log in (staff of the map and ingest pages)")]


def install(app: FastAPI) -> None:
    app.include_router(router)


@router.get("/login", summary="The login page (HTML)", response_class=FileResponse)
def login_page() -> FileResponse:
    return FileResponse(STATIC / "login.html", media_type="text/html")


async def _form(request: Request) -> dict:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            doc = await request.json()
        except ValueError:
            raise Invalid("the body is not JSON: send {\"login\": ..., \"password\": ..., \"totp\": ...}") from None
        if not isinstance(doc, dict):
            raise Invalid("send a JSON object: {\"login\": ..., \"password\": ..., \"totp\": ...}")
        return {k: str(v) for k, v in doc.items() if v is not None}
    return {k: str(v) for k, v in (await request.form()).items()}


@router.post("/login", summary="Log in: a session cookie (HttpOnly) for the pages",
             responses={401: {"description": "wrong login or password, a missing one-time code, or locked out"},
                        409: {"description": "access control is off on this server: there is nothing to log in to"}})
async def login(request: Request) -> Response:
    services = services_of(request)
    access = services.access
    if not access.enabled:
        raise Conflict("access control is off on this server (URBANGIS_AUTH=off): there is nothing to log in to")
    peer = request.client.host if request.client else ""
    wait = access.logins.wait_for(peer)
    if wait:
        raise TooManyRequests(f"too many login attempts from {peer}; retry in {wait} s", retry_after=wait)
    form = await _form(request)
    who, password = form.get("login", "").strip(), form.get("password", "")
    if not who or not password:
        raise Invalid("login and password are both needed", parameter="login" if not who else "password")
    try:
        token, person = await asyncio.to_thread(access.login, who, password, form.get("totp"))
    except LoginFailed as exc:
        access.record(Entry(actor=who[:64], action="login-failed", target="POST /login", status=401, client=peer,
                            detail={"reason": exc.reason}))
        if "application/json" not in request.headers.get("content-type", ""):
            back = "/login?" + urllib.parse.urlencode({"error": exc.public, "next": form.get("next", "/map")})
            return RedirectResponse(back, status_code=303)
        raise Unauthorized(exc.public) from None
    access.record(Entry(actor=person.login, action="login", target="POST /login", status=200, role=person.role,
                        area=person.area, client=peer))
    nxt = form.get("next", "")
    if "application/json" in request.headers.get("content-type", ""):
        answer: Response = JSONResponse({"login": person.login, "role": person.role, "area": person.area})
    else:
        safe = nxt if nxt.startswith("/") and not nxt.startswith("//") else "/map"
        answer = RedirectResponse(safe, status_code=303)
    secure = request.url.scheme == "https" or (services.settings.server.public_url or "").startswith("https:")
    answer.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/")
    return answer


@router.post("/logout", summary="End the session", status_code=204)
async def logout(request: Request) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        await asyncio.to_thread(services_of(request).access.logout, token)
    answer = Response(status_code=204)
    answer.delete_cookie(COOKIE, path="/")
    return answer


@router.get("/whoami", summary="Who the request is: login or key, role, area")
async def whoami(request: Request) -> dict:
    caller = await caller_of(request)
    return {"actor": caller.actor, "role": caller.role, "area": caller.area, "via": caller.via}
