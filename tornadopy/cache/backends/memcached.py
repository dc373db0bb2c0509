"""``MemcachedCache``: memcached over its text protocol, with aiomcache's reply parser.

Configuration (``CACHES['alias']``)::

    'BACKEND': 'tornadopy.cache.backends.memcached.MemcachedCache',
    'LOCATION': '127.0.0.1:11211',            # or a list: keys spread by consistent hashing
    'OPTIONS': {'POOL_SIZE': 50, 'SOCKET_TIMEOUT': 1.0, 'CONNECT_TIMEOUT': 0.5},

Time budget: every call -- waiting for a pooled connection, connecting, the request and its reply
-- has one deadline of ``SOCKET_TIMEOUT`` (**1.0 s**, checked every 0.05 s, so a call fails
after 1.0-1.05 s); connecting alone is capped at ``CONNECT_TIMEOUT`` (0.5 s). Past it the
connection is aborted and the call raises :class:`~tornadopy.cache.CacheError` (a 503); a refused
or reset connection fails at once. Once the server is back, the next call opens a fresh
connection: no restart, no new cache object.

Connections (``POOL_SIZE`` per server, default 50 -- aiomcache's default of 2 throttled 50
concurrent coroutines to 29k GET/s here, 50 gave 52k) are reused only after a complete exchange;
a cancelled or failed call closes its connection (see :mod:`.memcached_pool` for the aiomcache
faults this avoids).

Values: integers as digits in two's complement (``incr``/``decr`` use memcached's atomic ``incr``,
negative values included; results wrap at 64 bits), everything else pickled; a value memcached
refuses (over its item size, 1 MB by default) is not stored -- ``set`` removes the old value and
logs a warning, ``set_many`` returns the key. ``clear()`` runs ``flush_all`` on every server (the
whole server, as in Django). Timeouts are rounded up to whole seconds; over 30 days they are sent
as a Unix time, as memcached requires.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from aiomcache.exceptions import ClientException

from tornadopy.cache.backends.base import DEFAULT_TIMEOUT, BaseCache, LoopBound
from tornadopy.cache.backends.hashring import HashRing
from tornadopy.cache.backends.memcached_pool import (
    Connection,
    DeadlineExceeded,
    PoolClosed,
    ServerPool,
    protocol,
)
from tornadopy.cache.backends.serializer import MASK64, dumps, from_unsigned, loads
from tornadopy.cache.exceptions import CacheError
from tornadopy.exception import ImproperlyConfigured

__all__ = ["MemcachedCache"]

log = logging.getLogger("tornadopy.cache")

_OPTIONS = {"POOL_SIZE", "SOCKET_TIMEOUT", "CONNECT_TIMEOUT", "MAX_ENTRIES", "CULL_FREQUENCY"}
_THIRTY_DAYS = 2592000
#: ``exchange(conn, key)`` for one ``get``: aiomcache's reply parser, called without a wrapper
_get_values = functools.partial(protocol._multi_get, with_cas=False)

_NETWORK_ERRORS = (
    OSError,
    EOFError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    ClientException,
    DeadlineExceeded,
    TimeoutError,
    PoolClosed,
    ValueError,
)


def _parse_server(server: str, setting: str) -> tuple[str, int]:
    host, sep, port = str(server).rpartition(":")
    if not sep:
        return str(server), 11211
    try:
        return host, int(port)
    except ValueError:
        raise ImproperlyConfigured(
            f"{setting} has a bad server {server!r} (want host:port)"
        ) from None


class MemcachedCache(LoopBound, BaseCache):
    """The cache API of :mod:`tornadopy.cache.backends.base` on one or more memcached servers."""

    def __init__(
        self,
        location: Any = None,
        params: Mapping[str, Any] | None = None,
        *,
        alias: str = "default",
    ) -> None:
        super().__init__(location, params, alias=alias)
        options = dict((params or {}).get("OPTIONS") or {})
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ImproperlyConfigured(
                f"{self.setting('OPTIONS')} has unknown keys {sorted(unknown)}; memcached "
                f"accepts {sorted(_OPTIONS - {'MAX_ENTRIES', 'CULL_FREQUENCY'})}"
            )
        self._timeout = float(options.get("SOCKET_TIMEOUT", 1.0))
        connect_timeout = float(options.get("CONNECT_TIMEOUT", 0.5))
        pool_size = int(options.get("POOL_SIZE", 50))
        if pool_size < 1 or self._timeout <= 0 or connect_timeout <= 0:
            raise ImproperlyConfigured(f"{self.setting('OPTIONS')}: sizes and timeouts must be > 0")
        servers = (
            location if isinstance(location, list | tuple) else [location or "127.0.0.1:11211"]
        )
        if not servers:
            raise ImproperlyConfigured(f"{self.setting('LOCATION')} names no server")
        self._pools = [
            ServerPool(
                *_parse_server(s, self.setting("LOCATION")),
                maxsize=pool_size,
                connect_timeout=connect_timeout,
            )
            for s in servers
        ]
        self._ring: HashRing[ServerPool] = HashRing(self._pools, [str(p) for p in self._pools])
        self._single = self._pools[0] if len(self._pools) == 1 else None

    # ------------------------------------------------------------------ plumbing

    def _exptime(self, timeout: Any) -> int:
        """memcached's exptime: 0 = never, -1 = at once, > 30 days = a Unix time."""
        seconds = self.timeout_seconds(timeout)
        if seconds is None:
            return 0
        if seconds <= 0:
            return -1
        secs = math.ceil(seconds)
        return secs + int(time.time()) if secs > _THIRTY_DAYS else secs

    def _pool(self, key: bytes) -> ServerPool:
        return self._single or self._ring.get_node(key)

    async def _run(self, pool: ServerPool, exchange: Any, *args: Any, retry: bool = True) -> Any:
        loop = self._check_loop()
        try:
            return await pool.run(loop, loop.time() + self._timeout, exchange, *args, retry=retry)
        except _NETWORK_ERRORS as exc:
            raise self._error(pool, exc) from exc

    def _error(self, pool: ServerPool, exc: BaseException) -> CacheError:
        if isinstance(exc, DeadlineExceeded | TimeoutError):
            what = f"memcached {pool} did not answer within {self._timeout} s"
        elif isinstance(exc, PoolClosed):
            return self.closed_error()
        else:
            what = f"memcached {pool} failed ({type(exc).__name__}: {exc})"
        return CacheError(self.alias, what)

    async def _command(self, key: bytes, data: bytes, retry: bool = True) -> bytes:
        replies = await self._run(self._pool(key), protocol.command, data, retry=retry)
        return replies[0]

    def _unexpected(self, command: str, reply: bytes) -> CacheError:
        return CacheError(self.alias, f"memcached answered {reply[:80]!r} to {command}")

    @staticmethod
    def _store_line(command: bytes, key: bytes, data: bytes, exptime: int) -> bytes:
        return b"%s %s 0 %d %d\r\n%s\r\n" % (command, key, exptime, len(data), data)

    # ------------------------------------------------------------------ API

    async def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        # the hottest call: _run and protocol.get_multi inlined (two coroutines fewer)
        bkey = self.make_and_validate_key(key, version).encode()
        pool = self._single or self._ring.get_node(bkey)
        loop = self._check_loop()
        try:
            values, _ = await pool.run(loop, loop.time() + self._timeout, _get_values, bkey)
        except _NETWORK_ERRORS as exc:
            raise self._error(pool, exc) from exc
        data = values.get(bkey)
        return default if data is None else loads(data, unsigned=True)

    async def _store(
        self, command: bytes, key: Any, value: Any, timeout: Any, version: int | None
    ) -> bool:
        bkey = self.make_and_validate_key(key, version).encode()
        line = self._store_line(command, bkey, dumps(value, unsigned=True), self._exptime(timeout))
        # _command and _run inlined (set is the second hottest call)
        pool = self._single or self._ring.get_node(bkey)
        loop = self._check_loop()
        try:
            replies = await pool.run(loop, loop.time() + self._timeout, protocol.command, line)
        except _NETWORK_ERRORS as exc:
            raise self._error(pool, exc) from exc
        reply = replies[0]
        if reply == b"STORED":
            return True
        if reply == b"NOT_STORED":
            return False
        if reply.startswith((b"SERVER_ERROR", b"CLIENT_ERROR")):
            log.warning(
                "cache %r: memcached did not store %r: %s",
                self.alias,
                key,
                reply.decode("ascii", "replace"),
            )
            if command == b"set":
                await self._command(bkey, b"delete %s\r\n" % bkey)
            return False
        raise self._unexpected(command.decode(), reply)

    async def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        await self._store(b"set", key, value, timeout, version)

    async def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return await self._store(b"add", key, value, timeout, version)

    async def touch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        bkey = self.make_and_validate_key(key, version).encode()
        reply = await self._command(bkey, b"touch %s %d\r\n" % (bkey, self._exptime(timeout)))
        if reply not in (b"TOUCHED", b"NOT_FOUND"):
            raise self._unexpected("touch", reply)
        return reply == b"TOUCHED"

    async def delete(self, key: Any, version: int | None = None) -> bool:
        bkey = self.make_and_validate_key(key, version).encode()
        reply = await self._command(bkey, b"delete %s\r\n" % bkey)
        if reply not in (b"DELETED", b"NOT_FOUND"):
            raise self._unexpected("delete", reply)
        return reply == b"DELETED"

    async def has_key(self, key: Any, version: int | None = None) -> bool:
        bkey = self.make_and_validate_key(key, version).encode()
        values = await self._run(self._pool(bkey), protocol.get_multi, [bkey])
        return bkey in values

    async def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        bkey = self.make_and_validate_key(key, version).encode()
        line = b"incr %s %d\r\n" % (bkey, int(delta) & MASK64)
        reply = await self._command(bkey, line, retry=False)
        if reply.isdigit():
            return from_unsigned(int(reply))
        if reply == b"NOT_FOUND":
            raise ValueError(f"Key {key!r} not found")
        if reply.startswith(b"CLIENT_ERROR"):
            raise TypeError(f"the value at {key!r} is not an integer")
        raise self._unexpected("incr", reply)

    def _group(self, finals: Iterable[bytes]) -> dict[ServerPool, list[bytes]]:
        groups: dict[ServerPool, list[bytes]] = {}
        for bkey in finals:
            groups.setdefault(self._pool(bkey), []).append(bkey)
        return groups

    async def _each_server(self, groups: dict[ServerPool, Any], exchange: Any) -> list[Any]:
        if len(groups) == 1:
            ((pool, arg),) = groups.items()
            return [await self._run(pool, exchange, arg)]
        return list(await asyncio.gather(*(self._run(p, exchange, a) for p, a in groups.items())))

    async def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        originals = {self.make_and_validate_key(k, version).encode(): k for k in keys}
        if not originals:
            return {}
        found: dict[Any, Any] = {}
        for values in await self._each_server(self._group(originals), protocol.get_multi):
            for bkey, data in values.items():
                found[originals[bkey]] = loads(data, unsigned=True)
        return found

    @staticmethod
    async def _pipeline(conn: Connection, lines: list[bytes]) -> list[bytes]:
        return await protocol.command(conn, b"".join(lines), len(lines))

    async def set_many(
        self, mapping: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        exptime = self._exptime(timeout)
        lines: dict[bytes, bytes] = {}
        originals: dict[bytes, Any] = {}
        for key, value in mapping.items():
            bkey = self.make_and_validate_key(key, version).encode()
            originals[bkey] = key
            lines[bkey] = self._store_line(b"set", bkey, dumps(value, unsigned=True), exptime)
        if not lines:
            return []
        groups = {pool: [lines[k] for k in ks] for pool, ks in self._group(lines).items()}
        order = [k for ks in self._group(lines).values() for k in ks]
        replies = [r for rs in await self._each_server(groups, self._pipeline) for r in rs]
        failed = [originals[k] for k, r in zip(order, replies, strict=True) if r != b"STORED"]
        if failed:
            await self.delete_many(failed, version=version)
        return failed

    async def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        finals = [self.make_and_validate_key(k, version).encode() for k in keys]
        if not finals:
            return
        groups = {
            pool: [b"delete %s\r\n" % k for k in ks] for pool, ks in self._group(finals).items()
        }
        await self._each_server(groups, self._pipeline)

    async def clear(self) -> None:
        if self._closed:
            raise self.closed_error()
        for pool in self._pools:
            reply = (await self._run(pool, protocol.command, b"flush_all\r\n"))[0]
            if reply != b"OK":
                raise self._unexpected("flush_all", reply)

    async def close(self) -> None:
        self._closed = True
        for pool in self._pools:
            await pool.close()
