"""Per-user session indexes: the stored sessions a user is logged in with (session control).

A session becomes *bound* to a user with ``await session.set_user(user_id)``. Every store
operation on a bound session (create, save, touch, revoke) goes through the :class:`UserIndex`
of the session cache, which keeps the user's index in step with the records; unbound sessions
never come here (they cost exactly what they cost before).

Which backends index (:func:`index_for`):

- :class:`~tornadopy.cache.backends.rediscache.RedisCache` -- :class:`RedisUserIndex`: a Redis
  set per user whose members are the random parts of the user's sessions. Writing a bound record
  and adding it to the set is one Lua script (atomic: no moment where the record is live and not
  indexed); the set's expiry is raised to the longest lifetime of its sessions on every write and
  touch, so it disappears with the user's last session. Members whose record is gone (expired,
  evicted) are pruned whenever the set is read, and at log-in once the set holds more than
  :data:`PRUNE_ABOVE` members.
- :class:`~tornadopy.cache.backends.localcache.LocMemCache` -- :class:`LocMemUserIndex`: a dict
  in process memory beside the cache's memory area (never culled by ``MAX_ENTRIES``, unlike a
  cache entry), holding each member's expiry; one process, like the store itself.
- anything else -- memcached (no atomic set operations, and it may evict an index while the
  sessions it lists live on, so "log out everywhere" would silently miss sessions), the file
  cache, the dummy cache and third-party backends: :class:`SessionControlUnsupported`.

Revocation always writes the revocation marker of :mod:`tornadopy.session.store` before the
record is deleted, so a request that loaded the session earlier cannot save it back (S4).
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from typing import Any

from tornadopy.cache.backends.serializer import dumps, loads
from tornadopy.exception import TornadopyError
from tornadopy.session.records import (
    RECORD_PREFIX,
    REVOKED_PREFIX,
    REVOKED_TTL,
    decode_record,
    user_index_key,
)

__all__ = [
    "PRUNE_ABOVE",
    "LocMemUserIndex",
    "RedisUserIndex",
    "SessionControlUnsupported",
    "UserIndex",
    "index_for",
]

#: A log-in prunes the user's index when it holds more members than this.
PRUNE_ABOVE = 8

#: One entry of :meth:`UserIndex.entries`: (random part, decoded record, seconds left or None).
Entry = tuple[str, dict[str, Any], float | None]


class SessionControlUnsupported(TornadopyError, NotImplementedError):
    """The session cache cannot index sessions by user (memcached, file, dummy, ...)."""

    def __init__(self, cache: Any) -> None:
        kind = type(cache).__name__
        alias = getattr(cache, "alias", "?")
        super().__init__(
            f"session control (set_user, sessions_of, revoke_user_sessions) needs a session "
            f"store that can index sessions by user; SESSION['session_cache_alias'] = {alias!r} "
            f"is a {kind}, which cannot. Use a RedisCache alias (or LocMemCache for a single "
            "process)."
        )
        self.backend = kind
        self.alias = alias


class UserIndex:
    """Store operations on bound sessions, keeping the per-user index in step (one per cache).

    ``rand`` is a session's random part, ``record`` its JSON text, ``ttl`` seconds, ``user`` the
    canonical user id text. All methods are awaited; store failures raise
    :class:`~tornadopy.cache.CacheError`.
    """

    __slots__ = ("cache",)

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    async def create(self, rand: str, record: str, ttl: int, user: str) -> bool:
        """Store a new bound record and index it; False if the id is taken."""
        raise NotImplementedError

    async def save(self, rand: str, record: str, ttl: int, user: str) -> bool:
        """Write a bound record and index it; False (nothing kept) if it was revoked."""
        raise NotImplementedError

    async def touch(self, rand: str, ttl: int, user: str) -> bool:
        """Extend a bound record and its index entry; False if the record is gone."""
        raise NotImplementedError

    async def revoke(self, rands: list[str], user: str) -> None:
        """Revoke these sessions of ``user`` (marker, record deleted, index entry removed)."""
        raise NotImplementedError

    async def entries(self, user: str) -> list[Entry]:
        """The live sessions of ``user``; index entries whose record is gone are pruned."""
        raise NotImplementedError

    async def forget(self, rand: str, user: str) -> None:
        """Remove ``rand`` from the index of ``user`` only (the session was re-bound)."""
        raise NotImplementedError


def _bound_to(record: dict[str, Any] | None, user: str) -> dict[str, Any] | None:
    """``record`` if it is a record bound to ``user``, else None (a stale index entry)."""
    return record if record is not None and record.get("u") == user else None


# ---------------------------------------------------------------------------------- Redis

# KEYS: record, revocation marker, index. ARGV: value, ttl in ms, member, 'nx' for a new record.
# Returns 0 when refused (revoked, or id taken), else the number of members of the index.
_WRITE = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[3], ARGV[3])
  return 0
end
if ARGV[4] == 'nx' then
  if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 0 end
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
redis.call('SADD', KEYS[3], ARGV[3])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
return redis.call('SCARD', KEYS[3])
"""

