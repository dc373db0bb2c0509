"""MemcachedCache: storage format, hash ring, and the faults of RELIABILITY.md C1/C3/C5.

Faults are injected on real sockets: a delaying TCP proxy in front of the shared memcached, or a
memcached process of our own (killed, paused with SIGSTOP, restarted on the same port).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import aiomcache
import pytest
from support.servers import MemcachedProcess
from support.tcpproxy import TcpProxy

from tornadopy.cache import CacheError, InvalidCacheKey
from tornadopy.cache.backends.hashring import HashRing
from tornadopy.cache.backends.memcached import MemcachedCache
from tornadopy.exception import ImproperlyConfigured


def make(location, **options):
    params = {"KEY_PREFIX": f"t{uuid.uuid4().hex[:10]}", "OPTIONS": options}
    return MemcachedCache(location, params, alias="mc")


@pytest.fixture
def mc_location(memcached_server):
    return f"{memcached_server[0]}:{memcached_server[1]}"


@pytest.fixture
async def own_memcached():
    server = MemcachedProcess()
    await server.astart()
    try:
        yield server
    finally:
        server.kill()


# ---------------------------------------------------------------- storage format


async def test_integers_are_stored_as_digits_two_complement(mc_location):
    c = make(mc_location)
    raw = aiomcache.Client(*mc_location.split(":"))
    try:
        await c.set("pos", 42)
        await c.set("neg", -5)
        assert await raw.get(c.make_key("pos").encode()) == b"42"
        assert await raw.get(c.make_key("neg").encode()) == b"18446744073709551611"
        assert await c.incr("neg", 10) == 5  # memcached's own incr, wrapping through 2**64
        # memcached pads a shrinking number with spaces; the backend reads it back as 5
        assert await raw.get(c.make_key("neg").encode()) == b"5".ljust(20)
        assert await c.get("neg") == 5
    finally:
        await raw.close()
        await c.close()


async def test_value_too_large_is_not_stored_and_old_value_removed(mc_location, caplog):
    c = make(mc_location)
    try:
        await c.set("k", "old")
        await c.set("k", b"x" * (2 * 1024 * 1024))  # over memcached's 1 MB item limit
        assert await c.get("k") is None
        assert "did not store" in caplog.text
        failed = await c.set_many({"small": 1, "huge": b"x" * (2 * 1024 * 1024)})
        assert failed == ["huge"]
        assert await c.get("small") == 1  # the connection stayed usable
    finally:
        await c.close()


async def test_unknown_option_is_a_configuration_error(mc_location):
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['mc'\]\['OPTIONS'\].*POOL"):
        make(mc_location, POOLSIZE=3)


async def test_bad_server_address_names_the_setting():
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['mc'\]\['LOCATION'\]"):
        make("127.0.0.1:notaport")


async def test_key_over_250_bytes_is_refused_before_anything_is_sent(mc_location):
    """aiomcache counts characters: 200 x 'é' (400 bytes) passes its check and memcached answers
    CLIENT_ERROR. The backend refuses it in bytes without opening a connection."""
    async with TcpProxy(*mc_location.split(":")[:1], int(mc_location.split(":")[1])) as proxy:
        c = make(proxy.location)
        try:
            with pytest.raises(InvalidCacheKey):
                await c.set("é" * 200, "v")
            assert proxy.connections == 0
        finally:
            await c.close()


async def test_raw_aiomcache_passes_the_400_byte_key_to_the_server(mc_location):
    """The measurement behind the byte check: aiomcache's own validation lets it through."""
    raw = aiomcache.Client(*mc_location.split(":"))
    try:
        with pytest.raises(aiomcache.exceptions.ClientException) as info:
            await raw.set(("é" * 200).encode(), b"v")
        assert b"CLIENT_ERROR" in repr(info.value).encode() or "CLIENT_ERROR" in str(info.value)
    finally:
        await raw.close()


# ---------------------------------------------------------------- hash ring


async def test_ring_spreads_keys_and_each_key_lives_on_its_ring_server(mc_location, own_memcached):
    c = make([mc_location, own_memcached.location])
    raws = {str(p): aiomcache.Client(p.host, p.port) for p in c._pools}
    try:
        await c.set_many({f"k{i}": i for i in range(400)})
        per_server = dict.fromkeys(raws, 0)
        for i in range(400):
            bkey = c.make_key(f"k{i}").encode()
            owner = str(c._ring.get_node(bkey))
            assert await raws[owner].get(bkey) == str(i).encode()
            per_server[owner] += 1
        assert all(n > 120 for n in per_server.values()), per_server
        assert await c.get_many([f"k{i}" for i in range(400)]) == {f"k{i}": i for i in range(400)}
    finally:
        for raw in raws.values():
            await raw.close()
        await c.close()


