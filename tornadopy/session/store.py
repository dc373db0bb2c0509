"""``SessionStore``: session records in a cache alias (``SESSION['session_cache_alias']``).

A record is a JSON text (never pickle: session data is influenced by clients) of::

    {"d": {...session data...}, "ip": "<address it was created from>", "e": <expires seconds>}

stored under ``tornadopy.session:<random part of the id>``. Logging out (or cycling the key)
*revokes* an id: a marker ``tornadopy.session.revoked:<random part>`` is written first, then the
record is deleted. Every save of an existing session writes the record and then looks for the
marker, deleting the record again if it is there -- so a request that loaded the session before
a concurrent log-out cannot bring it back, whichever order the two reach the store in (RELIABILITY
S4). New sessions are written with ``add`` (never over an existing record).

Any backend of :mod:`tornadopy.cache` works; one that cannot be reached raises
:class:`~tornadopy.cache.CacheError` (a 503 when uncaught).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from tornadopy.cache import caches

__all__ = ["SessionStore", "decode_record", "encode_record"]

log = logging.getLogger("tornadopy.session")

RECORD_PREFIX = "tornadopy.session:"
REVOKED_PREFIX = "tornadopy.session.revoked:"
#: How long a revocation marker lives: longer than any request that may still hold the session.
REVOKED_TTL = 24 * 60 * 60


def encode_record(data: dict[str, Any], ip: str | None, expires: int) -> str:
    """The JSON text stored for a session."""
    return json.dumps(
        {"d": data, "ip": ip, "e": expires},
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def decode_record(raw: Any) -> dict[str, Any] | None:
    """The record of a stored JSON text, or None when it is not one of ours."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("d"), dict):
        return None
    return record


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

    async def create(self, rand: str, record: str, ttl: int) -> bool:
        """Store a new record; False if the id is already taken (never overwrites)."""
        return bool(await self.cache.add(RECORD_PREFIX + rand, record, timeout=ttl))

    async def save(self, rand: str, record: str, ttl: int) -> bool:
        """Write an existing session's record; False (and nothing kept) if it was revoked."""
        cache = self.cache
        key = RECORD_PREFIX + rand
        await cache.set(key, record, timeout=ttl)
        if await cache.has_key(REVOKED_PREFIX + rand):
            await cache.delete(key)
            return False
        return True

    async def touch(self, rand: str, ttl: int) -> bool:
        """Extend a live record's lifetime without rewriting it; False if it is gone."""
        return bool(await self.cache.touch(RECORD_PREFIX + rand, timeout=ttl))

    async def revoke(self, rand: str) -> None:
        """Delete the record of ``rand`` for good: concurrent saves cannot bring it back."""
        cache = self.cache
        await cache.set(REVOKED_PREFIX + rand, 1, timeout=REVOKED_TTL)
        await cache.delete(RECORD_PREFIX + rand)
