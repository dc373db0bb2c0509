"""A small site for the session-control tests: log-in binds the session to a user; pages list
and revoke the user's sessions (real HTTP, real stores)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from session.helpers import (
    REDIS_DB,
    SECRET,
    SESSION_MW,
    backend_config,
    new_prefix,
    redis_delete_prefix,
)
from tornadopy import Url, route
from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.handler import WebHandler
from tornadopy.session import (
    SessionControlUnsupported,
    revoke_session,
    revoke_user_sessions,
    sessions_of,
)
from tornadopy.session.records import user_index_key
from tornadopy.testing import Client, serve

NAME = "__TORNADOSSID"
#: events the "slow" page waits on (concurrency tests)
GATES: dict[str, asyncio.Event] = {}


class Control(WebHandler):
    """``/c/<op>``: log-in, who-am-I, list and revoke; answers JSON."""

    async def get(self, op: str) -> None:
        await self._run(op)

    async def post(self, op: str) -> None:
        await self._run(op)

    async def _run(self, op: str) -> None:
        s = self.session
        arg = self.get_argument
        out: Any = "ok"
        try:
            if op == "none":
                out = "untouched"
            elif op == "login":  # the documented log-in: new id, data, then bind
                await s.cycle_key()
                await s.set("user", arg("user"))
                await s.set_user(arg("user"))
                if arg("expire", None):
                    await s.set_expire(int(arg("expire")))
                out = {"ref": s.ref}
            elif op == "bind":  # bind without cycling the key
                await s.set_user(arg("user"))
                out = {"ref": s.ref}
            elif op == "anon":  # an unbound session with data
                await s.set("cart", [1, 2])
            elif op == "whoami":
                out = {"user": await s.get_user(), "data": await s.get("user"), "ref": s.ref}
            elif op == "read":
                out = await s.get("user")
            elif op == "write":
                await s.set("n", int(arg("n")))
            elif op == "list":
                uid = await s.get_user()
                if uid is None:
                    self.set_status(403)
                    out = "not logged in"
                else:
                    out = [x.as_dict() for x in await sessions_of(uid, current=s)]
            elif op == "revoke_others":
                out = await revoke_user_sessions(await s.get_user(), except_current=s)
            elif op == "revoke_all":
                out = await revoke_user_sessions(await s.get_user())
            elif op == "revoke_one":
                out = await revoke_session(await s.get_user(), arg("ref"))
            elif op == "logout":
                await s.flush()
            elif op == "seed_logout":  # the seed's log-out: del self.session['user']
                await s.delete("user")
            elif op == "slow":  # load, wait for the test, then write
                await s.get("user")
                GATES["loaded"].set()
                await GATES["go"].wait()
                await s.set("late", "write")
        except SessionControlUnsupported as exc:
            self.set_status(501)
            out = {"error": str(exc), "backend": exc.backend}
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(out))


URLS = route(Url("")(r"/c/(\w+)", Control))


def control_settings(kind: str, prefix: str, location: str | None = None, **session: Any):
    """override_settings(...) for the control site on ``kind`` with its own key prefix."""
    conf = {"session_cache_alias": "sessions", "secret_key": SECRET}
    conf.update(session)
    return override_settings(
        CACHES={"sessions": backend_config(kind, prefix, location)},
        SESSION=conf,
        MIDDLEWARE_CLASSES=[SESSION_MW],
    )


@contextlib.asynccontextmanager
async def control_site(
    kind: str = "redis",
    apps: int = 1,
    location: str | None = None,
    prefix: str | None = None,
    **session: Any,
):
    """Serve ``apps`` separate Application instances on one store; yields ``(clients, prefix)``
    (one client per application). Settings stay active in the block."""
    prefix = prefix or new_prefix()
    with control_settings(kind, prefix, location, **session):
        try:
            async with contextlib.AsyncExitStack() as stack:
                clients = [
                    await stack.enter_async_context(serve(Application(urls=URLS)))
                    for _ in range(apps)
                ]
                yield clients, prefix
        finally:
            if kind == "redis":
                await redis_delete_prefix(prefix, location or "127.0.0.1:6379")


def browser(client: Client) -> Client:
    """A second cookie jar ("browser") on the same server as ``client``."""
    other = Client(client.base_url)
    other.port = client.port  # type: ignore[attr-defined]
    return other


async def login(client: Client, user: str, agent: str = "test-agent", **params: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"user": user, **params}.items())
    resp = await client.get(f"/c/login?{query}", headers={"User-Agent": agent})
    assert resp.code == 200, resp.body
    return client.cookies[NAME].value


async def whoami(client: Client) -> dict[str, Any]:
    resp = await client.get("/c/whoami")
    assert resp.code == 200, resp.body
    return json.loads(resp.body)


def body(resp) -> Any:
    return json.loads(resp.body)


async def redis_index(
    prefix: str, user: str, location: str = "127.0.0.1:6379"
) -> tuple[set[bytes], int]:
    """(members, PTTL in ms) of ``user``'s index in Redis (PTTL -2: no such key)."""
    import redis.asyncio as aioredis

    host, _, port = location.partition(":")
    client = aioredis.Redis(host=host, port=int(port), db=REDIS_DB)
    key = f"{prefix}:1:{user_index_key(user)}"
    try:
        return set(await client.smembers(key)), int(await client.pttl(key))
    finally:
        await client.aclose()


async def redis_pttl(prefix: str, rand: str, location: str = "127.0.0.1:6379") -> int:
    import redis.asyncio as aioredis

    host, _, port = location.partition(":")
    client = aioredis.Redis(host=host, port=int(port), db=REDIS_DB)
    try:
        return int(await client.pttl(f"{prefix}:1:tornadopy.session:{rand}"))
    finally:
        await client.aclose()
