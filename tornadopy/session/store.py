"""``SessionStore``: session records in a cache alias (``SESSION['session_cache_alias']``).

Records are JSON texts (see :mod:`tornadopy.session.records` for the format and the keys),
stored under ``tornadopy.session:<random part of the id>``. Logging out (or cycling the key)
*revokes* an id: a marker ``tornadopy.session.revoked:<random part>`` is written first, then the
record is deleted. Every save of an existing session writes the record only if there is no
marker (atomically on Redis; on other stores it writes, then looks for the marker and deletes the
record again if it is there) -- so a request that loaded the session before a concurrent log-out
cannot bring it back, whichever order the two reach the store in (RELIABILITY S4). New sessions
are written with ``add`` (never over an existing record).

Round trips on :class:`~tornadopy.cache.backends.rediscache.RedisCache` (one Lua script each,
sent by ``EVALSHA``; the scripts are loaded again by themselves after a server restart):

==============================  ============================================================
load (first session call)       1: ``GET`` + ``PEXPIRE`` to the record's own lifetime -- a
                                read-only request needs nothing more (like ``GETEX``, but
                                with the lifetime stored in the record)
save of a changed session       1: "``SET`` unless the revocation marker exists"
new session                     1: ``SET NX``
revoke (flush, cycle_key)       1: marker ``SET`` then ``DEL`` of the record, pipelined in
                                that order
==============================  ============================================================

So a request that reads a session costs one round trip and one that reads and writes it two. The
load script does not refresh a record bound to a user (the user's index must follow: that is
one more script call at the end of a read-only request, see :mod:`tornadopy.session.index`), one
whose address does not match while ``ignore_change_ip`` is False, nor a record written in an
older key order; for those, the read-only request refreshes the lifetime at its end, as on every
other backend (``get`` then ``touch``: two round trips on memcached).

Sessions bound to a user (``user=...``) go through the cache's
:class:`~tornadopy.session.index.UserIndex` instead, which keeps the user's index in step with
the same guarantees; unbound sessions never touch it. Binding needs a backend that can index
(:func:`~tornadopy.session.index.index_for`).

Any backend of :mod:`tornadopy.cache` works; one that cannot be reached raises
:class:`~tornadopy.cache.CacheError` (a 503 when uncaught).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from tornadopy.cache import caches
from tornadopy.session.index import UserIndex, index_for
from tornadopy.session.records import (
    RECORD_PREFIX,
    REVOKED_PREFIX,
    REVOKED_TTL,
    decode_record,
    encode_record,
)

if TYPE_CHECKING:
    from tornadopy.session.redisstore import RedisRecords

__all__ = [
    "RECORD_PREFIX",
    "REVOKED_PREFIX",
    "REVOKED_TTL",
    "SessionStore",
    "decode_record",
    "encode_record",
]

log = logging.getLogger("tornadopy.session")


def _redis_records(cache: Any) -> RedisRecords | None:
    """One-round-trip operations for a RedisCache (only looked up in ``sys.modules``: a cache of
    a class whose module was never imported cannot be one, so sessions never import redis)."""
    module = sys.modules.get("tornadopy.cache.backends.rediscache")
    if module is not None and isinstance(cache, module.RedisCache):
        from tornadopy.session.redisstore import RedisRecords

        return RedisRecords(cache)
    return None


class SessionStore:
    """Reads and writes session records in the cache alias ``alias`` (of the running loop)."""

    __slots__ = ("_last", "alias")

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._last: tuple[Any, RedisRecords | None] = (None, None)

    @property
    def cache(self) -> Any:
        """The cache instance of the running event loop."""
        return caches[self.alias]

    def _fast(self) -> tuple[Any, RedisRecords | None]:
        """(the cache, its one-round-trip record operations or None for a generic backend)."""
        cache = caches[self.alias]
        last = self._last
        if last[0] is not cache:
            last = self._last = (cache, _redis_records(cache))
        return last

    async def load(
        self, rand: str, remote_ip: str | None = None, check_ip: bool = False
    ) -> tuple[dict[str, Any] | None, bool]:
        """``(record, refreshed)``: the record of ``rand`` or None (unknown, expired, revoked or
        unreadable), and whether its lifetime was already refreshed by the same round trip
        (Redis, unbound record whose address matches when ``check_ip``)."""
        cache, fast = self._fast()
        refreshed = False
        if fast is not None:
            ip = _dumps(remote_ip) if check_ip else ""
            raw, refreshed = await fast.load(rand, ip)
        else:
            raw = await cache.get(RECORD_PREFIX + rand)
        if raw is None:
            return None, False
        record = decode_record(raw)
        if record is None:
            log.warning("session store %r: unreadable record for a session id; ignored", self.alias)
            return None, False
        return record, refreshed

    def index(self) -> UserIndex:
        """The per-user index of the running loop's cache; ``SessionControlUnsupported`` when
        the backend cannot index sessions by user."""
        return index_for(self.cache)

    async def create(self, rand: str, record: str, ttl: int, user: str | None = None) -> bool:
        """Store a new record; False if the id is already taken (never overwrites)."""
        if user is not None:
            return await self.index().create(rand, record, ttl, user)
        return bool(await self.cache.add(RECORD_PREFIX + rand, record, timeout=ttl))

    async def save(self, rand: str, record: str, ttl: int, user: str | None = None) -> bool:
        """Write an existing session's record; False (and nothing kept) if it was revoked."""
        if user is not None:
            return await self.index().save(rand, record, ttl, user)
        cache, fast = self._fast()
        if fast is not None:
            return await fast.save(rand, record, ttl)
        key = RECORD_PREFIX + rand
        await cache.set(key, record, timeout=ttl)
        if await cache.has_key(REVOKED_PREFIX + rand):
            await cache.delete(key)
            return False
        return True

    async def touch(self, rand: str, ttl: int, user: str | None = None) -> bool:
        """Extend a live record's lifetime without rewriting it; False if it is gone."""
        if user is not None:
            return await self.index().touch(rand, ttl, user)
        return bool(await self.cache.touch(RECORD_PREFIX + rand, timeout=ttl))

    async def revoke(self, rand: str, user: str | None = None) -> None:
        """Delete the record of ``rand`` for good: concurrent saves cannot bring it back."""
        if user is not None:
            await self.index().revoke([rand], user)
            return
        cache, fast = self._fast()
        if fast is not None:
            await fast.revoke(rand)
            return
        await cache.set(REVOKED_PREFIX + rand, 1, timeout=REVOKED_TTL)
        await cache.delete(RECORD_PREFIX + rand)


_dumps = json.JSONEncoder(ensure_ascii=False).encode
