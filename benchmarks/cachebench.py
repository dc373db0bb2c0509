"""Cache backend speed: tornadopy's backends against the raw clients they wrap, in one process.

::

    python -m benchmarks.cachebench                 # everything (Redis, memcached, local memory)
    python -m benchmarks.cachebench --only=redis --rounds=9 --ops=4000

Pairs (each "tornadopy" line against the "raw" line doing the same work):

- ``RedisCache.get``/``set`` against ``redis.asyncio.Redis`` (a pool of the same size, 50, and
  redis-py's defaults otherwise -- ``socket_timeout=5`` per read/write) doing ``GET`` +
  ``pickle.loads`` / ``pickle.dumps`` + ``SET ... PX``, on the same final key; and ``get``
  against ``redis.asyncio`` with ``socket_timeout=None`` (no time bound at all: the cheapest
  redis-py can be);
- ``MemcachedCache.get``/``set`` (its default pool, 50 connections) against ``aiomcache.Client``
  with ``pool_size=50`` doing the same, and aiomcache's default pool of 2 under 50 coroutines (does
  tornadopy's default pool throttle concurrency? it should be as fast as aiomcache with 50);
- ``LocMemCache.get``/``set`` (awaited) against Django's ``LocMemCache.get``/``set`` (plain calls,
  no ``await`` at all: the stricter comparison).

Every pair runs ``seq`` (one coroutine, ``--ops`` calls one after the other) and, for the network
backends, ``c50`` (50 coroutines sharing ``--ops`` calls). The variants are interleaved: each
round runs every variant once, in a rotating order, so load from other processes on a shared
machine hits both sides of a pair alike. Reported per variant: the median ops/s over the rounds
(wall clock) and the median CPU µs per call of this process (``time.process_time``: the client
side's own cost, which is what differs within a pair -- the server's work is the same); per pair,
the median of the per-round ratios ``tornadopy / raw`` of ops/s and of CPU per call (> 1 means
tornadopy costs more CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

REDIS = ("127.0.0.1", 6379)
MEMCACHED = ("127.0.0.1", 11211)
PREFIX = "tpcachebench"
KEY = "bench-key"
VALUE = {"user": 42, "name": "alice", "roles": ["a", "b"], "pad": "x" * 64}
CONCURRENCY = 50
POOL = 50

Op = Callable[[], Awaitable[Any]]


@dataclass
class Variant:
    name: str
    make: Callable[[int], Awaitable[None]]  # runs n operations
    wall: list[float] = field(default_factory=list)  # ops/s per round
    cpu: list[float] = field(default_factory=list)  # CPU µs per op per round


def sequential(op: Op) -> Callable[[int], Awaitable[None]]:
    async def run(n: int) -> None:
        for _ in range(n):
            await op()

    return run


def concurrent(op: Op, workers: int = CONCURRENCY) -> Callable[[int], Awaitable[None]]:
    async def worker(n: int) -> None:
        for _ in range(n):
            await op()

    async def run(n: int) -> None:
        await asyncio.gather(*(worker(n // workers) for _ in range(workers)))

    return run


def sync_loop(fn: Callable[[], Any]) -> Callable[[int], Awaitable[None]]:
    async def run(n: int) -> None:
        for _ in range(n):
            fn()

    return run


async def measure(variant: Variant, n: int) -> None:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    await variant.make(n)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    variant.wall.append(n / wall)
    variant.cpu.append(cpu / n * 1e6)


# ----------------------------------------------------------------------------- backends


async def redis_pairs(closers: list[Callable[[], Awaitable[Any]]]) -> list[tuple[Variant, ...]]:
    import redis.asyncio as aioredis

    from tornadopy.cache.backends.rediscache import RedisCache

    # longer timeouts than the defaults (0.5 s connect, 1 s per call): opening 50 connections at
    # once, or running under valgrind, on a busy 2-CPU machine can take longer; the cost of a
    # call does not depend on them
    tp = RedisCache(
        f"{REDIS[0]}:{REDIS[1]}",
        {
            "KEY_PREFIX": PREFIX,
            "OPTIONS": {"POOL_KWARGS": {"socket_connect_timeout": 5, "socket_timeout": 30}},
        },
        alias="cachebench",
    )
    raw = aioredis.Redis(host=REDIS[0], port=REDIS[1], max_connections=POOL)
    # redis.asyncio with no time bound at all (its default is socket_timeout=5 per read/write)
    unbounded = aioredis.Redis(
        host=REDIS[0], port=REDIS[1], max_connections=POOL, socket_timeout=None
    )
    closers += [tp.close, raw.aclose, unbounded.aclose]
    final = tp.make_key(KEY)
    dumps, loads = pickle.dumps, pickle.loads
    await tp.set(KEY, VALUE)
    assert await tp.get(KEY) == VALUE and loads(await raw.get(final)) == VALUE

    async def tp_get() -> Any:
        return await tp.get(KEY)

    async def raw_get() -> Any:
        data = await raw.get(final)
        return None if data is None else loads(data)

    async def unbounded_get() -> Any:
        data = await unbounded.get(final)
        return None if data is None else loads(data)

    async def tp_set() -> None:
        await tp.set(KEY, VALUE)

    async def raw_set() -> None:
        await raw.set(final, dumps(VALUE, pickle.HIGHEST_PROTOCOL), px=300_000)

    pairs = []
    for what, tp_op, raw_op in (("get", tp_get, raw_get), ("set", tp_set, raw_set)):
        for mode, wrap in (("seq", sequential), ("c50", concurrent)):
            pairs.append(
                (
                    Variant(f"redis {what} {mode} tornadopy RedisCache", wrap(tp_op)),
                    Variant(f"redis {what} {mode} raw redis.asyncio (pool {POOL})", wrap(raw_op)),
                )
            )
    pairs.append(
        (
            Variant("redis get seq tornadopy RedisCache (again)", sequential(tp_get)),
            Variant(
                "redis get seq raw redis.asyncio, socket_timeout=None", sequential(unbounded_get)
            ),
        )
    )
    return pairs


async def memcached_pairs(
    closers: list[Callable[[], Awaitable[Any]]],
) -> list[tuple[Variant, ...]]:
    import aiomcache

    from tornadopy.cache.backends.memcached import MemcachedCache

    tp = MemcachedCache(
        f"{MEMCACHED[0]}:{MEMCACHED[1]}",
        {"KEY_PREFIX": PREFIX, "OPTIONS": {"CONNECT_TIMEOUT": 5, "SOCKET_TIMEOUT": 5}},
        alias="cachebench",
    )
    raw = aiomcache.Client(MEMCACHED[0], MEMCACHED[1], pool_size=POOL)
    raw2 = aiomcache.Client(MEMCACHED[0], MEMCACHED[1])  # aiomcache's default pool size (2)
    closers += [tp.close, raw.close, raw2.close]
    final = tp.make_key(KEY).encode()
    dumps, loads = pickle.dumps, pickle.loads
    await tp.set(KEY, VALUE)
    assert await tp.get(KEY) == VALUE and loads(await raw.get(final)) == VALUE

    async def tp_get() -> Any:
        return await tp.get(KEY)

    def raw_get_of(client: Any) -> Op:
        async def raw_get() -> Any:
            data = await client.get(final)
            return None if data is None else loads(data)

        return raw_get

    async def tp_set() -> None:
        await tp.set(KEY, VALUE)

    async def raw_set() -> None:
        await raw.set(final, dumps(VALUE, pickle.HIGHEST_PROTOCOL), exptime=300)

    pairs: list[tuple[Variant, ...]] = []
    for what, tp_op, raw_op in (
        ("get", tp_get, raw_get_of(raw)),
        ("set", tp_set, raw_set),
    ):
        for mode, wrap in (("seq", sequential), ("c50", concurrent)):
            pairs.append(
                (
                    Variant(f"memcached {what} {mode} tornadopy MemcachedCache", wrap(tp_op)),
                    Variant(f"memcached {what} {mode} raw aiomcache (pool {POOL})", wrap(raw_op)),
                )
            )
    pairs.append(
        (
            Variant(
                "memcached get c50 tornadopy MemcachedCache (default pool)", concurrent(tp_get)
            ),
            Variant(
                "memcached get c50 raw aiomcache (default pool 2)", concurrent(raw_get_of(raw2))
            ),
        )
    )
    return pairs


async def locmem_pairs(closers: list[Callable[[], Awaitable[Any]]]) -> list[tuple[Variant, ...]]:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
        )
    from django.core.cache.backends.locmem import LocMemCache as DjangoLocMem

    from tornadopy.cache.backends.localcache import LocMemCache

    tp = LocMemCache("cachebench", {"KEY_PREFIX": PREFIX}, alias="cachebench")
    dj = DjangoLocMem("cachebench", {"KEY_PREFIX": PREFIX})
    await tp.set(KEY, VALUE)
    dj.set(KEY, VALUE)
    assert await tp.get(KEY) == VALUE and dj.get(KEY) == VALUE

    async def tp_get() -> Any:
        return await tp.get(KEY)

    async def tp_set() -> None:
        await tp.set(KEY, VALUE)

    return [
        (
            Variant("locmem get seq tornadopy LocMemCache (awaited)", sequential(tp_get)),
            Variant(
                "locmem get seq Django LocMemCache (plain call)", sync_loop(lambda: dj.get(KEY))
            ),
        ),
        (
            Variant("locmem set seq tornadopy LocMemCache (awaited)", sequential(tp_set)),
            Variant(
                "locmem set seq Django LocMemCache (plain call)",
                sync_loop(lambda: dj.set(KEY, VALUE)),
            ),
        ),
    ]


# ----------------------------------------------------------------------------- runner

SECTIONS = {"redis": redis_pairs, "memcached": memcached_pairs, "locmem": locmem_pairs}
#: calls per block relative to --ops (local memory is ~100x faster than a round trip)
SCALE = {"redis": 1, "memcached": 1, "locmem": 20}


async def main_async(args: argparse.Namespace) -> None:
    only = [s for s in args.only.split(",") if s] if args.only else list(SECTIONS)
    closers: list[Callable[[], Awaitable[Any]]] = []
    pairs: list[tuple[str, tuple[Variant, ...]]] = []
    try:
        for section in only:
            for pair in await SECTIONS[section](closers):
                pairs.append((section, pair))
        variants = [(section, v) for section, pair in pairs for v in pair]
        for section, v in variants:  # warm-up: connections opened, code paths hot
            await v.make(max(CONCURRENCY, args.ops * SCALE[section] // 10))
        for r in range(args.rounds):
            shift = r % len(variants)
            for section, v in variants[shift:] + variants[:shift]:
                await measure(v, args.ops * SCALE[section])
    finally:
        for close in closers:
            await close()
    print(
        f"cachebench: {args.rounds} rounds x {args.ops} calls per variant "
        f"(local memory x{SCALE['locmem']}), medians; ratio = tornadopy / raw per round, median"
    )
    print(f"{'variant':<62} {'ops/s':>10} {'CPU µs/op':>10}")
    for _, pair in pairs:
        for v in pair:
            print(
                f"{v.name:<62} {statistics.median(v.wall):>10,.0f} {statistics.median(v.cpu):>10.1f}"
            )
        tp, raw = pair
        ops_ratio = statistics.median(a / b for a, b in zip(tp.wall, raw.wall, strict=True))
        cpu_ratio = statistics.median(a / b for a, b in zip(tp.cpu, raw.cpu, strict=True))
        print(f"{'  -> ratio ops/s (CPU per op)':<62} {ops_ratio:>10.3f} {cpu_ratio:>10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cachebench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", default="", help="comma list of: redis, memcached, locmem")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (7)")
    parser.add_argument("--ops", type=int, default=2000, help="calls per variant per round (2000)")
    args = parser.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