# KEYS: record, index. ARGV: ttl in ms, member. Returns 1 if the record lives, else 0.
_TOUCH = """
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[2])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return 1
"""


class _Errors:
    """``async with``: redis-py errors become CacheError (for a RedisCache without ``guard``)."""

    __slots__ = ("cache",)

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, typ: Any, exc: BaseException | None, tb: Any) -> None:
        self.cache.errors().__exit__(typ, exc, tb)


def _guard(cache: Any) -> Any:
    """The cache's bounded wait for a connection plus error translation (``async with``)."""
    guard = getattr(cache, "guard", None)
    return guard if guard is not None else _Errors(cache)


class RedisUserIndex(UserIndex):
    """A Redis set per user, written together with the records by Lua scripts."""

    __slots__ = ("_guard", "_touch", "_write")

    def __init__(self, cache: Any) -> None:
        super().__init__(cache)
        self._guard = _guard(cache)
        client = cache.client
        self._write = client.register_script(_WRITE)
        self._touch = client.register_script(_TOUCH)

    def _record(self, rand: str) -> str:
        return str(self.cache.make_and_validate_key(RECORD_PREFIX + rand))

    def _marker(self, rand: str) -> str:
        return str(self.cache.make_and_validate_key(REVOKED_PREFIX + rand))

    def _index(self, user: str) -> str:
        return str(self.cache.make_and_validate_key(user_index_key(user)))

    async def _store(self, rand: str, record: str, ttl: int, user: str, mode: bytes) -> bool:
        cache = self.cache
        keys = [self._record(rand), self._marker(rand), self._index(user)]
        args = [dumps(record), int(ttl * 1000), rand, mode]
        async with self._guard:
            members = int(await self._write(keys=keys, args=args, client=cache.client))
        if members > PRUNE_ABOVE:
            await self.entries(user)  # drops members whose record is gone
        return members > 0

    async def create(self, rand: str, record: str, ttl: int, user: str) -> bool:
        return await self._store(rand, record, ttl, user, b"nx")

    async def save(self, rand: str, record: str, ttl: int, user: str) -> bool:
        return await self._store(rand, record, ttl, user, b"set")

    async def touch(self, rand: str, ttl: int, user: str) -> bool:
        cache = self.cache
        keys = [self._record(rand), self._index(user)]
        async with self._guard:
            return bool(
                await self._touch(keys=keys, args=[int(ttl * 1000), rand], client=cache.client)
            )

    async def revoke(self, rands: list[str], user: str) -> None:
        if not rands:
            return
        cache = self.cache
        marker = dumps(1)
        async with self._guard, cache.client.pipeline(transaction=True) as pipe:
            for rand in rands:
                pipe.set(self._marker(rand), marker, px=REVOKED_TTL * 1000)
                pipe.delete(self._record(rand))
            pipe.srem(self._index(user), *rands)
            await pipe.execute()

    async def forget(self, rand: str, user: str) -> None:
        cache = self.cache
        async with self._guard:
            await cache.client.srem(self._index(user), rand)

    async def entries(self, user: str) -> list[Entry]:
        cache = self.cache
        index = self._index(user)
        async with self._guard:
            client = cache.client
            members = sorted(m.decode("ascii", "replace") for m in await client.smembers(index))
            if not members:
                return []
            async with client.pipeline(transaction=False) as pipe:
                for rand in members:
                    key = self._record(rand)
                    pipe.get(key)
                    pipe.pttl(key)
                replies = await pipe.execute()
            found: list[Entry] = []
            stale: list[str] = []
            for i, rand in enumerate(members):
                raw, pttl = replies[2 * i], replies[2 * i + 1]
                record = _bound_to(None if raw is None else decode_record(loads(raw)), user)
                if record is None:
                    stale.append(rand)
                    continue
                found.append((rand, record, pttl / 1000 if pttl >= 0 else None))
            if stale:
                await client.srem(index, *stale)
        return found


# ---------------------------------------------------------------------------- local memory

