"""A finished request is freed by reference counting: no reference cycle keeps its handler.

A cycle through the handler (``handler.session -> session -> handler`` was one) leaves the
handler, its request, the connection objects and everything the request touched for the cyclic
garbage collector. Under load that is expensive: at 64 concurrent Redis session requests the
tornadopy served 0.68x raw Tornado's requests/s with the cycle, 0.93x without it
(``benchmarks/README.md``, "Reference cycles"). Each test runs requests with the collector disabled and checks, through a
weak reference taken in the handler, that the handler is gone once the request has ended.

Real parts: tornadopy's own server and middleware over loopback HTTP, sessions on local memory
and on the Redis server at 127.0.0.1:6379, tokens on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import uuid
import weakref
from typing import Any

import pytest

from tornadopy import Url, route
from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.handler import ApiHandler, WebHandler
from tornadopy.testing import require_service, serve

SECRET = "test-cycles-secret-0123456789abcdef"
#: weak references to the handlers of the requests served (the newest last)
SEEN: list[weakref.ref[Any]] = []


def _seen(handler: Any) -> None:
    SEEN.append(weakref.ref(handler))


class Plain(WebHandler):
    def get(self) -> None:
        _seen(self)
        self.write("hello")


class Json(ApiHandler):
    async def get(self) -> None:
        _seen(self)
        self.write_api({"ok": True})


class SessionCount(WebHandler):
    async def get(self) -> None:
        _seen(self)
        count = (await self.session.get("count", 0)) + 1
        await self.session.set("count", count)
        self.write({"count": count})


class SessionRead(WebHandler):
    async def get(self) -> None:
        _seen(self)
        self.write({"count": await self.session.get("count", 0)})


class Page(WebHandler):
    async def get(self) -> None:
        _seen(self)
        await self.session.get("count", 0)
        self.render("page.html", items=["a", "<b>"])


class TokenUse(WebHandler):
    async def get(self) -> None:
        _seen(self)
        if self.get_argument("login", None):
            self.write({"token": await self.token.save({"userID": "u1", "userName": "u"})})
        else:
            self.write({"user": await self.token.get_current_user()})


class Fail(WebHandler):
    async def get(self, kind: str) -> None:
        _seen(self)
        if kind == "error":
            raise RuntimeError("boom")
        if kind == "redirect":
            self.redirect("/plain")
            return
        await self.session.set("x", 1)
        self.send_error(404)


u = Url()
URLS = route(
    u("/plain", Plain),
    u("/json", Json),
    u("/count", SessionCount),
    u("/read", SessionRead),
    u("/token", TokenUse),
    u("/page", Page),
    u(r"/fail/(\w+)", Fail),
)


def _caches(kind: str, prefix: str) -> dict[str, Any]:
    if kind == "locmem":
        store = {"BACKEND": "tornadopy.cache.backends.localcache.LocMemCache", "LOCATION": prefix}
    else:
        store = {
            "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
            "LOCATION": "127.0.0.1:6379",
            "OPTIONS": {"DB": 13},
        }
    return {
        "sessions": {**store, "KEY_PREFIX": prefix},
        "tokens": {
            "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
            "LOCATION": "127.0.0.1:6379",
            "KEY_PREFIX": prefix + "t",
            "OPTIONS": {"DB": 13},
        },
    }


@contextlib.asynccontextmanager
async def site(kind: str, **settings: Any):
    require_service("Redis", "127.0.0.1", 6379)
    prefix = "cyc" + uuid.uuid4().hex[:10]
    with override_settings(
        CACHES=_caches(kind, prefix),
        SESSION={"session_cache_alias": "sessions", "secret_key": SECRET},
        TOKEN={"token_cache_alias": "tokens", "secret_key": SECRET},
        MIDDLEWARE_CLASSES=[
            "tornadopy.middleware.accesslog.AccessLogMiddleware",
            "tornadopy.middleware.requestid.RequestIdMiddleware",
            "tornadopy.middleware.session.SessionMiddleware",
            "tornadopy.middleware.token.TokenMiddleware",
            "tornadopy.middleware.signal.SignalMiddleware",
            "tornadopy.middleware.dbalchemy.DBAlchemyMiddleware",
        ],
        **settings,
    ):
        async with serve(Application(urls=URLS)) as client:
            yield client


@contextlib.contextmanager
def _logs_not_kept():
    """pytest's log capture keeps every record, and an error's record holds its traceback (and
    through it the handler's frames): these loggers' records are dropped for the test instead."""
    names = ("tornado.application", "tornado.access", "tornado.general", "tornadopy.accesslog")
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate, logger.handlers[:]))
        logger.propagate = False
        logger.handlers[:] = [logging.NullHandler()]
    try:
        yield
    finally:
        for logger, propagate, handlers in saved:
            logger.propagate = propagate
            logger.handlers[:] = handlers


async def _handler_freed(client: Any, path: str, **kwargs: Any) -> tuple[int, bool]:
    """GET ``path`` with the cyclic collector off; (status, was the handler freed?)."""
    gc.collect()
    SEEN.clear()
    gc.disable()
    try:
        with _logs_not_kept():
            resp = await client.get(path, **kwargs)
            # the end hooks may finish just after the response went out
            for _ in range(50):
                if SEEN and SEEN[-1]() is None:
                    break
                await asyncio.sleep(0.01)
        assert SEEN, f"{path}: the handler did not run"
        return resp.code, SEEN[-1]() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("kind", ["locmem", "redis"])
async def test_a_finished_request_is_freed_without_the_cycle_collector(
    kind: str, tmp_path: Any
) -> None:
    (tmp_path / "page.html").write_text("{% for i in items %}<li>{{ i }}</li>{% end %}")
    async with site(kind, TORNADO_CONF={"template_path": str(tmp_path)}) as client:
        await client.get("/count")  # the session exists from here on
        for path, status in [
            ("/plain", 200),
            ("/json", 200),
            ("/count", 200),
            ("/read", 200),
            ("/page", 200),
            ("/fail/redirect", 302),
            ("/fail/send_error", 404),
            ("/fail/error", 500),
        ]:
            code, freed = await _handler_freed(client, path)
            assert code == status, (path, code)
            assert freed, f"{kind} {path}: the handler is still alive -- a reference cycle"


async def test_a_token_request_is_freed_without_the_cycle_collector() -> None:
    async with site("redis") as client:
        code, freed = await _handler_freed(client, "/token?login=1")
        assert code == 200 and freed
        token = (await client.get("/token?login=1")).body.decode()
        token = token.split('"token": "')[1].split('"')[0]
        resp = await client.get("/token", headers={"Authorization": f"Bearer {token}"})
        assert resp.body == b'{"user": "u1"}'
        code, freed = await _handler_freed(
            client, "/token", headers={"Authorization": f"Bearer {token}"}
        )
        assert code == 200 and freed


def test_the_check_sees_a_cycle() -> None:
    """The weak-reference check above can fail: an object in a cycle outlives its last name."""

    class Node:
        pass

    gc.collect()
    gc.disable()
    try:
        a = Node()
        a.self = a  # type: ignore[attr-defined]
        ref = weakref.ref(a)
        del a
        assert ref() is not None
    finally:
        gc.enable()
    gc.collect()
    assert ref() is None
