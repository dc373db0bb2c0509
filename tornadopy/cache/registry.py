"""``caches``, ``cache`` and ``close_all``: cache instances per alias **and per event loop**.

A backend holding sockets (Redis, memcached) must only ever be used by the loop that opened them,
so ``caches['alias']`` keeps one instance per alias for each running loop (a test suite gives
every test its own loop; ``--processes`` gives every worker its own). Instances are built from
``settings.CACHES`` on first use in a loop; the ``BACKEND`` and ``KEY_FUNCTION`` dotted paths are
resolved then, and a bad one raises :class:`~tornadopy.exception.ImproperlyConfigured` naming
``CACHES['alias']['BACKEND']``. ``await close_all()`` (run by ``Application.shutdown()``) closes
every instance made in the current loop.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from tornadopy.cache.exceptions import InvalidCacheBackendError
from tornadopy.conf import settings
from tornadopy.importer import import_object

__all__ = ["CacheHandler", "DefaultCacheProxy", "cache", "caches", "close_all"]

log = logging.getLogger("tornadopy.cache")


def _running_loop(alias: str) -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            f"caches[{alias!r}] needs a running event loop (cache instances belong to a loop): "
            "use it inside a coroutine, or build a standalone instance with "
            "caches.create_connection(alias)"
        ) from None


class CacheHandler:
    """``caches['alias']`` -- the instance of ``CACHES['alias']`` for the running event loop."""

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def create_connection(self, alias: str) -> Any:
        """Build a new, unregistered instance of ``CACHES[alias]`` (the caller closes it)."""
        caches_setting = settings.CACHES
        try:
            params = caches_setting[alias]
        except KeyError:
            raise InvalidCacheBackendError(
                f"The cache alias {alias!r} is not defined in CACHES "
                f"(defined: {', '.join(map(repr, caches_setting)) or 'none'})."
            ) from None
        if not isinstance(params, dict) or "BACKEND" not in params:
            raise InvalidCacheBackendError(
                f"CACHES[{alias!r}] must be a dict with a 'BACKEND' dotted path, got {params!r}"
            )
        backend = import_object(params["BACKEND"], setting=f"CACHES[{alias!r}]['BACKEND']")
        if not callable(backend):
            raise InvalidCacheBackendError(
                f"CACHES[{alias!r}]['BACKEND'] names {params['BACKEND']!r}, which is not a class"
            )
        return backend(params.get("LOCATION"), dict(params), alias=alias)

    def _instances(self, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
        try:
            return self._by_loop[loop]
        except KeyError:
            instances: dict[str, Any] = {}
            self._by_loop[loop] = instances
            return instances

    def __getitem__(self, alias: str) -> Any:
        instances = self._instances(_running_loop(alias))
        instance = instances.get(alias)
        if instance is None or instance.closed:
            instance = self.create_connection(alias)
            instances[alias] = instance
        return instance

    def __contains__(self, alias: object) -> bool:
        return alias in settings.CACHES

    def all(self, initialized_only: bool = False) -> list[Any]:
        """The instances of the running loop (with ``initialized_only=False``, one per alias)."""
        loop = _running_loop("*")
        if initialized_only:
            return list(self._by_loop.get(loop, {}).values())
        return [self[alias] for alias in settings.CACHES]

    async def close_all(self) -> None:
        """Close (and forget) every instance created in the running loop."""
        instances = self._by_loop.pop(_running_loop("*"), {})
        for alias, instance in instances.items():
            try:
                await instance.close()
            except Exception:
                log.exception("closing cache %r failed", alias)


class DefaultCacheProxy:
    """``cache``: every attribute is looked up on ``caches['default']`` of the running loop."""

    def __getattr__(self, name: str) -> Any:
        return getattr(caches["default"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(caches["default"], name, value)

    def __delattr__(self, name: str) -> None:
        delattr(caches["default"], name)

    def __contains__(self, key: str) -> bool:
        raise TypeError("use 'await cache.has_key(key)': cache lookups are awaited")

    def __repr__(self) -> str:
        return "<DefaultCacheProxy for caches['default']>"


caches = CacheHandler()
cache = DefaultCacheProxy()


async def close_all() -> None:
    """Close every cache instance created in the running event loop (done at app shutdown)."""
    await caches.close_all()
