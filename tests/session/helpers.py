"""Handlers, a counting store and site builders for the session tests (real HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from http.cookies import SimpleCookie
from typing import Any

from tornadopy import Url, route
from tornadopy.application import Application
from tornadopy.cache.backends import localcache
from tornadopy.cache.backends.localcache import LocMemCache
from tornadopy.conf import override_settings
from tornadopy.handler import WebHandler
from tornadopy.testing import serve

SESSION_MW = "tornadopy.middleware.session.SessionMiddleware"
REDIS_DB = 14
SECRET = "test-session-secret-0123456789"

#: store calls made through CountingLocMemCache, e.g. ["get", "touch"]
CALLS: list[str] = []
#: events the "slow" handler waits on (concurrency tests)
GATES: dict[str, asyncio.Event] = {}


class CountingLocMemCache(LocMemCache):
    """LocMemCache that records every store call (lazy-load proof)."""

    async def get(self, key, default=None, version=None):
        CALLS.append("get")
        return await super().get(key, default, version)

    async def set(self, key, value, *args, **kwargs):
        CALLS.append("set")
        return await super().set(key, value, *args, **kwargs)

    async def add(self, key, value, *args, **kwargs):
        CALLS.append("add")
        return await super().add(key, value, *args, **kwargs)

    async def touch(self, key, *args, **kwargs):
        CALLS.append("touch")
        return await super().touch(key, *args, **kwargs)

    async def delete(self, key, version=None):
        CALLS.append("delete")
        return await super().delete(key, version)

    async def has_key(self, key, version=None):
        CALLS.append("has_key")
        return await super().has_key(key, version)


def locmem_entries(location: str) -> int:
    """Entries held in a LocMemCache memory area (expired ones included)."""
    return len(localcache._caches.get(location, {}))


class Ops(WebHandler):
    """``/s/<op>``: one session operation per request, answers JSON."""

    async def get(self, op: str) -> None:
        s = self.session
        arg = self.get_argument
        out: Any = "ok"
        if op == "none":
            out = "untouched"
        elif op == "set":
            await s.set(arg("k"), json.loads(arg("v")))
        elif op == "get":
            out = await s.get(arg("k"), "<missing>")
        elif op == "delete":
            out = await s.delete(arg("k"))
        elif op == "has":
            out = await s.has(arg("k"))
        elif op == "keys":
            out = sorted(await s.keys())
        elif op == "items":
            out = sorted(await s.items())
        elif op == "clear":
            await s.clear()
        elif op == "expire":
            await s.set_expire(int(arg("s")))
            if arg("k", None):
                await s.set(arg("k"), arg("v"))
        elif op == "flush":
            await s.flush()
        elif op == "login":  # the log-in pattern: new id, then remember the user
            await s.cycle_key()
            await s.set("user", arg("user"))
        elif op == "cycle":
            await s.cycle_key()
        elif op == "boom":
            await s.set(arg("k", "boom"), "v")
            raise ValueError("handler failed after writing the session")
        elif op == "badvalue":
            await s.set("k", {1, 2})
        elif op == "slow":  # load, wait for the test, then write
            await s.get("user")
            GATES["loaded"].set()
            await GATES["go"].wait()
            await s.set("late", "write")
        elif op == "dict":
            try:
                s["k"] = 1
            except TypeError as exc:
                out = str(exc)
        elif op == "info":
            out = {"user": await s.get("user"), "id": s.session_id, "new": s.is_new}
        elif op in ("stream", "stream_saved"):  # headers go out before the response hook
            await s.set(arg("k"), arg("v"))
            if op == "stream_saved":
                await s.save()
            self.write("[")
            await self.flush()
            out = "]"
        elif op == "status":
            await s.set("k", "v")
            self.set_status(int(arg("code")))
        if not self._headers_written:
            self.set_header("Content-Type", "application/json")
        self.write(json.dumps(out))


URLS = route(Url("")(r"/s/(\w+)", Ops))


def build_app(**settings: Any) -> Application:
    """An Application with SessionMiddleware (extra settings applied while it is built)."""
    with override_settings(**settings):
        return Application(urls=URLS)


def set_cookies(resp) -> dict[str, Any]:
    """{name: morsel} of the response's Set-Cookie headers."""
    out = {}
    for header in resp.headers.get_list("Set-Cookie"):
        jar = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            out[name] = morsel
    return out


def raw_set_cookie(resp, name: str) -> str | None:
    for header in resp.headers.get_list("Set-Cookie"):
        if header.startswith(name + "="):
            return header
    return None


def body(resp) -> Any:
    return json.loads(resp.body)


def backend_config(kind: str, prefix: str, location: str | None = None) -> dict[str, Any]:
    """A CACHES entry of ``kind`` with its own key prefix (and memory area for local memory)."""
    if kind == "locmem":
        return {
            "BACKEND": "session.helpers.CountingLocMemCache",
            "LOCATION": prefix,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    if kind == "redis":
        return {
            "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
            "LOCATION": location or "127.0.0.1:6379",
            "KEY_PREFIX": prefix,
            "OPTIONS": {"DB": REDIS_DB},
        }
    if kind == "memcached":
        return {
            "BACKEND": "tornadopy.cache.backends.memcached.MemcachedCache",
            "LOCATION": location or "127.0.0.1:11211",
            "KEY_PREFIX": prefix,
        }
    raise ValueError(kind)


def new_prefix() -> str:
    return f"ts{uuid.uuid4().hex[:10]}"


async def redis_keys(prefix: str, location: str = "127.0.0.1:6379", db: int = REDIS_DB) -> list:
    import redis.asyncio as aioredis

    host, _, port = location.partition(":")
    client = aioredis.Redis(host=host, port=int(port), db=db)
    try:
        return [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
    finally:
        await client.aclose()


async def redis_delete_prefix(prefix: str, location: str = "127.0.0.1:6379") -> None:
    import redis.asyncio as aioredis

    host, _, port = location.partition(":")
    client = aioredis.Redis(host=host, port=int(port), db=REDIS_DB)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def site(
    kind: str = "locmem",
    session: dict | None = None,
    location: str | None = None,
    prefix: str | None = None,
    **settings: Any,
):
    """Serve the session app on ``kind``; yields ``(client, prefix)``. Settings stay active."""
    prefix = prefix or new_prefix()
    conf = {"session_cache_alias": "sessions", "secret_key": SECRET}
    conf.update(session or {})
    with override_settings(
        CACHES={"sessions": backend_config(kind, prefix, location)},
        SESSION=conf,
        MIDDLEWARE_CLASSES=[SESSION_MW],
        **settings,
    ):
        app = Application(urls=URLS)
        try:
            async with serve(app) as client:
                yield client, prefix
        finally:
            if kind == "redis":
                await redis_delete_prefix(prefix, location or "127.0.0.1:6379")


async def raw_get_many(
    port: int, path: str, headers: list[dict[str, str]], connections: int = 8
) -> list[tuple[int, bytes]]:
    """GET ``path`` once per headers dict over a few keep-alive connections (fast, for floods).

    Returns ``(status, body)`` per request, in order.
    """
    results: list[tuple[int, bytes]] = [(0, b"")] * len(headers)
    queue = list(enumerate(headers))
    queue.reverse()

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                index, hdrs = queue.pop()
                lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
                lines += [f"{k}: {v}" for k, v in hdrs.items()]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                results[index] = (status, await reader.readexactly(length))
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return results
