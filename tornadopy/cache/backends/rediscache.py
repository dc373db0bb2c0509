"""Redis through ``redis.asyncio``: :class:`RedisClient` (the raw client) and :class:`RedisCache`.

Configuration (``CACHES['alias']``)::

    'BACKEND': 'tornadopy.cache.backends.rediscache.RedisCache',   # or .RedisClient
    'LOCATION': '127.0.0.1:6379',          # or 'redis://[:password@]host:port/db', 'unix://...'
    'OPTIONS': {
        'DB': 0, 'PASSWORD': None,
        'POOL_KWARGS': {...},               # merged over the defaults below
        'PING_INTERVAL': 120,               # -> health_check_interval: PING a connection idle
                                            #    that long before using it again
        'PARSER_CLASS': 'redis.connection.DefaultParser',   # seed setting; mapped, see below
    }

Time budget -- a dead or frozen server becomes :class:`~tornadopy.cache.CacheError` (a 503) in at
most **2 s** with these defaults (``POOL_KWARGS`` may change any of them):

==========================  =====  ==========================================================
``socket_timeout``          1.0 s  each call inside the guard (every :class:`RedisCache`
                                   method; the write and the reply together), kept by one
                                   watchdog timer per client (checked every 0.05 s) that
                                   cancels a call past its deadline; a frozen server
                                   (``kill -STOP``) fails here. ``None``: no bound
``socket_connect_timeout``  0.5 s  opening a connection
``timeout``                 0.5 s  waiting for one of the ``max_connections`` (50)
                                   connections when all are busy; then CacheError instead
                                   of queueing forever
``retry``                   1      one immediate retry, **only** on a connection error (a
                                   connection the server dropped, e.g. after a restart), never
                                   on a timeout -- redis-py's default retry (3 retries with
                                   backoff, timeouts included) took 14.5 s to give up with
                                   socket_timeout=1 here, and without socket_timeout (its
                                   default) a call on a frozen server never returns
==========================  =====  ==========================================================

Worst case: 0.5 (pool) + 1.05 (the call, reconnecting included) = 1.55 s; a frozen server
typically fails after 1.0-1.05 s, a refused port at once. redis-py itself gets
``socket_timeout=None`` by default (its own default is 5 s per read/write, enforced with a
timer, a future and a task per command: the whole call then costs about 100,000 instructions
more -- measured with cachegrind -- for a bound the guard already keeps). Raw client calls made
outside ``async with rc.guard:`` have no time bound then: wrap them in the guard. After a restart the first call
succeeds through the retry; no app restart and no new cache object is needed.

A cancelled call (timeout, client gone) makes redis-py disconnect that connection, so its late
reply can never be read by the next call (tested through a delaying proxy).

The bounded wait is done by a small gate in front of redis-py's plain ``ConnectionPool`` (capped at
``max_connections`` as well): redis-py's ``BlockingConnectionPool`` does the same but cost 15-25 %
of the throughput here (a lock, a condition and a timer per call).

``PARSER_CLASS``: the seed named sync parsers; ``redis.connection.DefaultParser`` (or an unknown
name ending in ``DefaultParser``) keeps redis-py's default (hiredis when installed),
``...PythonParser``/``...RESP2Parser`` selects the pure-Python reader, ``...HiredisParser``
hiredis; any other dotted path is imported and passed on as ``parser_class``.

:class:`RedisCache` stores integers as digits (so ``INCRBY`` works) and pickles everything else.
``clear()`` with a ``KEY_PREFIX`` deletes only this cache's keys (``SCAN`` + ``UNLINK``); without
one it runs ``FLUSHDB`` on the configured DB, like Django.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tornadopy.cache.backends.base import DEFAULT_TIMEOUT, BaseCache, LoopBound, default_key_func
from tornadopy.cache.backends.gate import Gate, GateTimeout
from tornadopy.cache.backends.serializer import dumps, loads
from tornadopy.cache.exceptions import CacheError
from tornadopy.eager import current_task
from tornadopy.exception import ImproperlyConfigured
from tornadopy.importer import import_object

__all__ = ["DEFAULT_POOL_KWARGS", "WATCHDOG_TICK", "RedisCache", "RedisClient"]

#: how often calls in flight are checked against their time budget (its resolution)
WATCHDOG_TICK = 0.05
_monotonic = time.monotonic
_WAIT: Any = object()  # _Guard.enter(): no free slot, await wait()


DEFAULT_POOL_KWARGS: dict[str, Any] = {
    "socket_timeout": 1.0,
    "socket_connect_timeout": 0.5,
    "timeout": 0.5,
    "max_connections": 50,
}
_OPTIONS = {
    "DB",
    "PASSWORD",
    "POOL_KWARGS",
    "PING_INTERVAL",
    "PARSER_CLASS",
    "MAX_ENTRIES",
    "CULL_FREQUENCY",
}  # the last two are Django's, ignored here

_INCR = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return false
"""
_PERSIST = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PERSIST', KEYS[1]) return 1 end
return 0
"""


def _default_retry() -> Retry:
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def _parser_class(path: Any, setting: str) -> Any:
    """Map the seed's sync ``PARSER_CLASS`` names onto redis.asyncio parsers (None = default)."""
    if not isinstance(path, str):
        return path
    from redis._parsers import _AsyncHiredisParser, _AsyncRESP2Parser

    name = path.rsplit(".", 1)[-1]
    if name.endswith("DefaultParser"):
        return None
    if name.endswith(("PythonParser", "RESP2Parser")) and "Async" not in name:
        return _AsyncRESP2Parser
    if name.endswith("HiredisParser") and "Async" not in name:
        return _AsyncHiredisParser
    return import_object(path, setting=setting)


