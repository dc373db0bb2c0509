"""Handlers and site builders for the token tests (real HTTP, real Redis)."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

from tornadopy import Url, route
from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.handler import WebHandler
from tornadopy.testing import serve

TOKEN_MW = "tornadopy.middleware.token.TokenMiddleware"
REDIS_DB = 14
SECRET = "test-token-secret-0123456789"


class TokenOps(WebHandler):
    """``/t/<op>``: one token operation per request, answers JSON."""

    async def get(self, op: str) -> None:
        await self._op(op)

    async def post(self, op: str) -> None:
        await self._op(op)

    async def _op(self, op: str) -> None:
        t = self.token
        arg = self.get_argument
        out: Any = "ok"
        if op == "none":
            out = "untouched"
        elif op == "login":
            data: dict[str, Any] = {"userID": arg("uid")}
            if arg("name", None) is not None:
                data["userName"] = arg("name")
            if arg("role", None) is not None:
                data["role"] = arg("role")
            out = await t.save(data)
        elif op == "user":
            out = await t.get_current_user()
        elif op == "whoami":
            out = {
                "user": await t.get_current_user(),
                "name": await t.get_current_user_name(),
                "role": await t.get_current_parameter("role"),
            }
        elif op == "fetch":
            out = await t.fetch(arg("t"))
        elif op == "expire":
            out = await t.expire(arg("t", None))
            out = [out, await t.get_current_user()]
        elif op == "badsave":
            await t.save({"name": "no user id"})
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(out))

    def check_xsrf_cookie(self) -> None:
        pass


URLS = route(Url("")(r"/t/(\w+)", TokenOps))


def body(resp) -> Any:
    return json.loads(resp.body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_prefix() -> str:
    return f"tt{uuid.uuid4().hex[:10]}"


def redis_entry(
    prefix: str, location: str = "127.0.0.1:6379", db: int = REDIS_DB, backend: str = "RedisCache"
) -> dict[str, Any]:
    return {
        "BACKEND": f"tornadopy.cache.backends.rediscache.{backend}",
        "LOCATION": location,
        "KEY_PREFIX": prefix,
        "OPTIONS": {"DB": db},
    }


async def redis_client(location: str = "127.0.0.1:6379", db: int = REDIS_DB):
    import redis.asyncio as aioredis

    host, _, port = location.partition(":")
    return aioredis.Redis(host=host, port=int(port), db=db)


async def delete_prefix(prefix: str, location: str = "127.0.0.1:6379") -> None:
    client = await redis_client(location)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def site(
    token: dict | None = None,
    location: str = "127.0.0.1:6379",
    prefix: str | None = None,
    backend: str = "RedisCache",
    **settings: Any,
):
    """Serve the token app on Redis; yields ``(client, prefix)``. Settings stay active."""
    prefix = prefix or new_prefix()
    conf = {"token_cache_alias": "tokens", "secret_key": SECRET}
    conf.update(token or {})
    with override_settings(
        CACHES={"tokens": redis_entry(prefix, location, backend=backend)},
        TOKEN=conf,
        MIDDLEWARE_CLASSES=[TOKEN_MW],
        **settings,
    ):
        app = Application(urls=URLS)
        try:
            async with serve(app) as client:
                yield client, prefix
        finally:
            await delete_prefix(prefix, location)
