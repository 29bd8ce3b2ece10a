"""The pages and their static files, served by the node itself (no CDN, no build step)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from signaling.keys import CONFIG

PAGES = {"/": "index.html", "/officer": "officer.html", "/command": "command.html",
         "/review": "review.html"}


def _page(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        path = request.app[CONFIG].web_dir / name
        if not path.is_file():
            raise web.HTTPNotFound(text=f"this node has no page {request.path}")
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    return handler


def routes(web_dir: Path) -> list[web.AbstractRouteDef]:
    """Routes for the pages and /static/ (the web folder; no directory listings)."""
    table: list[web.AbstractRouteDef] = [web.get(p, _page(f)) for p, f in PAGES.items()]
    if web_dir.is_dir():
        table.append(web.static("/static", web_dir, show_index=False, follow_symlinks=False))
    return table