class _Translate:
    """``with rc.errors():`` -- redis-py errors become :class:`CacheError` naming the alias."""

    __slots__ = ("alias",)

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, RedisError):
            raise _cache_error(self.alias, exc) from exc


class _Guard:
    """``async with rc.guard:`` -- wait (bounded) for one of the pool's connections, bound the
    time of what runs inside, and turn redis-py errors raised inside into :class:`CacheError`.

    The time bound (``budget``, ``POOL_KWARGS['socket_timeout']``) is kept by one watchdog
    timer per client, which runs every :data:`WATCHDOG_TICK` s while calls are in flight and
    cancels the task of a call past its deadline; redis-py then disconnects that call's
    connection (its late reply can never reach another call) and the guard turns the
    cancellation into :class:`CacheError`. A call costs two dict operations instead of the
    timer, future and task redis-py's own ``socket_timeout`` creates for every read and write
    (about 100,000 instructions per command, measured with cachegrind).
    """

    __slots__ = ("_busy", "_fired", "_nested", "_timer", "alias", "budget", "gate")

    def __init__(self, alias: str, gate: Gate, budget: float | None = None) -> None:
        self.alias = alias
        self.gate = gate
        self.budget = budget
        self._busy: dict[asyncio.Task[Any], float] = {}  # task -> deadline (loop time)
        self._nested: dict[asyncio.Task[Any], int] = {}  # task -> inner guards (rare)
        self._fired: dict[asyncio.Task[Any], int] = {}  # cancelled by the watchdog
        self._timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> None:
        if self.enter() is _WAIT:
            await self.wait()

    async def __aexit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.exit(current_task() if self._busy else None, exc)

    # the same in plain calls, for the backend's hot paths (no coroutine per enter/exit, and
    # the task looked up once):
    #   task = guard.enter()
    #   if task is _WAIT: task = await guard.wait()
    #   try: ... except BaseException as exc: guard.exit(task, exc); raise
    #   guard.exit(task, None)

    def enter(self) -> Any:
        """Take a free slot and start the call's deadline: the task to give to :meth:`exit`
        (None without a budget), or ``_WAIT`` if the caller must ``await wait()``."""
        gate = self.gate
        if not gate.free:
            return _WAIT
        gate.free -= 1
        return None if self.budget is None else self._start()

    async def wait(self) -> Any:
        """Wait (bounded) for a slot, then start the call's deadline (see :meth:`enter`)."""
        try:
            await self.gate._wait()
        except GateTimeout as exc:
            raise CacheError(self.alias, f"no free Redis connection: {exc}") from None
        return None if self.budget is None else self._start()

    def _start(self) -> asyncio.Task[Any] | None:
        task = current_task()
        budget = self.budget
        if task is None or budget is None:
            return None
        busy = self._busy
        if task in busy:  # nested in the same task: the outer deadline holds
            self._nested[task] = self._nested.get(task, 0) + 1
            return task
        busy[task] = _monotonic() + budget
        if self._timer is None:
            loop = task.get_loop()
            self._timer = loop.call_at(loop.time() + WATCHDOG_TICK, self._tick, loop)
        return task

    def exit(self, task: asyncio.Task[Any] | None, exc: BaseException | None) -> None:
        """Give the slot back; raise :class:`CacheError` for a call past its deadline or a
        redis-py error (``exc``), else return (the caller re-raises ``exc``)."""
        self.gate.release()
        if task is not None:
            busy = self._busy
            if task in busy:
                if self._nested and task in self._nested:
                    depth = self._nested.pop(task) - 1
                    if depth:
                        self._nested[task] = depth
                else:
                    del busy[task]
                    if self._fired and task in self._fired:  # the watchdog cancelled this call
                        before = self._fired.pop(task)
                        if task.uncancel() <= before and exc is not None:
                            raise CacheError(
                                self.alias,
                                f"Redis did not answer in time (no reply within {self.budget} s)",
                            ) from None
        if isinstance(exc, RedisError):
            raise _cache_error(self.alias, exc) from exc

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        busy = self._busy
        if not busy:
            self._timer = None
            return
        now = _monotonic()  # the clock of the deadlines (uvloop's loop.time() is another)
        fired = self._fired
        for task, deadline in busy.items():
            # a task being cancelled already (client gone) is left to that cancellation
            if deadline <= now and task not in fired and not task.cancelling():
                fired[task] = 0
                task.cancel()
        self._timer = loop.call_at(now + WATCHDOG_TICK, self._tick, loop)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _cache_error(alias: str, exc: BaseException) -> CacheError:
    if isinstance(exc, RedisTimeoutError):
        what = "Redis did not answer in time"
    elif isinstance(exc, RedisConnectionError):
        what = "Redis is unreachable"
    else:
        what = "Redis refused the command"
    return CacheError(alias, f"{what} ({type(exc).__name__}: {exc})")