#: LOCATION -> final index key -> {random part: expiry (epoch seconds)}
_areas: dict[str, dict[str, dict[str, float]]] = {}
_areas_lock = threading.Lock()
_last_sweep: dict[str, float] = {}
#: Seconds between sweeps of a memory area's indexes for members past their expiry.
SWEEP_EVERY = 60.0


class LocMemUserIndex(UserIndex):
    """Indexes in process memory beside a LocMemCache area (LocMem calls never suspend, so a
    store call and the index update that follows it cannot be interleaved by another task)."""

    __slots__ = ("_area", "_location")

    def __init__(self, cache: Any) -> None:
        super().__init__(cache)
        self._location = str(cache.location or "")
        with _areas_lock:
            self._area = _areas.setdefault(self._location, {})

    def _index(self, user: str) -> str:
        return str(self.cache.make_and_validate_key(user_index_key(user)))

    def _add(self, user: str, rand: str, ttl: int) -> None:
        now = time.time()
        with _areas_lock:
            self._area.setdefault(self._index(user), {})[rand] = now + ttl
            if now - _last_sweep.get(self._location, 0.0) >= SWEEP_EVERY:
                _last_sweep[self._location] = now
                self._sweep(now)

    def _sweep(self, now: float) -> None:  # with _areas_lock held
        for key in list(self._area):
            members = self._area[key]
            for rand in [r for r, until in members.items() if until <= now]:
                del members[rand]
            if not members:
                del self._area[key]

    def _remove(self, user: str, rands: list[str]) -> None:
        key = self._index(user)
        with _areas_lock:
            members = self._area.get(key)
            if members is None:
                return
            for rand in rands:
                members.pop(rand, None)
            if not members:
                del self._area[key]

    async def create(self, rand: str, record: str, ttl: int, user: str) -> bool:
        if not await self.cache.add(RECORD_PREFIX + rand, record, timeout=ttl):
            return False
        self._add(user, rand, ttl)
        return True

    async def save(self, rand: str, record: str, ttl: int, user: str) -> bool:
        cache = self.cache
        await cache.set(RECORD_PREFIX + rand, record, timeout=ttl)
        if await cache.has_key(REVOKED_PREFIX + rand):
            await cache.delete(RECORD_PREFIX + rand)
            self._remove(user, [rand])
            return False
        self._add(user, rand, ttl)
        return True

    async def touch(self, rand: str, ttl: int, user: str) -> bool:
        if await self.cache.touch(RECORD_PREFIX + rand, timeout=ttl):
            self._add(user, rand, ttl)
            return True
        self._remove(user, [rand])
        return False

    async def revoke(self, rands: list[str], user: str) -> None:
        cache = self.cache
        for rand in rands:
            await cache.set(REVOKED_PREFIX + rand, 1, timeout=REVOKED_TTL)
            await cache.delete(RECORD_PREFIX + rand)
        self._remove(user, rands)

    async def forget(self, rand: str, user: str) -> None:
        self._remove(user, [rand])

    async def entries(self, user: str) -> list[Entry]:
        with _areas_lock:
            members = dict(self._area.get(self._index(user), {}))
        now = time.time()
        found: list[Entry] = []
        stale: list[str] = []
        for rand, until in sorted(members.items()):
            record = None
            if until > now:
                record = _bound_to(decode_record(await self.cache.get(RECORD_PREFIX + rand)), user)
            if record is None:
                stale.append(rand)
                continue
            found.append((rand, record, until - now))
        if stale:
            self._remove(user, stale)
        return found


# ---------------------------------------------------------------------------------- lookup

_indexes: weakref.WeakKeyDictionary[Any, UserIndex] = weakref.WeakKeyDictionary()

#: (module, class, index): backends that can index. Looked up in ``sys.modules`` -- a cache of a
#: class whose module was never imported cannot be one -- so importing sessions imports neither.
_INDEXABLE: tuple[tuple[str, str, type[UserIndex]], ...] = (
    ("tornadopy.cache.backends.rediscache", "RedisCache", RedisUserIndex),
    ("tornadopy.cache.backends.localcache", "LocMemCache", LocMemUserIndex),
)


def index_for(cache: Any) -> UserIndex:
    """The :class:`UserIndex` of a session cache instance (one per instance);
    :class:`SessionControlUnsupported` for a backend that cannot index sessions by user."""
    index = _indexes.get(cache)
    if index is not None:
        return index
    for module_name, class_name, index_class in _INDEXABLE:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(cache, getattr(module, class_name)):
            index = _indexes[cache] = index_class(cache)
            return index
    raise SessionControlUnsupported(cache)