def test_ring_moves_only_the_keys_of_a_removed_server():
    servers = [f"10.0.0.{i}:11211" for i in range(1, 5)]
    full = HashRing(servers)
    smaller = HashRing(servers[:3])
    keys = [f"key-{i}".encode() for i in range(5000)]
    moved = [
        k
        for k in keys
        if full.get_node(k) != servers[3] and full.get_node(k) != smaller.get_node(k)
    ]
    assert moved == []
    share = sum(full.get_node(k) == servers[3] for k in keys) / len(keys)
    assert 0.15 < share < 0.35


# ---------------------------------------------------------------- C1: cancelled command


async def _cancel_after_sent(call, proxy, delay=0.5):
    proxy.delay = delay
    task = asyncio.ensure_future(call)
    await asyncio.sleep(0.15)  # the request went through, its reply is held by the proxy
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    proxy.delay = 0


async def test_cancelled_get_never_hands_its_reply_to_the_next_get(mc_location):
    host, port = mc_location.split(":")
    async with TcpProxy(host, int(port)) as proxy:
        c = make(proxy.location, POOL_SIZE=1)
        try:
            await c.set_many({"sessA": "data of A", "sessB": "data of B", "sessC": "data of C"})
            await _cancel_after_sent(c.get("sessA"), proxy)
            assert await c.get("sessB") == "data of B"
            assert await c.get("sessC") == "data of C"
            await asyncio.sleep(0.6)  # the held reply of A is released now: nobody may read it
            for _ in range(5):
                assert await c.get("sessB") == "data of B"
        finally:
            await c.close()


async def test_timed_out_set_and_incr_leave_no_stale_reply(mc_location):
    host, port = mc_location.split(":")
    async with TcpProxy(host, int(port)) as proxy:
        c = make(proxy.location, POOL_SIZE=1)
        try:
            await c.set("n", 1)
            proxy.delay = 0.5
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(c.incr("n"), 0.15)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(c.set("other", "x"), 0.15)
            proxy.delay = 0
            await asyncio.sleep(0.6)
            assert await c.get("n") == 2  # the incr did reach the server; its reply was dropped
            assert await c.get("other") == "x"
            assert await c.add("fresh", 1) is True
        finally:
            await c.close()


async def test_the_proxy_reproduces_aiomcache_stale_reply_bug(mc_location):
    """Control experiment: the same scenario breaks raw aiomcache 0.8.2, whose pool takes the
    interrupted connection back -- so the test above really exercises the fault."""
    host, port = mc_location.split(":")
    prefix = uuid.uuid4().hex[:8].encode()
    async with TcpProxy(host, int(port)) as proxy:
        raw = aiomcache.Client("127.0.0.1", proxy.port, pool_size=1)
        try:
            await raw.set(prefix + b"A", b"data of A")
            await raw.set(prefix + b"B", b"data of B")
            await _cancel_after_sent(raw.get(prefix + b"A"), proxy)
            answer = await raw.get(prefix + b"B")
        finally:
            await raw.close()
    assert answer != b"data of B"  # it read A's late reply instead of its own


# ---------------------------------------------------------------- deadlines, server gone


async def test_server_that_never_answers_is_a_cache_error_within_the_deadline(mc_location):
    host, port = mc_location.split(":")
    async with TcpProxy(host, int(port)) as proxy:
        c = make(proxy.location)
        try:
            await c.set("k", "v")
            proxy.delay = 3
            started = time.monotonic()
            with pytest.raises(CacheError, match="did not answer within 1.0 s"):
                await c.get("k")
            elapsed = time.monotonic() - started
            assert 0.9 < elapsed < 1.5
            proxy.delay = 0
            assert await c.get("k") == "v"
        finally:
            await c.close()


async def test_connection_closed_mid_command_fails_fast_without_freezing_the_loop(mc_location):
    """aiomcache 0.8.2 spins forever on readline() at EOF in set/delete/incr/touch (the loop
    freezes); here every command fails at once with CacheError and the loop keeps running."""
    host, port = mc_location.split(":")
    async with TcpProxy(host, int(port)) as proxy:
        c = make(proxy.location)
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick_task = asyncio.ensure_future(ticker())
        try:
            await c.set("k", 1)
            proxy.drop = True
            started = time.monotonic()
            for call in (c.set("k", 2), c.delete("k"), c.incr("k"), c.touch("k"), c.get("k")):
                with pytest.raises(CacheError):
                    await call
            assert time.monotonic() - started < 0.5
            await asyncio.sleep(0.05)
            assert ticks > 0
            proxy.drop = False
            assert await c.get("k") == 1
        finally:
            tick_task.cancel()
            await c.close()