class RedisClient(LoopBound):
    """A Redis connection pool for one alias; ``.client`` is the raw ``redis.asyncio.Redis``.

    Use it for Redis features beyond caching (tokens, counters, pub/sub). Wrap raw calls in
    ``async with rc.guard:`` -- it waits at most ``POOL_KWARGS['timeout']`` for a connection and
    turns redis-py errors into :class:`CacheError` (a 503), like every :class:`RedisCache` call;
    ``with rc.errors():`` only translates errors.
    """

    def __init__(
        self,
        location: Any = None,
        params: Mapping[str, Any] | None = None,
        *,
        alias: str = "default",
    ) -> None:
        params = params or {}
        self.alias = alias
        self.location = location
        self._closed = False
        options = dict(params.get("OPTIONS") or {})
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ImproperlyConfigured(
                f"CACHES[{alias!r}]['OPTIONS'] has unknown keys {sorted(unknown)}; "
                f"Redis accepts {sorted(_OPTIONS - {'MAX_ENTRIES', 'CULL_FREQUENCY'})}"
            )
        self._client = aioredis.Redis.from_pool(self._make_pool(location, options))

    def _make_pool(self, location: Any, options: dict[str, Any]) -> aioredis.ConnectionPool:
        where = f"CACHES[{self.alias!r}]"
        kwargs = dict(DEFAULT_POOL_KWARGS, retry=_default_retry())
        pool_kwargs = options.get("POOL_KWARGS") or {}
        if not isinstance(pool_kwargs, Mapping):
            raise ImproperlyConfigured(f"{where}['OPTIONS']['POOL_KWARGS'] must be a dict")
        kwargs.update(pool_kwargs)
        if kwargs["max_connections"] is None:
            kwargs["max_connections"] = 2**31  # redis-py's "unbounded"
        # socket_timeout is the guard's per-call budget (one watchdog timer per client);
        # redis-py gets None -- its own per-read/write timers cost ~100k instructions a command
        budget = kwargs["socket_timeout"]
        kwargs["socket_timeout"] = None  # not redis-py's own default (5 s in redis 8)
        try:
            self.guard = _Guard(
                self.alias,
                Gate(int(kwargs["max_connections"]), kwargs.pop("timeout")),
                None if budget is None else float(budget),
            )
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"{where}['OPTIONS']['POOL_KWARGS']: {exc}") from exc
        if options.get("PING_INTERVAL"):
            kwargs.setdefault("health_check_interval", float(options["PING_INTERVAL"]))
        if "PARSER_CLASS" in options:
            parser = _parser_class(options["PARSER_CLASS"], f"{where}['OPTIONS']['PARSER_CLASS']")
            if parser is not None:
                kwargs["parser_class"] = parser
        if options.get("DB") is not None:
            kwargs["db"] = int(options["DB"])
        if options.get("PASSWORD"):
            kwargs["password"] = options["PASSWORD"]
        if isinstance(location, list | tuple):
            if len(location) != 1:
                raise ImproperlyConfigured(f"{where}['LOCATION'] must name one Redis server")
            location = location[0]
        location = str(location or "127.0.0.1:6379")
        if "://" in location:
            try:
                return aioredis.ConnectionPool.from_url(location, **kwargs)
            except ValueError as exc:
                raise ImproperlyConfigured(f"{where}['LOCATION'] {location!r}: {exc}") from exc
        host, _, port = location.rpartition(":") if ":" in location else (location, "", "6379")
        try:
            return aioredis.ConnectionPool(host=host or "127.0.0.1", port=int(port), **kwargs)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"{where}: {exc}") from exc

    @property
    def client(self) -> aioredis.Redis:
        """The raw ``redis.asyncio.Redis`` (awaited calls; errors are redis-py's own). Use it
        only in the event loop this instance belongs to (``caches[alias]`` of that loop)."""
        if self._closed:
            raise CacheError(self.alias, "this Redis client was closed (application shut down?)")
        return self._client

    @property
    def closed(self) -> bool:
        return self._closed

    def errors(self) -> _Translate:
        """A context manager turning redis-py errors into :class:`CacheError` (no bounded wait
        for a connection: prefer ``async with rc.guard:``)."""
        return _Translate(self.alias)

    def _redis(self) -> aioredis.Redis:
        self._check_loop()
        return self._client

    async def ping(self) -> bool:
        """True if the server answers (raises :class:`CacheError` otherwise)."""
        async with self.guard:
            return bool(await self._redis().ping())

    async def close(self) -> None:
        """Close every pooled connection; later calls raise :class:`CacheError`."""
        if self._closed:
            return
        self._closed = True
        self.guard.close()
        await self._client.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} alias={self.alias!r} location={self.location!r}>"


