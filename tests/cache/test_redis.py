"""RedisClient / RedisCache: configuration, storage format, and the faults of RELIABILITY.md
C1-C4, on real sockets (a delaying proxy in front of the shared Redis, or a redis-server of our own
on a free port for SIGSTOP/kill/restart -- never the shared 6379 one)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import pytest
import redis.asyncio as aioredis
from redis._parsers import _AsyncRESP2Parser
from support.servers import RedisProcess
from support.tcpproxy import TcpProxy

from tornadopy.cache import CacheError, caches, close_all
from tornadopy.cache.backends.rediscache import RedisCache, RedisClient
from tornadopy.conf import override_settings
from tornadopy.exception import ImproperlyConfigured, ServiceUnavailable

DB = 9


def make(location, cls=RedisCache, prefix=None, **options):
    options.setdefault("DB", DB)
    params = {
        "KEY_PREFIX": prefix if prefix is not None else f"t{uuid.uuid4().hex[:10]}",
        "OPTIONS": options,
    }
    return cls(location, params, alias="rc")


@pytest.fixture
def redis_location(redis_server):
    return f"{redis_server[0]}:{redis_server[1]}"


@pytest.fixture
async def own_redis():
    server = RedisProcess()
    await server.astart()
    try:
        yield server
    finally:
        server.kill()


@contextlib.asynccontextmanager
async def closing(cache):
    try:
        yield cache
    finally:
        if not cache.closed and isinstance(cache, RedisCache):
            with contextlib.suppress(CacheError):
                await cache.clear()
        await cache.close()


# ---------------------------------------------------------------- configuration


async def test_client_is_the_raw_redis_asyncio_client(redis_location):
    async with closing(make(redis_location, cls=RedisClient)) as rc:
        assert isinstance(rc.client, aioredis.Redis)
        assert await rc.ping() is True
        assert not hasattr(rc, "get")  # RedisClient is the raw client; RedisCache adds the API
    async with closing(make(redis_location)) as cache:
        assert isinstance(cache.client, aioredis.Redis)
        await cache.set("k", 1)
        assert await cache.client.get(cache.make_key("k")) == b"1"


async def test_redis_client_through_caches_setting(redis_location):
    config = {
        "BACKEND": "tornadopy.cache.backends.rediscache.RedisClient",
        "LOCATION": redis_location,
        "OPTIONS": {"DB": DB},
    }
    with override_settings(CACHES={"default_redis": config}):
        rc = caches["default_redis"]
        assert isinstance(rc, RedisClient)
        assert caches["default_redis"] is rc
        await close_all()
        assert rc.closed


async def test_errors_context_turns_redis_errors_into_cache_error():
    rc = make(f"127.0.0.1:{_closed_port()}", cls=RedisClient)
    with pytest.raises(CacheError, match="'rc'.*unreachable"):
        with rc.errors():
            await rc.client.get("x")
    await rc.close()


def _closed_port():
    from support.servers import free_port

    return free_port()


@pytest.mark.parametrize("form", ["host:port", "url", "list"])
async def test_location_forms(redis_server, form):
    host, port = redis_server
    location = {
        "host:port": f"{host}:{port}",
        "url": f"redis://{host}:{port}/{DB}",
        "list": [f"{host}:{port}"],
    }[form]
    async with closing(make(location)) as cache:
        await cache.set("k", "v")
        assert await cache.get("k") == "v"
        kwargs = cache.client.connection_pool.connection_kwargs
        assert kwargs["db"] == DB


async def test_seed_options_are_accepted(redis_location):
    """The seed's example: PARSER_CLASS naming a sync parser, POOL_KWARGS, PING_INTERVAL."""
    async with closing(
        make(
            redis_location,
            PARSER_CLASS="redis.connection.DefaultParser",
            POOL_KWARGS={"socket_timeout": 2, "socket_connect_timeout": 2},
            PING_INTERVAL=120,
        )
    ) as cache:
        await cache.set("k", "v")
        assert await cache.get("k") == "v"
        kwargs = cache.client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] is None  # redis-py's per-read timers: never
        assert cache.guard.budget == 2  # socket_timeout is the guard's per-call budget
        assert kwargs["health_check_interval"] == 120


