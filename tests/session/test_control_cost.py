"""Session control costs nothing to requests that do not use it: the Redis commands each kind of
request sends, counted by a private redis-server (INFO commandstats)."""

from __future__ import annotations

import redis.asyncio as aioredis
from support.servers import RedisProcess

from session.control_app import browser, control_site, login

#: sent by redis-py when it opens a connection, and by the counting itself
_NOISE = {"info", "client|setinfo", "hello", "select"}


async def _commandstats(port: int) -> dict[str, int]:
    client = aioredis.Redis(port=port)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    out = {}
    for key, value in stats.items():
        name = key.removeprefix("cmdstat_")
        if name not in _NOISE:
            out[name] = value["calls"]
    return out


async def _delta(port: int, client, path: str) -> dict[str, int]:
    before = await _commandstats(port)
    resp = await client.get(path)
    assert resp.code == 200, resp.body
    after = await _commandstats(port)
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


async def test_commands_per_kind_of_request():
    with RedisProcess() as server:
        async with control_site("redis", location=server.location) as ([bound], _):
            anon = browser(bound)
            try:
                await login(bound, "alice")
                await anon.get("/c/anon")
                for client in (bound, anon):  # warm up: connections open, script loaded
                    await client.get("/c/read")

                # a request that does not use the session: nothing at all
                assert await _delta(server.port, bound, "/c/none") == {}
                assert await _delta(server.port, anon, "/c/none") == {}

                # an unbound session read: exactly what it cost before session control existed
                assert await _delta(server.port, anon, "/c/read") == {"get": 1, "pexpire": 1}
                assert await _delta(server.port, anon, "/c/write?n=1") == {
                    "get": 1,
                    "set": 1,
                    "exists": 1,
                }

                # a bound session read: still two round trips (GET, then one script call that
                # refreshes the record and the user's index together)
                assert await _delta(server.port, bound, "/c/read") == {
                    "get": 1,
                    "evalsha": 1,
                    # inside the script: the record's and the index's expiry, and the index
                    "pexpire": 2,
                    "sadd": 1,
                    "pttl": 1,
                }
                # a bound session write: GET, then one script call (SET + index) -- one round
                # trip fewer than the unbound write's SET then EXISTS
                delta = await _delta(server.port, bound, "/c/write?n=2")
                assert delta.pop("get") == 1 and delta.pop("evalsha") == 1
                assert set(delta) <= {"exists", "set", "sadd", "pttl", "pexpire", "scard"}
            finally:
                anon.close()
