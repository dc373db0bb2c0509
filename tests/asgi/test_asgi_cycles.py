"""Behind ``tornadopy.asgi`` a finished request is freed by reference counting (no cycle).

The request's connection is the ASGI request cycle, which held the delegate, which holds the
request: a reference cycle that left every request for the cyclic garbage collector (see
``tests/test_reference_cycles.py`` for Tornado's own server and ``benchmarks/README.md``,
"Reference cycles"). The application is called here as an ASGI server calls it, in process,
with the collector off; a weak reference taken in the handler must be dead once the call and
the request's end hooks are over.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

from tornadopy import Url, route
from tornadopy.application import Application
from tornadopy.asgi import ASGIApplication
from tornadopy.conf import override_settings
from tornadopy.handler import WebHandler

SEEN: list[weakref.ref[Any]] = []


class Counter(WebHandler):
    async def get(self) -> None:
        SEEN.append(weakref.ref(self))
        count = (await self.session.get("count", 0)) + 1
        await self.session.set("count", count)
        self.write({"count": count})


async def _call(app: Any, cookie: bytes) -> list[dict[str, Any]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/count",
        "raw_path": b"/count",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"cookie", cookie)],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_an_asgi_request_is_freed_without_the_cycle_collector() -> None:
    with override_settings(
        CACHES={
            "sessions": {
                "BACKEND": "tornadopy.cache.backends.localcache.LocMemCache",
                "LOCATION": "asgi-cycles",
            }
        },
        SESSION={"session_cache_alias": "sessions", "secret_key": "asgi-cycles-" + "s" * 24},
        MIDDLEWARE_CLASSES=["tornadopy.middleware.session.SessionMiddleware"],
    ):
        app = ASGIApplication(Application(urls=route(Url()("/count", Counter))))
        first = await _call(app, b"")
        assert first[0]["status"] == 200
        cookie = next(v for k, v in first[0]["headers"] if k == b"set-cookie").split(b";")[0]
        gc.collect()
        SEEN.clear()
        gc.disable()
        try:
            sent = await _call(app, cookie)
            for _ in range(50):  # the end hooks may finish just after the response went out
                if SEEN[-1]() is None:
                    break
                await asyncio.sleep(0.01)
            freed = SEEN[-1]() is None
        finally:
            gc.enable()
        assert sent[0]["status"] == 200 and b'"count": 2' in sent[-1]["body"]
        assert freed, "the handler outlived its ASGI request: a reference cycle"
        await app.shutdown()
