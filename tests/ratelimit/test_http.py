"""The rate-limit module over real HTTP against the shared Redis (DB 11, a prefix per test)."""

import asyncio
import logging
import time

import pytest
from support.servers import RedisProcess, free_port

from ratelimit.helpers import (
    CALLS,
    URLS,
    ByAsyncHeader,
    ByDottedKey,
    ByHeader,
    FailClosed,
    FailOpen,
    NoHeaders,
    PerUser,
    PerUserNoAnonymous,
    PostsOnly,
    Shared,
    SharedPerRoute,
    TenPerMinute,
    ThreePerMinute,
    TwoPerSecond,
    body,
    configured,
    delete_prefix,
    new_prefix,
    path,
    redis_keys,
    site,
)
from tornadopy.application import Application
from tornadopy.testing import serve

pytestmark = pytest.mark.usefixtures("redis_server")


async def test_over_the_limit_a_429_with_retry_after_and_the_handler_is_not_called():
    async with site({"Login": [path(ThreePerMinute)]}) as (client, prefix):
        answers = [await client.get("/login") for _ in range(5)]
        keys = await redis_keys(prefix)
    assert [r.code for r in answers] == [200, 200, 200, 429, 429]
    assert CALLS["/login"] == 3  # the two refused requests never reached get()
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" for r in answers)
    refused = answers[3]
    assert "Retry-After" not in answers[0].headers
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert b"429: Too Many Requests" in refused.body
    # one budget, in the alias' KEY_PREFIX, named after the class and the client address
    assert keys == [
        f"{prefix}:tornadopy:ratelimit:ratelimit.helpers.ThreePerMinute:ip:127.0.0.1".encode()
    ]


async def test_routes_without_the_module_are_not_counted_at_all():
    async with site({"Login": [path(ThreePerMinute)]}) as (client, prefix):
        answers = [await client.get("/free") for _ in range(6)]
        unmatched = await client.get("/nowhere")
        assert await redis_keys(prefix) == []
    assert [r.code for r in answers] == [200] * 6
    assert all("X-RateLimit-Limit" not in r.headers for r in answers)
    assert unmatched.code == 404


async def test_a_refused_client_may_come_back_after_retry_after_seconds():
    async with site({"Login": [path(TwoPerSecond)]}) as (client, _):
        assert [(await client.get("/login")).code for _ in range(3)] == [200, 200, 429]
        refused = await client.get("/login")
        assert refused.code == 429
        wait = int(refused.headers["Retry-After"])
        assert wait == 1
        await asyncio.sleep(wait + 0.05)
        assert (await client.get("/login")).code == 200


async def test_refused_requests_do_not_extend_the_lockout():
    # 2 per second: hammering while refused must not push the next admission further out
    async with site({"Login": [path(TwoPerSecond)]}) as (client, _):
        await client.get("/login")
        started = time.monotonic()  # the first admission happened before this
        await client.get("/login")
        while time.monotonic() - started < 0.8:
            assert (await client.get("/login")).code == 429
        await asyncio.sleep(max(0.0, 1.05 - (time.monotonic() - started)))
        assert (await client.get("/login")).code == 200


async def test_the_window_slides():
    # 2 per second, requests at t=0 and t=0.6: at t=1.05 the first has left the window (one
    # slot free), the second is still in it (so a second request is refused) -- a fixed
    # one-second window would have given two slots back
    async with site({"Login": [path(TwoPerSecond)]}) as (client, _):
        assert (await client.get("/login")).code == 200
        started = time.monotonic()  # the first admission happened before this
        await asyncio.sleep(0.6)
        assert (await client.get("/login")).code == 200
        await asyncio.sleep(max(0.0, 1.05 - (time.monotonic() - started)))
        assert (await client.get("/login")).code == 200
        assert (await client.get("/login")).code == 429


async def test_limit_by_user_falls_back_to_the_address_for_anonymous_clients():
    async with site({"Login": [path(PerUser)]}) as (client, prefix):
        alice = [(await client.get("/login", headers={"X-User": "alice"})).code for _ in range(3)]
        bob = [(await client.get("/login", headers={"X-User": "bob"})).code for _ in range(3)]
        anon = [(await client.get("/login")).code for _ in range(3)]
        keys = {k.decode().partition(".PerUser:")[2] for k in await redis_keys(prefix)}
    assert alice == bob == anon == [200, 200, 429]
    assert keys == {"user:alice", "user:bob", "ip:127.0.0.1"}


async def test_anonymous_none_lets_unidentified_clients_through_uncounted():
    async with site({"Login": [path(PerUserNoAnonymous)]}) as (client, prefix):
        anon = [(await client.get("/login")).code for _ in range(3)]
        named = [(await client.get("/login", headers={"X-User": "carol"})).code for _ in range(2)]
        assert len(await redis_keys(prefix)) == 1
    assert anon == [200, 200, 200]
    assert named == [200, 429]


@pytest.mark.parametrize("limit", [ByHeader, ByAsyncHeader, ByDottedKey])
async def test_custom_key_functions_plain_async_and_dotted(limit):
    async with site({"Login": [path(limit)]}) as (client, _):
        a = [(await client.get("/login", headers={"X-Client": "a"})).code for _ in range(2)]
        b = [(await client.get("/login", headers={"X-Client": "b"})).code for _ in range(2)]
        none = [(await client.get("/login")).code for _ in range(2)]
    assert a == b == [200, 429]
    assert none == [200, 200]


