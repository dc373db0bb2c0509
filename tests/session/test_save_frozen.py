"""A Redis store that freezes between a request's load and its save: the save runs in the
response hook of an auto-finished handler (Tornado calls finish() without awaiting it, after the
handler's own coroutine returned), and must still fail within the store's time budget -- a 503,
never a hang. Guards time budgets that are tied to the task that started a call."""

import asyncio
import time

from support.servers import RedisProcess

from session.helpers import GATES, site


async def test_redis_frozen_before_the_save_of_an_auto_finished_request_is_a_503():
    server = RedisProcess()
    await server.astart()
    try:
        async with site("redis", location=server.location) as (client, _):
            assert (await client.get("/s/login?user=alice")).code == 200
            GATES["loaded"] = asyncio.Event()
            GATES["go"] = asyncio.Event()
            request = asyncio.ensure_future(client.get("/s/slow"))
            await asyncio.wait_for(GATES["loaded"].wait(), 5)
            server.pause()  # the session was read; its save will meet a frozen server
            started = time.monotonic()
            GATES["go"].set()
            resp = await asyncio.wait_for(request, 10)
            elapsed = time.monotonic() - started
            server.resume()
    finally:
        GATES.clear()
        server.kill()
    assert resp.code == 503, resp.code
    assert elapsed < 3, elapsed
