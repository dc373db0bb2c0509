"""Sites and limit classes for the rate-limit tests (real HTTP, real Redis).

Every test uses Redis DB 11 on 127.0.0.1:6379 with a ``KEY_PREFIX`` of its own; the
``rl_site`` helpers delete that prefix's keys afterwards.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

from tornadopy import Url, route
from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.handler import ApiHandler, WebHandler
from tornadopy.ratelimit import RateLimitModule, rate_limit
from tornadopy.testing import serve

REDIS_DB = 11
MODULES_MW = "tornadopy.httpmodule.httpmodule.HttpModuleMiddleware"
REDIS_BACKEND = "tornadopy.cache.backends.rediscache.RedisCache"

#: handler calls per path, to prove a refused request never reached the handler
CALLS: dict[str, int] = {}


class Hello(WebHandler):
    def get(self, *args: Any) -> None:
        CALLS[self.request.path] = CALLS.get(self.request.path, 0) + 1
        self.write("hello")

    def post(self, *args: Any) -> None:
        CALLS[self.request.path] = CALLS.get(self.request.path, 0) + 1
        self.write("posted")

    def check_xsrf_cookie(self) -> None:
        pass

    def get_current_user(self) -> Any:
        return self.request.headers.get("X-User") or None


class Api(ApiHandler):
    def get(self) -> None:
        self.write_api({"ok": True})


URLS = route(
    Url("")(r"/login", Hello, name="Login"),
    Url("")(r"/other", Hello, name="Other"),
    Url("")(r"/free", Hello, name="Free"),
    Url("")(r"/api/items", Api, name="Items"),
    Url("")(r"/open/(\w+)", Hello),
)


# ---------------------------------------------------------------------- limits used by tests
class ThreePerMinute(RateLimitModule):
    rate = "3/minute"
    cache_alias = "rl"


class TwoPerSecond(RateLimitModule):
    rate = "2/1s"
    cache_alias = "rl"


class PerUser(RateLimitModule):
    rate = "2/minute"
    key = "user"
    cache_alias = "rl"


class PerUserNoAnonymous(RateLimitModule):
    rate = "1/minute"
    key = "user"
    anonymous = None
    cache_alias = "rl"


def header_key(handler: Any) -> str | None:
    return handler.request.headers.get("X-Client")


async def async_header_key(handler: Any) -> str | None:
    return handler.request.headers.get("X-Client")


class ByHeader(RateLimitModule):
    rate = "1/minute"
    key = header_key  # a plain function as a class attribute stays a function
    anonymous = None
    cache_alias = "rl"


ByAsyncHeader = rate_limit(
    "1/minute", name="ByAsyncHeader", key=async_header_key, anonymous=None, cache_alias="rl"
)
ByDottedKey = rate_limit(
    "1/minute",
    name="ByDottedKey",
    key="ratelimit.helpers.header_key",
    anonymous=None,
    cache_alias="rl",
)


class PostsOnly(RateLimitModule):
    rate = "1/minute"
    methods = ("POST",)
    cache_alias = "rl"


class Shared(RateLimitModule):
    rate = "2/minute"
    cache_alias = "rl"


class SharedPerRoute(RateLimitModule):
    rate = "2/minute"
    per_route = True
    cache_alias = "rl"


class TenPerMinute(RateLimitModule):
    rate = "10/minute"
    cache_alias = "rl"


class FailClosed(RateLimitModule):
    rate = "3/minute"
    fail_open = False
    cache_alias = "rl"


class FailOpen(RateLimitModule):
    rate = "3/minute"
    cache_alias = "rl"


class NoHeaders(RateLimitModule):
    rate = "1/minute"
    headers = False
    cache_alias = "rl"


def path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def new_prefix() -> str:
    return f"rl{uuid.uuid4().hex[:10]}"


def redis_caches(prefix: str, location: str = "127.0.0.1:6379", **options: Any) -> dict:
    return {
        "default": {"BACKEND": "tornadopy.cache.backends.localcache.LocMemCache"},
        "rl": {
            "BACKEND": REDIS_BACKEND,
            "LOCATION": location,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"DB": REDIS_DB, **options},
        },
    }


def configured(route_modules: dict, *, prefix: str, location: str = "127.0.0.1:6379", **extra):
    return override_settings(
        MIDDLEWARE_CLASSES=(MODULES_MW,),
        INSTALLED_APPS=(),
        CACHES=redis_caches(prefix, location),
        ROUTE_MODULES=route_modules,
        **extra,
    )


async def delete_prefix(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def redis_keys(prefix: str) -> list[bytes]:
    import redis.asyncio as aioredis

    client = aioredis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    try:
        return sorted([k async for k in client.scan_iter(match=f"{prefix}*", count=1000)])
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def site(route_modules: dict, *, prefix: str | None = None, **settings: Any):
    """Serve the test URLs with ``route_modules``; yields ``(client, prefix)``."""
    prefix = prefix or new_prefix()
    try:
        with configured(route_modules, prefix=prefix, **settings):
            async with serve(Application(urls=URLS)) as client:
                yield client, prefix
    finally:
        if "location" not in settings:
            await delete_prefix(prefix)


def body(resp) -> Any:
    return json.loads(resp.body)