async def test_python_parser_name_maps_to_the_async_resp2_parser(redis_location):
    async with closing(make(redis_location, PARSER_CLASS="redis.connection.PythonParser")) as c:
        assert c.client.connection_pool.connection_kwargs["parser_class"] is _AsyncRESP2Parser
        await c.set("k", [1, 2])
        assert await c.get("k") == [1, 2]


async def test_default_time_budget(redis_location):
    async with closing(make(redis_location)) as cache:
        pool = cache.client.connection_pool
        kwargs = pool.connection_kwargs
        # the 1.0 s budget is the guard's (one watchdog timer), not redis-py's socket_timeout
        assert kwargs.get("socket_timeout") is None
        assert cache.guard.budget == 1.0
        assert kwargs["socket_connect_timeout"] == 0.5
        assert pool.max_connections == 50
        assert (cache.guard.gate.size, cache.guard.gate.timeout) == (50, 0.5)
        retry = kwargs["retry"]
        assert retry.get_retries() == 1


async def test_decode_responses_is_refused_for_the_cache(redis_location):
    with pytest.raises(ImproperlyConfigured, match="decode_responses"):
        make(redis_location, POOL_KWARGS={"decode_responses": True})
    rc = make(redis_location, cls=RedisClient, POOL_KWARGS={"decode_responses": True})
    async with closing(rc):
        await rc.client.set("tpy-text", "é")
        assert await rc.client.get("tpy-text") == "é"
        await rc.client.delete("tpy-text")


async def test_unknown_option_and_bad_location_are_configuration_errors(redis_location):
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['rc'\]\['OPTIONS'\].*HOSTNAME"):
        make(redis_location, HOSTNAME="x")
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['rc'\]"):
        make(["127.0.0.1:1", "127.0.0.1:2"])


async def test_password_option_and_wrong_password_is_a_cache_error():
    server = RedisProcess(None, "--requirepass", "s3cret")
    await server.astart()
    try:
        async with closing(make(server.location, PASSWORD="s3cret")) as cache:
            await cache.set("k", "v")
            assert await cache.get("k") == "v"
        async with closing(make(f"redis://:s3cret@{server.location}/0")) as cache:
            assert await cache.get("k") is None  # DB 9 from OPTIONS wins over the URL's /0
        async with closing(make(server.location, PASSWORD="wrong")) as cache:
            with pytest.raises(CacheError, match="'rc'"):
                await cache.get("k")
    finally:
        server.kill()


# ---------------------------------------------------------------- storage


async def test_integers_are_stored_as_digits(redis_location):
    async with closing(make(redis_location)) as cache:
        await cache.set("pos", 42)
        await cache.set("neg", -5)
        await cache.set("big", 10**30)
        raw = cache.client
        assert await raw.get(cache.make_key("pos")) == b"42"
        assert await raw.get(cache.make_key("neg")) == b"-5"
        assert (await raw.get(cache.make_key("big")))[:1] == b"\x80"  # pickled: beyond int64
        assert await raw.incrby(cache.make_key("pos"), 1) == 43
        assert await cache.get("pos") == 43


async def test_timeouts_become_redis_ttls(redis_location):
    async with closing(make(redis_location)) as cache:
        await cache.set("default", 1)
        await cache.set("forever", 1, timeout=None)
        await cache.set("short", 1, timeout=1.5)
        raw = cache.client
        assert 299_000 < await raw.pttl(cache.make_key("default")) <= 300_000
        assert await raw.pttl(cache.make_key("forever")) == -1
        assert 1000 < await raw.pttl(cache.make_key("short")) <= 1500


async def test_clear_with_prefix_keeps_other_keys(redis_location):
    async with closing(make(redis_location)) as cache:
        foreign = f"foreign-{uuid.uuid4().hex}"
        await cache.client.set(foreign, b"x")
        try:
            await cache.set_many({f"k{i}": i for i in range(1200)})
            await cache.clear()
            assert await cache.get_many([f"k{i}" for i in range(1200)]) == {}
            assert await cache.client.get(foreign) == b"x"
        finally:
            await cache.client.delete(foreign)


async def test_clear_without_prefix_flushes_the_db(own_redis):
    async with closing(make(own_redis.location, prefix="")) as cache:
        await cache.client.set("anything", b"x")
        await cache.set("k", 1)
        await cache.clear()
        assert await cache.client.dbsize() == 0


# ---------------------------------------------------------------- C1: cancellation


