"""``LocMemCache``: a per-process, in-memory LRU cache (the embedded default).

Entries live in process memory, shared by every instance with the same ``LOCATION`` (so every
event loop of the process sees the same data) and guarded by a lock (several threads may run
loops). Values are pickled on the way in, so a caller mutating an object it stored or read never
changes the cached copy. ``OPTIONS``: ``MAX_ENTRIES`` (300) -- when full, the least recently used
``1/CULL_FREQUENCY`` (3) of the entries are dropped (``CULL_FREQUENCY = 0`` empties the cache).
No I/O, so calls never suspend and never raise :class:`~tornadopy.cache.CacheError` (except after
``close()``).
"""

from __future__ import annotations

import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from tornadopy.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

__all__ = ["LocMemCache"]

_caches: dict[str, OrderedDict[str, bytes]] = {}
_expire_info: dict[str, dict[str, float | None]] = {}
_locks: dict[str, threading.Lock] = {}
_registry_lock = threading.Lock()
_PROTOCOL = pickle.HIGHEST_PROTOCOL


class LocMemCache(BaseCache):
    """In-process LRU cache; ``LOCATION`` names the memory area (instances share it)."""

    def __init__(
        self,
        location: Any = None,
        params: Mapping[str, Any] | None = None,
        *,
        alias: str = "default",
    ) -> None:
        super().__init__(location, params, alias=alias)
        name = str(location or "")
        with _registry_lock:
            self._cache = _caches.setdefault(name, OrderedDict())
            self._expire_info = _expire_info.setdefault(name, {})
            self._lock = _locks.setdefault(name, threading.Lock())

    # all helpers below run with self._lock held

    def _expiry(self, timeout: Any) -> float | None:
        seconds = self.timeout_seconds(timeout)
        return None if seconds is None else time.time() + seconds

    def _has_expired(self, key: str) -> bool:
        exp = self._expire_info.get(key, -1.0)
        return exp is not None and exp <= time.time()

    def _store(self, key: str, pickled: bytes, expiry: float | None) -> None:
        if len(self._cache) >= self._max_entries and key not in self._cache:
            self._cull()
        self._cache[key] = pickled
        self._cache.move_to_end(key, last=False)
        self._expire_info[key] = expiry

    def _cull(self) -> None:
        if self._cull_frequency == 0:
            self._cache.clear()
            self._expire_info.clear()
            return
        for _ in range(max(1, len(self._cache) // self._cull_frequency)):
            key, _ = self._cache.popitem()
            self._expire_info.pop(key, None)

    def _remove(self, key: str) -> bool:
        try:
            del self._cache[key]
            del self._expire_info[key]
        except KeyError:
            return False
        return True

    def _live(self, key: str) -> bool:
        """True if ``key`` holds an unexpired value (an expired one is dropped)."""
        if self._has_expired(key):
            self._remove(key)
            return False
        return True

    # ------------------------------------------------------------------ API

    async def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        key = self.make_and_validate_key(key, version)
        pickled = pickle.dumps(value, _PROTOCOL)
        with self._lock:
            if self._live(key):
                return False
            self._store(key, pickled, self._expiry(timeout))
            return True

    async def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version)
        with self._lock:
            if self._has_expired(key):
                self._remove(key)
                return default
            pickled = self._cache[key]
            self._cache.move_to_end(key, last=False)
        return pickle.loads(pickled)

    async def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        key = self.make_and_validate_key(key, version)
        pickled = pickle.dumps(value, _PROTOCOL)
        with self._lock:
            self._store(key, pickled, self._expiry(timeout))

    async def touch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        key = self.make_and_validate_key(key, version)
        with self._lock:
            if not self._live(key):
                return False
            self._expire_info[key] = self._expiry(timeout)
            return True

    async def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        key = self.make_and_validate_key(key, version)
        with self._lock:
            if not self._live(key):
                raise ValueError(f"Key {key!r} not found")
            new_value = pickle.loads(self._cache[key]) + delta
            self._cache[key] = pickle.dumps(new_value, _PROTOCOL)
            self._cache.move_to_end(key, last=False)
        return new_value

    async def has_key(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version)
        with self._lock:
            return self._live(key)

    async def delete(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version)
        with self._lock:
            return self._remove(key)

    async def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        found = {}
        for key in keys:
            final = self.make_and_validate_key(key, version)
            with self._lock:
                if not self._live(final):
                    continue
                pickled = self._cache[final]
                self._cache.move_to_end(final, last=False)
            found[key] = pickle.loads(pickled)
        return found

    async def set_many(
        self, mapping: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        items = [
            (self.make_and_validate_key(k, version), pickle.dumps(v, _PROTOCOL))
            for k, v in mapping.items()
        ]
        with self._lock:
            expiry = self._expiry(timeout)
            for key, pickled in items:
                self._store(key, pickled, expiry)
        return []

    async def clear(self) -> None:
        if self._closed:
            raise self.closed_error()
        with self._lock:
            self._cache.clear()
            self._expire_info.clear()
