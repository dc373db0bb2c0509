"""Starlette on uvicorn: ``plaintext`` and ``json`` as async endpoints (Starlette's own way)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

HELLO = "Hello, World!"


async def plaintext(request: Request) -> Response:
    return PlainTextResponse(HELLO)


async def json_endpoint(request: Request) -> Response:
    return JSONResponse({"message": HELLO})  # serialised per request


HANDLERS: dict[str, Any] = {"plaintext": plaintext, "json": json_endpoint}


def build(handlers: dict[str, Any]) -> Starlette:
    from benchmarks.servers import TEST_TYPES

    return Starlette(routes=[Route(TEST_TYPES[t].route, h) for t, h in handlers.items()])
