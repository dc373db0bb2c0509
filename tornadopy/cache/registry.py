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
from collections.abc import Callable
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
    """``caches['alias']`` -- the instance of ``CACHES['alias']`` for the running event loop.

    ``backend_hook``: when set, ``backend_hook(backend_class, alias)`` returns the class actually
    instantiated for an alias (``tornadopy.metrics`` uses it to meter lookups); ``None`` by
    default, at no cost.
    """

    backend_hook: Callable[[Any, str], Any] | None = None

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._last: tuple[Callable[[], Any], dict[str, Any]] = (lambda: None, {})

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
        hook = self.backend_hook
        if hook is not None:
            backend = hook(backend, alias)
        return backend(params.get("LOCATION"), dict(params), alias=alias)

    def _instances(self, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
        last_loop, instances = self._last
        if last_loop() is loop:  # the common case: the same loop as last time
            return instances
        try:
            instances = self._by_loop[loop]
        except KeyError:
            instances = {}
            self._by_loop[loop] = instances
        self._last = (weakref.ref(loop), instances)
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

    async def check(self, ping: bool = False) -> dict[str, str]:
        """Build (and close) an instance of every ``CACHES`` alias -- for start-up checks.

        A bad entry raises :class:`~tornadopy.exception.ImproperlyConfigured` naming the setting.
        With ``ping``, each cache is also asked for one key; the result maps the aliases that did
        not answer to the reason (``{}`` when all answer)."""
        problems: dict[str, str] = {}
        for alias in settings.CACHES:
            instance = self.create_connection(alias)
            try:
                if ping and hasattr(instance, "has_key"):
                    await instance.has_key("tornadopy-check")
                elif ping and hasattr(instance, "ping"):
                    await instance.ping()
            except Exception as exc:
                problems[alias] = str(exc)
            finally:
                await instance.close()
        return problems

    async def close_all(self) -> None:
        """Close (and forget) every instance created in the running loop."""
        loop = _running_loop("*")
        instances = self._by_loop.pop(loop, {})
        if self._last[0]() is loop:
            self._last = (lambda: None, {})
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