async def test_cancelled_get_never_hands_its_reply_to_the_next_get(redis_location):
    host, port = redis_location.split(":")
    async with TcpProxy(host, int(port)) as proxy:
        cache = make(proxy.location, POOL_KWARGS={"max_connections": 1})
        async with closing(cache):
            await cache.set_many({"sessA": "data of A", "sessB": "data of B", "sessC": "C"})
            proxy.delay = 0.5
            task = asyncio.ensure_future(cache.get("sessA"))
            await asyncio.sleep(0.15)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            proxy.delay = 0
            assert await cache.get("sessB") == "data of B"
            assert await cache.get("sessC") == "C"
            await asyncio.sleep(0.6)
            for _ in range(5):
                assert await cache.get("sessB") == "data of B"


async def test_timed_out_incr_leaves_no_stale_reply(redis_location):
    host, port = redis_location.split(":")
    async with TcpProxy(host, int(port)) as proxy:
        cache = make(proxy.location, POOL_KWARGS={"max_connections": 1})
        async with closing(cache):
            await cache.set("n", 1)
            await cache.set("s", "text")
            # load the incr script first: otherwise the delayed call is a NOSCRIPT reply that
            # never gets to SCRIPT LOAD + EVALSHA, and nothing is incremented
            assert await cache.incr("n") == 2
            proxy.delay = 0.5
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(cache.incr("n"), 0.15)
            proxy.delay = 0
            await asyncio.sleep(0.6)
            assert await cache.get("s") == "text"
            assert await cache.get("n") == 3  # the cancelled incr was applied; its reply dropped


# ---------------------------------------------------------------- C3: frozen server


async def test_frozen_redis_is_a_cache_error_within_the_budget_then_recovers(own_redis):
    async with closing(make(own_redis.location)) as cache:
        await cache.set("k", "v")
        own_redis.pause()
        try:
            timings = []
            for call in (cache.get("k"), cache.set("k", "w"), cache.incr("n")):
                started = time.monotonic()
                with pytest.raises(CacheError, match="did not answer in time"):
                    await call
                timings.append(time.monotonic() - started)
        finally:
            own_redis.resume()
        assert all(0.9 < t < 2.0 for t in timings), timings
        assert await cache.get("k") == "v"  # the same object works again after SIGCONT


async def test_frozen_redis_new_connections_also_fail_within_the_budget(own_redis):
    cache = make(own_redis.location)
    async with closing(cache):
        own_redis.pause()
        try:
            started = time.monotonic()
            with pytest.raises(CacheError):
                await cache.get("k")  # first call: connect + handshake against a frozen server
            elapsed = time.monotonic() - started
        finally:
            own_redis.resume()
        assert elapsed < 2.0
        assert await cache.get("k") is None


async def test_frozen_redis_raw_calls_in_the_guard_and_pipelines_keep_the_budget(own_redis):
    """The budget is the guard's: raw client calls and pipelines inside ``async with
    rc.guard`` fail within it too, the cancelled connection is not reused, and the guard's
    gate and bookkeeping are left clean."""
    async with closing(make(own_redis.location, cls=RedisClient)) as rc:
        async with rc.guard:
            await rc.client.set("k", b"v")
        own_redis.pause()
        try:
            for label in ("raw", "pipeline"):
                started = time.monotonic()
                with pytest.raises(CacheError, match="did not answer in time"):
                    async with rc.guard:
                        if label == "raw":
                            await rc.client.get("k")
                        else:
                            async with rc.client.pipeline(transaction=True) as pipe:
                                await pipe.get("k").set("k2", b"w").execute()
                assert 0.9 < time.monotonic() - started < 2.0, label
        finally:
            own_redis.resume()
        assert rc.guard.gate.free == rc.guard.gate.size
        assert not rc.guard._busy
        async with rc.guard:
            assert await rc.client.get("k") == b"v"


async def test_budget_does_not_swallow_an_outer_cancellation(redis_location):
    """A call cancelled from outside (client gone) stays a CancelledError, not a CacheError,
    and leaves nothing behind."""
    host, port = redis_location.split(":")
    async with TcpProxy(host, int(port)) as proxy:
        cache = make(proxy.location)
        async with closing(cache):
            await cache.set("k", "v")
            proxy.delay = 0.3
            task = asyncio.ensure_future(cache.get("k"))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not cache.guard._busy and cache.guard.gate.free == cache.guard.gate.size
            proxy.delay = 0
            assert await cache.get("k") == "v"


