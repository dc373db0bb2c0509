"""aiohttp's own server: ``plaintext`` and ``json`` (``web.Response`` / ``web.json_response``).

Served by :func:`benchmarks.servers.serve_aiohttp` (``web.AppRunner`` + ``web.SockSite`` on the
process's event loop, no access log).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

HELLO = "Hello, World!"


async def plaintext(request: web.Request) -> web.Response:
    return web.Response(text=HELLO, content_type="text/plain")


async def json_endpoint(request: web.Request) -> web.Response:
    return web.json_response({"message": HELLO})  # serialised per request


HANDLERS: dict[str, Any] = {"plaintext": plaintext, "json": json_endpoint}


def build(handlers: dict[str, Any]) -> web.Application:
    from benchmarks.servers import TEST_TYPES

    app = web.Application()
    for test, handler in handlers.items():
        app.router.add_get(TEST_TYPES[test].route, handler)
    return app
