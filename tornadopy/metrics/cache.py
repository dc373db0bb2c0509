"""Cache hits and misses per alias: a metering subclass of each cache backend.

When metrics are on, the cache registry builds every new instance from a subclass of the
configured backend that counts lookups (``tornadopy_cache_lookups_total{alias, result}``):

- ``get``: one hit or miss;
- ``get_or_set``: one hit (found) or miss (computed and stored);
- ``get_many``: one hit or miss per distinct key asked.

Lookups a backend makes on its own behalf (``has_key``, ``incr``... implemented with ``get``)
are not counted. Nothing changes for backends that are not :class:`BaseCache` subclasses
(``RedisClient``). Instances made before :func:`install` (in an event loop that already used
the alias) are not metered.

The registry calls ``caches.backend_hook(backend_class, alias)`` when it builds an instance,
if the hook is set; :func:`install` sets it to :func:`metered_backend`, :func:`uninstall` clears
it when the last application using it shuts down. With metrics off the hook is ``None``: no
wrapper, no cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from tornadopy.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from tornadopy.metrics.collectors import get_metrics

__all__ = ["MeteredCache", "install", "metered_backend", "uninstall"]

_MISSING: Any = object()
#: inside a metered call: nested lookups are not counted again (a list records the first
#: nested get's result for get_or_set)
_inside: ContextVar[list[bool] | None] = ContextVar("tornadopy_cache_metering", default=None)
_QUIET = [True]  # a non-empty list: nested calls record nothing


class MeteredCache:
    """Mixin put in front of a backend class; counts lookups (see the module docs)."""

    alias: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        counter = get_metrics().cache_lookups
        self._tp_hit = counter.labels(self.alias, "hit")
        self._tp_miss = counter.labels(self.alias, "miss")

    async def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        outer = _inside.get()
        value = await super().get(key, _MISSING, version)  # type: ignore[misc]
        found = value is not _MISSING
        if outer is None:
            (self._tp_hit if found else self._tp_miss).inc()
        elif not outer:
            outer.append(found)
        return value if found else default

    async def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        if _inside.get() is not None:
            return await super().get_many(keys, version)  # type: ignore[misc,no-any-return]
        keys = list(keys)
        token = _inside.set(_QUIET)
        try:
            found = await super().get_many(keys, version)  # type: ignore[misc]
        finally:
            _inside.reset(token)
        asked = len(set(keys)) if len(keys) > 1 else len(keys)
        if found:
            self._tp_hit.inc(len(found))
        if asked > len(found):
            self._tp_miss.inc(asked - len(found))
        return found  # type: ignore[no-any-return]

    async def get_or_set(
        self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> Any:
        if _inside.get() is not None:
            return await super().get_or_set(key, default, timeout, version)  # type: ignore[misc]
        probe: list[bool] = []
        token = _inside.set(probe)
        try:
            return await super().get_or_set(key, default, timeout, version)  # type: ignore[misc]
        finally:
            _inside.reset(token)
            if probe:
                (self._tp_hit if probe[0] else self._tp_miss).inc()

    async def has_key(self, key: Any, version: int | None = None) -> bool:
        token = _inside.set(_QUIET)
        try:
            return await super().has_key(key, version)  # type: ignore[misc,no-any-return]
        finally:
            _inside.reset(token)

    async def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        token = _inside.set(_QUIET)
        try:
            return await super().incr(key, delta, version)  # type: ignore[misc,no-any-return]
        finally:
            _inside.reset(token)

    async def incr_version(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        token = _inside.set(_QUIET)
        try:
            return await super().incr_version(key, delta, version)  # type: ignore[misc,no-any-return]
        finally:
            _inside.reset(token)


_classes: dict[type, type] = {}


def metered_backend(backend: Any, alias: str) -> Any:
    """The class to instantiate for ``alias``: a metering subclass of a cache backend, or the
    backend itself when it is not a :class:`BaseCache` (or already metered)."""
    if not (isinstance(backend, type) and issubclass(backend, BaseCache)):
        return backend
    if issubclass(backend, MeteredCache):
        return backend
    cls = _classes.get(backend)
    if cls is None:
        cls = type(
            backend.__name__,
            (MeteredCache, backend),
            {"__module__": backend.__module__, "__qualname__": backend.__qualname__},
        )
        _classes[backend] = cls
    return cls


_users = 0


def install() -> None:
    """Meter cache instances made from now on (counted: each call needs one :func:`uninstall`)."""
    global _users
    from tornadopy.cache import caches

    _users += 1
    caches.backend_hook = metered_backend


def uninstall() -> None:
    """Undo one :func:`install`; the last one clears the hook (instances already made stay
    metered until they are closed)."""
    global _users
    from tornadopy.cache import caches

    _users = max(0, _users - 1)
    if _users == 0 and getattr(caches, "backend_hook", None) is metered_backend:
        caches.backend_hook = None