class RedisCache(RedisClient, BaseCache):
    """The cache API of :mod:`tornadopy.cache.backends.base` on Redis (plus ``.client``)."""

    def __init__(
        self,
        location: Any = None,
        params: Mapping[str, Any] | None = None,
        *,
        alias: str = "default",
    ) -> None:
        BaseCache.__init__(self, location, params, alias=alias)
        RedisClient.__init__(self, location, params, alias=alias)
        if self._client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ImproperlyConfigured(
                f"{self.setting('OPTIONS', 'POOL_KWARGS', 'decode_responses')} must stay False "
                "for RedisCache (values are stored as bytes); use RedisClient for text replies"
            )
        self._incr_script = self._client.register_script(_INCR)
        self._persist_script = self._client.register_script(_PERSIST)

    def _px(self, timeout: Any) -> int | None:
        """Milliseconds to keep a value (None = forever, 0 = expire at once)."""
        seconds = self.timeout_seconds(timeout)
        if seconds is None:
            return None
        return max(0, math.ceil(seconds * 1000))

    async def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version)
        client = self._redis()
        guard = self.guard
        task = guard.enter()
        if task is _WAIT:
            task = await guard.wait()
        try:
            data = await client.get(key)
        except BaseException as exc:
            guard.exit(task, exc)
            raise
        guard.exit(task, None)
        return default if data is None else loads(data)

    async def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        key = self.make_and_validate_key(key, version)
        px = self._px(timeout)
        data = dumps(value)
        client = self._redis()
        guard = self.guard
        task = guard.enter()
        if task is _WAIT:
            task = await guard.wait()
        try:
            if px == 0:
                await client.delete(key)
            else:
                await client.set(key, data, px=px)
        except BaseException as exc:
            guard.exit(task, exc)
            raise
        guard.exit(task, None)

    async def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        key = self.make_and_validate_key(key, version)
        px = self._px(timeout)
        async with self.guard:
            if px == 0:
                return not await self._redis().exists(key)
            return bool(await self._redis().set(key, dumps(value), px=px, nx=True))

    async def touch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        key = self.make_and_validate_key(key, version)
        px = self._px(timeout)
        async with self.guard:
            client = self._redis()
            if px is None:
                return bool(await self._persist_script(keys=[key], client=client))
            if px == 0:
                return bool(await client.delete(key))
            return bool(await client.pexpire(key, px))

    async def delete(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version)
        async with self.guard:
            return bool(await self._redis().delete(key))

    async def has_key(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version)
        async with self.guard:
            return bool(await self._redis().exists(key))

    async def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        final = self.make_and_validate_key(key, version)
        async with self.guard:
            try:
                value = await self._incr_script(
                    keys=[final], args=[int(delta)], client=self._redis()
                )
            except ResponseError as exc:
                if "not an integer" in str(exc):
                    raise TypeError(f"the value at {key!r} is not an integer") from exc
                if "overflow" in str(exc):
                    raise OverflowError(f"incrementing {key!r} overflows 64 bits") from exc
                raise
        if value is None:
            raise ValueError(f"Key {key!r} not found")
        return int(value)

    async def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        keys = list(keys)
        if not keys:
            return {}
        finals = [self.make_and_validate_key(k, version) for k in keys]
        async with self.guard:
            values = await self._redis().mget(finals)
        return {k: loads(v) for k, v in zip(keys, values, strict=True) if v is not None}

    async def set_many(
        self, mapping: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        if not mapping:
            return []
        items = {self.make_and_validate_key(k, version): dumps(v) for k, v in mapping.items()}
        px = self._px(timeout)
        async with self.guard:
            client = self._redis()
            if px == 0:
                await client.delete(*items)
            elif px is None:
                await client.mset(items)
            else:
                async with client.pipeline(transaction=False) as pipe:
                    for key, data in items.items():
                        pipe.set(key, data, px=px)
                    await pipe.execute()
        return []

    async def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        finals = [self.make_and_validate_key(k, version) for k in keys]
        if not finals:
            return
        async with self.guard:
            await self._redis().delete(*finals)

    async def clear(self) -> None:
        if self._closed:
            raise self.closed_error()
        async with self.guard:
            client = self._redis()
            if not self.key_prefix:
                await client.flushdb()
                return
            pattern = _glob_escape(self.key_prefix)
            pattern += ":*" if self.key_func is default_key_func else "*"
            batch: list[bytes] = []
            async for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    await client.unlink(*batch)
                    batch = []
            if batch:
                await client.unlink(*batch)

    async def close(self) -> None:
        await RedisClient.close(self)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