async def test_memcached_down_is_a_cache_error_and_restart_recovers(own_memcached):
    c = make(own_memcached.location)
    try:
        await c.set("k", "v")
        own_memcached.kill()
        started = time.monotonic()
        for call in (c.get("k"), c.set("k", "v"), c.get_many(["k"]), c.incr("k")):
            with pytest.raises(CacheError, match="mc"):
                await call
        assert time.monotonic() - started < 1.0
        await own_memcached.astart()
        assert await c.get("k") is None  # memcached keeps nothing across a restart
        await c.set("k", "again")
        assert await c.get("k") == "again"
    finally:
        await c.close()


async def test_first_call_after_a_restart_succeeds_on_pooled_connections(own_memcached):
    """The pool still holds connections to the old process; the loop has not seen their EOF
    yet. The exchange fails on the dead connection and is run again on a fresh one."""
    c = make(own_memcached.location, POOL_SIZE=4)
    try:
        await asyncio.gather(*(c.set(f"k{i}", i) for i in range(4)))  # 4 pooled connections
        own_memcached.kill()
        own_memcached.start()  # blocking on purpose: the loop gets no chance to notice
        assert await c.get("k0") is None
        await c.set("k", "new")
        assert await c.get("k") == "new"
    finally:
        await c.close()


async def test_incr_is_not_retried_on_a_dropped_connection(own_memcached):
    c = make(own_memcached.location, POOL_SIZE=1)
    try:
        await c.set("n", 1)
        own_memcached.kill()
        own_memcached.start()
        with pytest.raises(CacheError):
            await c.incr("n")  # it might have been applied before the drop: not repeated
        with pytest.raises(ValueError):
            await c.incr("n")  # fresh connection, fresh server: the key is gone
    finally:
        await c.close()


async def test_paused_memcached_is_a_cache_error_and_resume_recovers(own_memcached):
    c = make(own_memcached.location)
    try:
        await c.set("k", "v")
        own_memcached.pause()
        started = time.monotonic()
        with pytest.raises(CacheError):
            await c.get("k")
        elapsed = time.monotonic() - started
        assert elapsed < 1.5
        own_memcached.resume()
        assert await c.get("k") == "v"
    finally:
        await c.close()


# ---------------------------------------------------------------- C4: pool exhausted


async def test_pool_never_exceeds_its_size_and_waiters_get_their_turn(mc_location):
    host, port = mc_location.split(":")
    async with TcpProxy(host, int(port)) as proxy:
        c = make(proxy.location, POOL_SIZE=2, SOCKET_TIMEOUT=5)
        try:
            await c.set_many({f"k{i}": i for i in range(10)})
            proxy.delay = 0.1
            results = await asyncio.gather(*(c.get(f"k{i}") for i in range(10)))
            assert results == list(range(10))
            assert proxy.connections <= 2
        finally:
            await c.close()


async def test_pool_wait_is_bounded_by_the_deadline(mc_location):
    host, port = mc_location.split(":")
    async with TcpProxy(host, int(port)) as proxy:
        c = make(proxy.location, POOL_SIZE=2, SOCKET_TIMEOUT=0.5)
        try:
            await c.set_many({f"k{i}": i for i in range(20)})
            proxy.delay = 0.2
            started = time.monotonic()
            results = await asyncio.gather(
                *(c.get(f"k{i}") for i in range(20)), return_exceptions=True
            )
            elapsed = time.monotonic() - started
            ok = [r for r in results if not isinstance(r, Exception)]
            errors = [r for r in results if isinstance(r, Exception)]
            assert ok and errors
            assert all(isinstance(e, CacheError) for e in errors)
            assert all(results[i] == i for i in range(20) if not isinstance(results[i], Exception))
            assert elapsed < 1.0
            proxy.delay = 0
            assert await c.get("k3") == 3
        finally:
            await c.close()


async def test_instance_refuses_a_second_event_loop(mc_location):
    c = make(mc_location)
    await c.set("k", 1)

    def other_loop():
        return asyncio.run(c.get("k"))

    with pytest.raises(RuntimeError, match="another event loop"):
        await asyncio.to_thread(other_loop)
    await c.close()
