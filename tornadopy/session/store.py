"""``SessionStore``: session records in a cache alias (``SESSION['session_cache_alias']``).

Records are JSON texts (see :mod:`tornadopy.session.records` for the format and the keys),
stored under ``tornadopy.session:<random part of the id>``. Logging out (or cycling the key)
*revokes* an id: a marker ``tornadopy.session.revoked:<random part>`` is written first, then the
record is deleted. Every save of an existing session writes the record and then looks for the
marker, deleting the record again if it is there -- so a request that loaded the session before
a concurrent log-out cannot bring it back, whichever order the two reach the store in (RELIABILITY
S4). New sessions are written with ``add`` (never over an existing record).

Sessions bound to a user (``user=...``) go through the cache's
:class:`~tornadopy.session.index.UserIndex` instead, which keeps the user's index in step with
the same guarantees; unbound sessions never touch it. Binding needs a backend that can index
(:func:`~tornadopy.session.index.index_for`).

Any backend of :mod:`tornadopy.cache` works; one that cannot be reached raises
:class:`~tornadopy.cache.CacheError` (a 503 when uncaught).
"""

from __future__ import annotations

import logging
from typing import Any

from tornadopy.cache import caches
from tornadopy.session.index import UserIndex, index_for
from tornadopy.session.records import (
    RECORD_PREFIX,
    REVOKED_PREFIX,
    REVOKED_TTL,
    decode_record,
    encode_record,
)

__all__ = [
    "RECORD_PREFIX",
    "REVOKED_PREFIX",
    "REVOKED_TTL",
    "SessionStore",
    "decode_record",
    "encode_record",
]

log = logging.getLogger("tornadopy.session")


class SessionStore:
    """Reads and writes session records in the cache alias ``alias`` (of the running loop)."""

    __slots__ = ("alias",)

    def __init__(self, alias: str) -> None:
        self.alias = alias

    @property
    def cache(self) -> Any:
        """The cache instance of the running event loop."""
        return caches[self.alias]

    async def load(self, rand: str) -> dict[str, Any] | None:
        """The record of ``rand``, or None (unknown, expired, revoked or unreadable)."""
        raw = await self.cache.get(RECORD_PREFIX + rand)
        if raw is None:
            return None
        record = decode_record(raw)
        if record is None:
            log.warning("session store %r: unreadable record for a session id; ignored", self.alias)
        return record

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
        cache = self.cache
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
        cache = self.cache
        await cache.set(REVOKED_PREFIX + rand, 1, timeout=REVOKED_TTL)
        await cache.delete(RECORD_PREFIX + rand)
