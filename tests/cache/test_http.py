"""Over real HTTP through the request pipeline: ``cache_page`` and "a dead cache is a 503"."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from support.servers import RedisProcess, free_port
from tornado.web import HTTPError

from tornadopy.application import Application
from tornadopy.cache import caches
from tornadopy.cache.decorators import cache_page
from tornadopy.conf import override_settings
from tornadopy.handler import WebHandler
from tornadopy.testing import serve

CALLS: dict[str, int] = {}
LOCMEM = {"BACKEND": "tornadopy.cache.backends.localcache.LocMemCache"}


def count(name: str) -> int:
    CALLS[name] = CALLS.get(name, 0) + 1
    return CALLS[name]


class Page(WebHandler):
    @cache_page(60)
    async def get(self):
        n = count("page")
        self.set_header("X-Custom", "yes")
        self.add_header("X-Multi", "1")
        self.add_header("X-Multi", "2")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.write(f"page {self.get_argument('q', '')} call {n}")

    head = get


class Rendered(WebHandler):
    @cache_page(60)
    def get(self):
        n = count("rendered")
        self.finish(f"finished in handler, call {n}")


class Missing(WebHandler):
    @cache_page(60)
    async def get(self):
        count("missing")
        raise HTTPError(404)


class SetsCookie(WebHandler):
    @cache_page(60)
    async def get(self):
        n = count("cookie")
        self.set_cookie("flavour", "oat")
        self.write(f"call {n}")


class Private(WebHandler):
    @cache_page(60)
    async def get(self):
        n = count("private")
        self.set_header("Cache-Control", "private")
        self.write(f"call {n}")


class Streamed(WebHandler):
    @cache_page(60)
    async def get(self):
        n = count("streamed")
        self.write("part one ")
        await self.flush()
        self.write(f"call {n}")


class Short(WebHandler):
    @cache_page(1)
    async def get(self):
        self.write(f"call {count('short')}")


class PerSession(WebHandler):
    @cache_page(60, vary_on_session=True)
    async def get(self):
        self.write(f"call {count('persession')}")


class OnRedis(WebHandler):
    @cache_page(60, cache="pages")
    async def get(self):
        self.write(f"call {count('onredis')}")


class ReadsCache(WebHandler):
    async def get(self):
        value = await caches["pages"].get("anything")
        self.write(f"value {value}")


URLS = [
    (r"/page", Page),
    (r"/rendered", Rendered),
    (r"/missing", Missing),
    (r"/cookie", SetsCookie),
    (r"/private", Private),
    (r"/streamed", Streamed),
    (r"/short", Short),
    (r"/persession", PerSession),
    (r"/onredis", OnRedis),
    (r"/reads", ReadsCache),
]


@pytest.fixture(autouse=True)
def fresh_state():
    CALLS.clear()
    with override_settings(
        CACHES={"default": {**LOCMEM, "LOCATION": uuid.uuid4().hex}}, MIDDLEWARE_CLASSES=()
    ):
        yield


def app():
    return Application(urls=URLS)


async def test_second_get_is_served_from_the_cache():
    async with serve(app()) as client:
        first = await client.get("/page?q=1")
        second = await client.get("/page?q=1")
    assert first.code == second.code == 200
    assert first.body == second.body == b"page 1 call 1"
    assert CALLS["page"] == 1
    for resp in (first, second):
        assert resp.headers["X-Custom"] == "yes"
        assert resp.headers.get_list("X-Multi") == ["1", "2"]
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert resp.headers["Content-Length"] == str(len(first.body))
    assert first.headers["Etag"] == second.headers["Etag"]


async def test_other_query_string_is_another_entry():
    async with serve(app()) as client:
        a = await client.get("/page?q=a")
        b = await client.get("/page?q=b")
    assert (a.body, b.body) == (b"page a call 1", b"page b call 2")


async def test_conditional_get_on_a_cached_page_is_304():
    async with serve(app()) as client:
        first = await client.get("/page")
        again = await client.get("/page", headers={"If-None-Match": first.headers["Etag"]})
    assert again.code == 304
    assert CALLS["page"] == 1


async def test_head_is_answered_from_the_get_entry():
    async with serve(app()) as client:
        await client.get("/page")
        head = await client.request("HEAD", "/page")
    assert head.code == 200
    assert head.body == b""
    assert head.headers["X-Custom"] == "yes"
    assert CALLS["page"] == 1


async def test_response_finished_inside_the_handler_is_cached():
    async with serve(app()) as client:
        first = await client.get("/rendered")
        second = await client.get("/rendered")
    assert first.body == second.body == b"finished in handler, call 1"
    assert CALLS["rendered"] == 1


@pytest.mark.parametrize("path", ["/missing", "/cookie", "/private", "/streamed"])
async def test_uncacheable_responses_are_not_stored(path):
    name = {
        "/missing": "missing",
        "/cookie": "cookie",
        "/private": "private",
        "/streamed": "streamed",
    }[path]
    async with serve(app()) as client:
        await client.get(path, cookies=False)
        await client.get(path, cookies=False)
    assert CALLS[name] == 2


async def test_entries_expire():
    async with serve(app()) as client:
        await client.get("/short")
        await client.get("/short")
        await asyncio.sleep(1.1)
        third = await client.get("/short")
    assert third.body == b"call 2"


async def test_requests_with_a_session_cookie_bypass_the_cache():
    async with serve(app()) as client:
        await client.get("/page")  # stored for anonymous visitors
        cookie = {"Cookie": "__TORNADOSSID=abc"}
        a = await client.get("/page", headers=cookie, cookies=False)
        b = await client.get("/page", headers=cookie, cookies=False)
    assert (a.body, b.body) == (b"page  call 2", b"page  call 3")


async def test_vary_on_session_caches_per_session():
    async with serve(app()) as client:

        async def as_session(sid):
            hdrs = {"Cookie": f"__TORNADOSSID={sid}"}
            return (await client.get("/persession", headers=hdrs, cookies=False)).body

        assert await as_session("alice") == b"call 1"
        assert await as_session("bob") == b"call 2"
        assert await as_session("alice") == b"call 1"
        assert await as_session("bob") == b"call 2"


async def test_cache_page_on_redis(redis_server):
    host, port = redis_server
    pages = {
        "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
        "LOCATION": f"{host}:{port}",
        "KEY_PREFIX": uuid.uuid4().hex,
        "OPTIONS": {"DB": 9},
    }
    with override_settings(CACHES={"pages": pages}):
        async with serve(app()) as client:
            first = await client.get("/onredis")
            second = await client.get("/onredis")
            await caches["pages"].clear()
    assert first.body == second.body == b"call 1"


async def test_cache_down_serves_the_page_uncached():
    dead = {
        "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
        "LOCATION": f"127.0.0.1:{free_port()}",
    }
    with override_settings(CACHES={"pages": dead}):
        async with serve(app()) as client:
            first = await client.get("/onredis")
            second = await client.get("/onredis")
    assert (first.code, second.code) == (200, 200)
    assert (first.body, second.body) == (b"call 1", b"call 2")


async def test_unreachable_cache_in_a_handler_is_a_503():
    dead = {
        "BACKEND": "tornadopy.cache.backends.memcached.MemcachedCache",
        "LOCATION": f"127.0.0.1:{free_port()}",
    }
    with override_settings(CACHES={"pages": dead}):
        async with serve(app()) as client:
            resp = await client.get("/reads")
    assert resp.code == 503
    assert b"pages" not in resp.body  # the client is not told about our infrastructure


async def test_frozen_redis_in_a_handler_is_a_503_within_two_seconds():
    server = RedisProcess()
    await server.astart()
    try:
        frozen = {
            "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
            "LOCATION": server.location,
        }
        with override_settings(CACHES={"pages": frozen}):
            async with serve(app()) as client:
                assert (await client.get("/reads")).code == 200
                server.pause()
                started = time.monotonic()
                resp = await client.get("/reads")
                elapsed = time.monotonic() - started
                server.resume()
                after = await client.get("/reads")
    finally:
        server.kill()
    assert resp.code == 503
    assert elapsed < 2.0
    assert after.code == 200
