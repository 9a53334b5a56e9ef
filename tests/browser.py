"""Debian's Chromium, headless, driven by Playwright, for the tests of the server's web pages.
Only the local server is reachable; nothing is loaded from the internet."""
from __future__ import annotations

import tempfile
from contextlib import contextmanager

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # WebGL without a GPU: SwiftShader, which Chromium now wants asked for by name
    "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
]


@contextmanager
def chromium(viewport=(1200, 800)):
    """A browser context with a fresh profile."""
    with tempfile.TemporaryDirectory(prefix="urbangis-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": viewport[0], "height": viewport[1]})
        try:
            yield context
        finally:
            context.close()


def new_page(context, server: str):
    """A new tab that records every request leaving ``server`` in ``page.outside_requests``."""
    pg = context.new_page()
    outside: list[str] = []

    def note(req) -> None:
        if not req.url.startswith((server, "data:", "blob:")):
            outside.append(req.url)

    pg.on("request", note)
    pg.outside_requests = outside
    return pg
