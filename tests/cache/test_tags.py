"""Tag-based invalidation of ``cache_page`` entries over real HTTP, on LocMem, memcached, Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support import pagecache
from support.pagecache import BACKENDS
from support.servers import RedisProcess, free_port
from tornado.httpclient import AsyncHTTPClient

from tornadopy.application import Application
from tornadopy.cache import CacheError, caches, close_all
from tornadopy.cache.decorators import cache_page
from tornadopy.cache.tags import invalidate_tags, tag_key
from tornadopy.conf import override_settings
from tornadopy.handler import WebHandler
from tornadopy.testing import serve

HOST = "tags.test"
CALLS: dict[str, int] = {}
DATA: dict[str, str] = {}
ODD_TAG = "name with spaces " + "é" * 100  # not a valid memcached key as it stands


def count(name: str) -> int:
    CALLS[name] = CALLS.get(name, 0) + 1
    return CALLS[name]


class UserPage(WebHandler):
    @cache_page(60, tags=lambda h: [f"user:{h.path_kwargs['uid']}"])
    async def get(self, uid):
        self.write(f"user {uid} call {count('user' + uid)}")


class UserList(WebHandler):
    @cache_page(60, tags=["users", "lists"])
    async def get(self):
        self.write(f"list call {count('list')}")


class Untagged(WebHandler):
    @cache_page(60)
    async def get(self):
        self.write(f"untagged call {count('untagged')}")


class EditUser(WebHandler):
    async def post(self, uid):
        await invalidate_tags(f"user:{uid}", "users")
        self.write("ok")

    def check_xsrf_cookie(self) -> None:
        pass


class News(WebHandler):
    @cache_page(1, stale=30, tags="news")
    async def get(self):
        n = count("news")
        data = DATA.get("news", "v1")
        await asyncio.sleep(0.3)
        self.write(f"news {data} call {n}")


async def odd_tags(handler: Any) -> list[str]:
    await asyncio.sleep(0)
    return [ODD_TAG]


class Odd(WebHandler):
    @cache_page(60, tags=odd_tags)
    async def get(self):
        self.write(f"odd call {count('odd')}")


URLS = [
    (r"/user/(?P<uid>\d+)", UserPage),
    (r"/users", UserList),
    (r"/untagged", Untagged),
    (r"/edit/(?P<uid>\d+)", EditUser),
    (r"/news", News),
    (r"/odd", Odd),
]
TAGS = ["user:1", "user:2", "users", "lists", "news", ODD_TAG]


def backend_config(name: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    return pagecache.backend_config(name, request, "tg")


@pytest.fixture(params=list(BACKENDS))
async def backend(request: pytest.FixtureRequest):
    """The backend's name; ``caches['default']`` is that backend under a fresh ``KEY_PREFIX``.
    Its keys are removed afterwards (by prefix on Redis, by name on the shared memcached, which
    is never flushed)."""
    CALLS.clear()
    DATA.clear()
    config = backend_config(request.param, request)
    with override_settings(CACHES={"default": config}, MIDDLEWARE_CLASSES=()):
        try:
            yield request.param
        finally:
            store = caches["default"]
            if request.param == "redis":
                await store.clear()
            else:
                await store.delete_many([tag_key(t) for t in TAGS])
            await close_all()


async def get(client: Any, path: str) -> bytes:
    resp = await AsyncHTTPClient().fetch(
        f"http://127.0.0.1:{client.port}{path}", headers={"Host": HOST}, raise_error=False
    )
    assert resp.code == 200, (path, resp.code)
    return resp.body


async def bodies(client: Any, *paths: str) -> list[bytes]:
    return [await get(client, p) for p in paths]


async def test_invalidate_tags_recomputes_tagged_pages_only(backend):
    paths = ("/user/1", "/user/2", "/users", "/untagged")
    async with serve(Application(urls=URLS)) as client:
        first = await bodies(client, *paths)
        again = await bodies(client, *paths)
        await invalidate_tags("user:1")
        after_one = await bodies(client, *paths)
        await invalidate_tags("users", "user:2")
        after_two = await bodies(client, *paths)
    assert (
        first
        == again
        == [
            b"user 1 call 1",
            b"user 2 call 1",
            b"list call 1",
            b"untagged call 1",
        ]
    )
    assert after_one == [b"user 1 call 2", b"user 2 call 1", b"list call 1", b"untagged call 1"]
    assert after_two == [b"user 1 call 2", b"user 2 call 2", b"list call 2", b"untagged call 1"]


async def test_invalidation_from_one_server_reaches_pages_of_another(backend):
    async with serve(Application(urls=URLS)) as a, serve(Application(urls=URLS)) as b:
        assert await get(b, "/user/1") == b"user 1 call 1"
        assert await get(b, "/users") == b"list call 1"
        edit = await AsyncHTTPClient().fetch(
            f"http://127.0.0.1:{a.port}/edit/1", method="POST", body=b"", raise_error=False
        )
        assert edit.code == 200
        assert await get(b, "/user/1") == b"user 1 call 2"
        assert await get(b, "/users") == b"list call 2"


async def test_invalidation_during_a_recomputation_is_not_lost(backend):
    async with serve(Application(urls=URLS)) as client:
        computing = asyncio.ensure_future(get(client, "/news"))
        for _ in range(500):  # bounded: 5 s
            if CALLS.get("news") == 1:
                break
            await asyncio.sleep(0.01)
        DATA["news"] = "v2"  # the data changes while the page is being computed from v1 ...
        await invalidate_tags("news")  # ... and the writer invalidates
        assert await computing == b"news v1 call 1"  # that request read v1: fair
        next_one = await get(client, "/news")
    assert next_one == b"news v2 call 2"  # but the v1 entry was never served as fresh


async def test_invalidated_page_is_not_served_stale_and_recomputed_once(backend):
    async with serve(Application(urls=URLS)) as a, serve(Application(urls=URLS)) as b:
        assert await get(a, "/news") == b"news v1 call 1"
        await asyncio.sleep(1.1)  # stale now: without invalidation it would be served stale
        DATA["news"] = "v2"
        await invalidate_tags("news")
        answers = await asyncio.gather(*(get(c, "/news") for c in [a, b] * 5))
    assert set(answers) == {b"news v2 call 2"}
    assert CALLS["news"] == 2


async def test_a_lost_tag_version_makes_its_pages_miss(backend):
    async with serve(Application(urls=URLS)) as client:
        assert await get(client, "/users") == b"list call 1"
        # what an eviction (memcached LRU, MAX_ENTRIES cull) does to a version
        assert await caches["default"].delete(tag_key("lists"))
        assert await get(client, "/users") == b"list call 2"
        assert await get(client, "/users") == b"list call 2"


async def test_async_tag_callable_and_tags_that_are_not_valid_keys(backend):
    async with serve(Application(urls=URLS)) as client:
        assert await get(client, "/odd") == b"odd call 1"
        assert await get(client, "/odd") == b"odd call 1"
        await invalidate_tags(ODD_TAG)
        assert await get(client, "/odd") == b"odd call 2"
    assert tag_key(ODD_TAG).startswith("cache_page.tag:#")
    assert tag_key("user:42") == "cache_page.tag:user:42"


async def test_invalidating_a_tag_no_page_carries_stores_nothing(backend):
    await invalidate_tags("nobody", "nothing")
    assert not await caches["default"].has_key(tag_key("nobody"))
    assert not await caches["default"].has_key(tag_key("nothing"))


async def test_invalidate_tags_on_an_unreachable_cache_raises():
    dead = {
        "BACKEND": BACKENDS["redis"],
        "LOCATION": f"127.0.0.1:{free_port()}",
    }
    with override_settings(CACHES={"pages": dead}):
        with pytest.raises(CacheError):
            await invalidate_tags("user:1", cache="pages")
        await close_all()


# ---------------------------------------------------------------- cost of a hit


async def commandstats(port: int) -> dict[str, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"INFO commandstats\r\n")
    await writer.drain()
    header = await reader.readline()  # $<len>
    text = (await reader.readexactly(int(header[1:]) + 2)).decode()
    writer.close()
    stats = {}
    for line in text.splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line.partition(":")
            stats[name[len("cmdstat_") :]] = int(rest.split(",")[0].split("=")[1])
    return stats


async def test_a_cache_hit_is_one_round_trip_with_or_without_tags():
    """Counted by the server itself (``INFO commandstats`` of a Redis of our own)."""
    server = RedisProcess()
    await server.astart()
    try:
        config = {"BACKEND": BACKENDS["redis"], "LOCATION": server.location}
        with override_settings(CACHES={"default": config}, MIDDLEWARE_CLASSES=()):
            async with serve(Application(urls=URLS)) as client:
                await get(client, "/users")  # tagged: computed and stored
                await get(client, "/untagged")
                before = await commandstats(server.port)
                for _ in range(20):
                    await get(client, "/users")
                middle = await commandstats(server.port)
                for _ in range(20):
                    await get(client, "/untagged")
                after = await commandstats(server.port)
    finally:
        server.kill()

    def delta(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
        return {k: b[k] - a.get(k, 0) for k in b if k != "info" and b[k] != a.get(k, 0)}

    assert delta(before, middle) == {"mget": 20}  # page and its 2 tag versions: one MGET
    assert delta(middle, after) == {"get": 20}  # no tags: the plain GET of before
    assert CALLS == {"list": 1, "untagged": 1}
