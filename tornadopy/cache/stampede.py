"""Stampede protection primitives used by ``cache_page``: one recomputation per key.

- **In one process**: :func:`flights` gives, per application, the futures of the recomputations
  in progress (``{key: Future}``). The first request missing a key registers one and computes;
  the others await it (shielded, so a waiter that is cancelled does not cancel the computation)
  and replay what it produced.
- **Across processes**: :class:`CacheLock`, a short lock key taken with ``add`` -- atomic on every
  shared backend (memcached ``add``, Redis ``SET NX PX``, ``LocMemCache`` under its lock) -- with a
  bounded TTL, so a holder that died (``SIGKILL``, lost host) blocks nobody longer than that TTL.
  Released only by its holder (a random token is checked before the ``delete``).

Guarantee, precisely: while the cache answers and a recomputation finishes within the lock's
TTL, a key is recomputed **once across all processes sharing the cache**. A recomputation that
outlives the TTL lets one more process start (at most one per TTL period). ``FileBasedCache``'s
``add`` is not atomic across processes and ``DummyCache`` stores nothing: on those only the
in-process protection holds.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from typing import Any

from tornadopy.cache.exceptions import CacheError

__all__ = ["CacheLock", "flights"]

_flights: weakref.WeakKeyDictionary[Any, dict[str, asyncio.Future[Any]]] = (
    weakref.WeakKeyDictionary()
)


def flights(owner: Any) -> dict[str, asyncio.Future[Any]]:
    """The recomputations in progress of ``owner`` (an application), by key."""
    try:
        return _flights[owner]
    except KeyError:
        table: dict[str, asyncio.Future[Any]] = {}
        _flights[owner] = table
        return table


class CacheLock:
    """A lock key in a cache: ``await lock.acquire()`` (bool, never blocks),
    ``await lock.release()`` (only if still ours; errors ignored -- the TTL ends it anyway)."""

    __slots__ = ("backend", "held", "key", "timeout", "token")

    def __init__(self, backend: Any, key: str, timeout: float) -> None:
        self.backend = backend
        self.key = key
        self.timeout = timeout
        self.token = secrets.token_hex(8)
        self.held = False

    async def acquire(self) -> bool:
        """Take the lock if nobody holds it; raises ``CacheError`` if the cache is down."""
        if not self.held:
            self.held = await self.backend.add(self.key, self.token, timeout=self.timeout)
        return self.held

    async def release(self) -> None:
        """Delete the lock key if it still holds our token (it may have expired and been taken
        by another process if our work outlived the TTL)."""
        if not self.held:
            return
        self.held = False
        try:
            if await self.backend.get(self.key) == self.token:
                await self.backend.delete(self.key)
        except CacheError:
            pass
