"""A session store that is down: 503 for requests that use the session, never 500 or a hang;
requests that do not use it are served; recovery without a restart."""

import time

import pytest
from support.servers import MemcachedProcess, RedisProcess

from session.helpers import body, site


@pytest.mark.parametrize(
    "kind,server_class", [("redis", RedisProcess), ("memcached", MemcachedProcess)]
)
async def test_store_down_is_503_and_recovers(kind, server_class):
    server = server_class()
    await server.astart()
    try:
        async with site(kind, location=server.location) as (client, _):
            resp = await client.get("/s/login?user=alice")
            assert resp.code == 200
            server.kill()

            started = time.monotonic()
            resp = await client.get("/s/info")
            assert resp.code == 503
            assert time.monotonic() - started < 3  # the store's time budget, not a hang
            assert b"Traceback" not in resp.body

            # a new session is first written by the response hook: its failure is a 503 too
            resp = await client.get("/s/set?k=a&v=1", cookies=False)
            assert resp.code == 503

            resp = await client.get("/s/none")  # lazy: a request without the session works
            assert resp.code == 200 and body(resp) == "untouched"

            await server.astart()  # same port, empty store
            resp = await client.get("/s/set?k=a&v=1")
            assert resp.code == 200
            assert body(await client.get("/s/get?k=a")) == 1
    finally:
        server.kill()


async def test_redis_frozen_is_503_within_the_budget():
    server = RedisProcess()
    await server.astart()
    try:
        async with site("redis", location=server.location) as (client, _):
            await client.get("/s/login?user=alice")
            server.pause()
            started = time.monotonic()
            resp = await client.get("/s/info")
            assert resp.code == 503
            assert time.monotonic() - started < 3
            server.resume()
            assert body(await client.get("/s/info"))["user"] == "alice"
    finally:
        server.kill()