async def test_methods_limits_only_the_methods_named():
    async with site({"Login": [path(PostsOnly)]}) as (client, _):
        gets = [(await client.get("/login")).code for _ in range(3)]
        posts = [(await client.post("/login", body="")).code for _ in range(2)]
    assert gets == [200, 200, 200]
    assert posts == [200, 429]


async def test_routes_sharing_a_class_share_its_budget_unless_per_route():
    async with site({"^/(login|other)$": [path(Shared)]}) as (client, _):
        codes = [(await client.get(p)).code for p in ("/login", "/other", "/login", "/other")]
    assert codes == [200, 200, 429, 429]
    async with site({"^/(login|other)$": [path(SharedPerRoute)]}) as (client, prefix):
        codes = [(await client.get(p)).code for p in ("/login", "/other", "/login", "/other")]
        codes.append((await client.get("/login")).code)
        keys = await redis_keys(prefix)
    assert codes == [200, 200, 200, 200, 429]
    assert len(keys) == 2 and any(b":Login:" in k for k in keys)


async def test_a_route_matched_by_regex_and_unnamed_routes_are_limited():
    async with site({r"^/open/": [path(ThreePerMinute)]}) as (client, _):
        codes = [(await client.get(f"/open/{i}")).code for i in range(4)]
    assert codes == [200, 200, 200, 429]


async def test_common_modules_limit_every_route_and_can_be_switched_off():
    limit = path(ThreePerMinute)
    async with site({"Free": [f"!{limit}"]}, COMMON_MODULES=(limit,)) as (client, _):
        codes = [(await client.get(p)).code for p in ("/login", "/other", "/login", "/other")]
        free = [(await client.get("/free")).code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert free == [200] * 4


async def test_api_handlers_answer_the_429_in_json():
    async with site({"Items": [path(ThreePerMinute)]}) as (client, _):
        for _ in range(3):
            assert (await client.get("/api/items")).code == 200
        refused = await client.get("/api/items")
    assert refused.code == 429
    assert refused.headers["Content-Type"].startswith("application/json")
    assert body(refused) == {"code": 429, "message": "Too Many Requests"}
    assert int(refused.headers["Retry-After"]) >= 1


async def test_headers_can_be_left_out():
    async with site({"Login": [path(NoHeaders)]}) as (client, _):
        ok = await client.get("/login")
        refused = await client.get("/login")
    assert ok.code == 200 and "X-RateLimit-Remaining" not in ok.headers
    assert refused.code == 429 and "Retry-After" in refused.headers


async def test_concurrent_requests_never_exceed_the_limit():
    async with site({"Login": [path(TenPerMinute)]}) as (client, _):
        answers = await asyncio.gather(*(client.get("/login") for _ in range(40)))
    codes = sorted(r.code for r in answers)
    assert codes.count(200) == 10 and codes.count(429) == 30
    assert CALLS["/login"] == 10


async def test_two_applications_sharing_redis_share_the_limit():
    prefix = new_prefix()
    try:
        with configured({"Login": [path(ThreePerMinute)]}, prefix=prefix):
            async with serve(Application(urls=URLS)) as one, serve(Application(urls=URLS)) as two:
                codes = [(await c.get("/login")).code for c in (one, two, one, two, one)]
    finally:
        await delete_prefix(prefix)
    assert codes == [200, 200, 200, 429, 429]


# ---------------------------------------------------------------------- Redis unavailable
async def test_redis_down_fails_open_by_default_with_one_warning(caplog):
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    caplog.set_level(logging.WARNING, logger="tornadopy.ratelimit")
    async with site({"Login": [path(FailOpen)]}, location=dead) as (client, _):
        started = time.monotonic()
        codes = [(await client.get("/login")).code for _ in range(5)]
        took = time.monotonic() - started
    assert codes == [200] * 5
    assert CALLS["/login"] == 5
    warnings = [r for r in caplog.records if r.name == "tornadopy.ratelimit"]
    assert len(warnings) == 1  # not one per request
    assert "unavailable" in warnings[0].getMessage() and "fail_open" in warnings[0].getMessage()
    assert took < 5


async def test_redis_down_fails_closed_with_503_when_asked():
    dead = f"127.0.0.1:{free_port()}"
    async with site({"Login": [path(FailClosed)]}, location=dead) as (client, _):
        answers = [await client.get("/login") for _ in range(2)]
    assert [r.code for r in answers] == [503, 503]
    assert "/login" not in CALLS
    assert dead.encode() not in answers[0].body  # details go to the log only


async def test_redis_restart_recovers_and_a_fresh_server_learns_the_script():
    server = RedisProcess()
    server.start()
    try:
        async with site({"Login": [path(FailClosed)]}, location=server.location) as (client, _):
            assert [(await client.get("/login")).code for _ in range(2)] == [200, 200]
            port = server.port
            server.kill()
            assert (await client.get("/login")).code == 503
            server = RedisProcess(port)  # same port, empty data, empty script cache
            await server.astart()
            # the budget is gone with the data; the script is loaded again (NOSCRIPT fallback)
            codes = [(await client.get("/login")).code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
    finally:
        server.kill()


async def test_a_frozen_redis_fails_within_the_module_timeout():
    server = RedisProcess()
    server.start()

    class Quick(FailOpen):
        timeout = 0.3

    try:
        async with site({"Login": [Quick]}, location=server.location) as (client, _):
            assert (await client.get("/login")).code == 200
            server.pause()
            started = time.monotonic()
            answer = await client.get("/login")
            took = time.monotonic() - started
            server.resume()
            assert answer.code == 200 and took < 0.9
            await asyncio.sleep(0.1)
            assert (await client.get("/login")).headers["X-RateLimit-Remaining"] in ("1", "0")
    finally:
        server.kill()