# ---------------------------------------------------------------- C2: down, restarted


async def test_redis_down_is_a_fast_cache_error_and_restart_recovers(own_redis):
    async with closing(make(own_redis.location)) as cache:
        await cache.set("k", "v")
        own_redis.kill()
        started = time.monotonic()
        for call in (cache.get("k"), cache.set("k", 1), cache.get_many(["k"]), cache.incr("k")):
            with pytest.raises(CacheError, match="unreachable"):
                await call
        assert time.monotonic() - started < 0.5
        await own_redis.astart()
        assert await cache.get("k") is None  # no persistence in this throwaway server
        await cache.set("k", "back")
        assert await cache.get("k") == "back"


async def test_first_call_after_a_restart_succeeds_on_pooled_connections(own_redis):
    cache = make(own_redis.location)
    async with closing(cache):
        await asyncio.gather(*(cache.set(f"k{i}", i) for i in range(4)))
        own_redis.kill()
        own_redis.start()  # blocking on purpose: the loop gets no chance to notice
        assert await cache.get("k0") is None
        await cache.set("k", "new")
        assert await cache.get("k") == "new"
        await cache.set("n", 1)
        assert await cache.incr("n") == 2  # the Lua script is loaded again into the new server
        assert await cache.touch("n", None) is True


async def test_restart_under_traffic_recovers_without_a_new_cache_object(own_redis):
    cache = make(own_redis.location)
    errors: list[BaseException] = []
    ok_after_restart = 0
    restarted = asyncio.Event()
    stop = time.monotonic() + 4.0

    async def traffic(n):
        nonlocal ok_after_restart
        i = 0
        while time.monotonic() < stop:
            i += 1
            try:
                await cache.set(f"w{n}", i)
                assert await cache.get(f"w{n}") == i
                if restarted.is_set():
                    ok_after_restart += 1
            except CacheError as exc:
                errors.append(exc)
                await asyncio.sleep(0.01)

    async with closing(cache):
        workers = [asyncio.ensure_future(traffic(n)) for n in range(10)]
        await asyncio.sleep(0.7)
        own_redis.kill()
        await asyncio.sleep(1.0)
        await own_redis.astart()
        restarted.set()
        await asyncio.gather(*workers)
        assert errors, "the outage was not noticed"
        assert all(isinstance(e, ServiceUnavailable) for e in errors)
        assert ok_after_restart > 100
        assert await cache.get("w0") is not None


# ---------------------------------------------------------------- C4: pool exhausted


async def test_pool_exhaustion_waits_then_fails_without_deadlock(redis_location):
    host, port = redis_location.split(":")
    async with TcpProxy(host, int(port)) as proxy:
        cache = make(proxy.location, POOL_KWARGS={"max_connections": 2})
        async with closing(cache):
            await cache.set_many({f"k{i}": i for i in range(20)})
            proxy.delay = 0.2
            started = time.monotonic()
            results = await asyncio.gather(
                *(cache.get(f"k{i}") for i in range(20)), return_exceptions=True
            )
            elapsed = time.monotonic() - started
            errors = [r for r in results if isinstance(r, BaseException)]
            assert errors and len(errors) < 20
            assert all(isinstance(e, CacheError) for e in errors), errors
            assert all(results[i] == i for i in range(20) if not isinstance(results[i], Exception))
            assert elapsed < 2.0
            assert proxy.connections <= 2
            proxy.delay = 0
            assert await cache.get("k5") == 5


async def test_guard_gives_raw_client_calls_the_same_bounds(redis_location):
    async with closing(make(redis_location, cls=RedisClient)) as rc:
        async with rc.guard:
            assert await rc.client.ping() is True
        assert rc.guard.gate.free == rc.guard.gate.size
    rc = make(f"127.0.0.1:{_closed_port()}", cls=RedisClient)
    with pytest.raises(CacheError, match="unreachable"):
        async with rc.guard:
            await rc.client.get("x")
    assert rc.guard.gate.free == rc.guard.gate.size
    await rc.close()


async def test_instance_refuses_a_second_event_loop(redis_location):
    async with closing(make(redis_location)) as cache:
        await cache.set("k", 1)

        def other_loop():
            return asyncio.run(cache.get("k"))

        with pytest.raises(RuntimeError, match="another event loop"):
            await asyncio.to_thread(other_loop)
