"""Request dependencies shared by every router."""
from __future__ import annotations

from fastapi import Request
from psycopg_pool import ConnectionPool


def get_pool(request: Request) -> ConnectionPool:
    return request.app.state.pool


def base_url(request: Request) -> str:
    public = request.app.state.server_settings.public_url
    return (public or str(request.base_url)).rstrip("/")
