"""The cache backend contract: :class:`BaseCache`, key making and key validation.

Every backend implements the same awaited API with Django's semantics:

- ``timeout``: :data:`DEFAULT_TIMEOUT` means the alias' ``TIMEOUT`` (default 300 s), ``None``
  never expires, ``0`` (or less) expires at once (``set`` stores nothing, ``add`` answers as if it
  stored), fractions of a second are allowed (memcached rounds up to whole seconds).
- keys: ``KEY_FUNCTION(key, KEY_PREFIX, version)`` (default ``'<prefix>:<version>:<key>'``) makes
  the final key, which is then validated **in bytes**: more than 250 bytes in UTF-8, ASCII/C1
  control characters or spaces raise :class:`~tornadopy.cache.InvalidCacheKey` on every backend,
  so code that works on local memory works on memcached.
- values: anything picklable round-trips; integers stay integers, and ``incr``/``decr`` work on
  integers stored by ``set`` (the network backends store them as decimal digits, so the server's
  own atomic increment is used); a missing key raises ``ValueError``, a value that is not an
  integer raises ``TypeError``.
- ``close()`` releases the backend's connections; a closed cache refuses further calls with
  :class:`~tornadopy.cache.CacheError` (``caches[alias]`` then builds a fresh one).
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tornadopy.cache.exceptions import CacheError, InvalidCacheKey
from tornadopy.exception import ImproperlyConfigured
from tornadopy.importer import import_object

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_KEY_BYTES",
    "BaseCache",
    "LoopBound",
    "default_key_func",
    "validate_key",
]


class _DefaultTimeout:
    """Sentinel: "use the alias' ``TIMEOUT``"."""

    def __repr__(self) -> str:
        return "DEFAULT_TIMEOUT"


DEFAULT_TIMEOUT: Any = _DefaultTimeout()
MAX_KEY_BYTES = 250
_MISSING = object()
#: final keys remembered per cache instance (the memo is emptied when full)
_MEMO_SIZE = 2048
# bytes memcached's text protocol cannot carry in a key: controls, space, DEL -- and the C1
# controls (U+0080..U+009F), refused as characters so every backend agrees with memcached clients
_BAD_KEY_CHARS = re.compile("[\x00-\x20\x7f-\x9f]")

KeyFunc = Callable[[Any, str, int], str]


def default_key_func(key: Any, key_prefix: str, version: int) -> str:
    """Django's default: ``'<KEY_PREFIX>:<version>:<key>'``."""
    return f"{key_prefix}:{version}:{key}"


def validate_key(key: str) -> None:
    """Refuse a final key memcached could not store -- counted in UTF-8 bytes, not characters."""
    if not isinstance(key, str):
        raise InvalidCacheKey(f"cache keys must be str, KEY_FUNCTION returned {type(key).__name__}")
    size = len(key) if key.isascii() else len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES or not size:
        raise InvalidCacheKey(
            f"cache key is {size} bytes in UTF-8 (1..{MAX_KEY_BYTES} allowed): {key[:40]!r}..."
        )
    bad = _BAD_KEY_CHARS.search(key)
    if bad is not None:
        raise InvalidCacheKey(
            f"cache key contains {bad.group()!r} (spaces and control characters are not "
            f"allowed): {key[:60]!r}"
        )


def _option(params: Mapping[str, Any], name: str, default: Any) -> Any:
    options = params.get("OPTIONS") or {}
    return options.get(name, default)


class BaseCache:
    """Base class of every cache backend; subclasses implement the awaited API below.

    ``location`` is the entry's ``LOCATION``, ``params`` the whole ``CACHES[alias]`` entry
    (``TIMEOUT``, ``KEY_PREFIX``, ``VERSION``, ``KEY_FUNCTION``, ``OPTIONS``). Dotted paths are
    resolved here, once; a bad one raises :class:`ImproperlyConfigured` naming
    ``CACHES['alias'][...]``.
    """

    def __init__(
        self,
        location: Any = None,
        params: Mapping[str, Any] | None = None,
        *,
        alias: str = "default",
    ) -> None:
        params = params or {}
        self.alias = alias
        self.location = location
        timeout = params.get("TIMEOUT", 300)
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float)
        ):
            raise ImproperlyConfigured(
                f"{self.setting('TIMEOUT')} must be a number of seconds or None, got {timeout!r}"
            )
        self.default_timeout: float | None = timeout
        self.key_prefix: str = str(params.get("KEY_PREFIX", "") or "")
        self.version: int = int(params.get("VERSION", 1) or 1)
        key_func = params.get("KEY_FUNCTION")
        if key_func is None:
            self.key_func: KeyFunc = default_key_func
        elif callable(key_func):
            self.key_func = key_func
        else:
            self.key_func = import_object(key_func, setting=self.setting("KEY_FUNCTION"))
            if not callable(self.key_func):
                raise ImproperlyConfigured(f"{self.setting('KEY_FUNCTION')} is not callable")
        # final keys of str keys already made and validated, when KEY_FUNCTION is the default
        # (a pure function): a lookup instead of formatting and validating on every call
        self._final_keys: dict[tuple[str, int | None], str] | None = (
            {} if self.key_func is default_key_func else None
        )
        self._max_entries = int(_option(params, "MAX_ENTRIES", 300))
        self._cull_frequency = int(_option(params, "CULL_FREQUENCY", 3))
        self._closed = False

    # ------------------------------------------------------------------ helpers

    def setting(self, *path: str) -> str:
        """``CACHES['alias']['KEY']...`` -- how error messages name one of this cache's settings."""
        return f"CACHES[{self.alias!r}]" + "".join(f"[{p!r}]" for p in path)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran; the cache refuses calls from then on."""
        return self._closed

    def closed_error(self) -> CacheError:
        return CacheError(self.alias, "this cache object was closed (application shut down?)")

    def make_key(self, key: Any, version: int | None = None) -> str:
        """The final key: ``KEY_FUNCTION(key, KEY_PREFIX, version)``."""
        return self.key_func(key, self.key_prefix, self.version if version is None else version)

    def validate_key(self, key: str) -> None:
        """Raise :class:`InvalidCacheKey` for a final key memcached could not store."""
        validate_key(key)

    def make_and_validate_key(self, key: Any, version: int | None = None) -> str:
        if self._closed:
            raise self.closed_error()
        memo = self._final_keys
        if memo is not None and type(key) is str:
            final = memo.get((key, version))
            if final is not None:
                return final
        final = self.key_func(key, self.key_prefix, self.version if version is None else version)
        validate_key(final)
        if memo is not None and type(key) is str:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[key, version] = final
        return final

    def timeout_seconds(self, timeout: Any) -> float | None:
        """Seconds to keep a value: ``None`` = forever, ``<= 0`` = expire at once."""
        if timeout is DEFAULT_TIMEOUT:
            return self.default_timeout
        return timeout

    # ------------------------------------------------------------------ the API

    async def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """Store ``value`` only if ``key`` is absent; True if it was stored."""
        raise NotImplementedError

    async def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        """The value stored at ``key``, or ``default``."""
        raise NotImplementedError

    async def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        """Store ``value`` at ``key`` (``timeout`` seconds; see the module docstring)."""
        raise NotImplementedError

    async def touch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """Give ``key`` a new timeout; True if the key existed."""
        raise NotImplementedError

    async def delete(self, key: Any, version: int | None = None) -> bool:
        """Remove ``key``; True if it existed."""
        raise NotImplementedError

    async def clear(self) -> None:
        """Remove every entry of this cache (see each backend for what "every" means)."""
        raise NotImplementedError

    async def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        """``{key: value}`` for the keys that are present."""
        found = {}
        for key in keys:
            value = await self.get(key, _MISSING, version=version)
            if value is not _MISSING:
                found[key] = value
        return found

    async def set_many(
        self, mapping: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        """Store every item; return the keys that could not be stored."""
        for key, value in mapping.items():
            await self.set(key, value, timeout=timeout, version=version)
        return []

    async def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        """Remove every key given."""
        for key in keys:
            await self.delete(key, version=version)

    async def has_key(self, key: Any, version: int | None = None) -> bool:
        """True if ``key`` is present (and not expired)."""
        return await self.get(key, _MISSING, version=version) is not _MISSING

    async def get_or_set(
        self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> Any:
        """The value at ``key``; if absent, store ``default`` (a value, a callable, or a
        coroutine function, called/awaited only on a miss) with ``add`` and return what the cache
        then holds (another writer may have won the race)."""
        value = await self.get(key, _MISSING, version=version)
        if value is not _MISSING:
            return value
        if callable(default):
            default = default()
        if inspect.isawaitable(default):
            default = await default
        await self.add(key, default, timeout=timeout, version=version)
        return await self.get(key, default, version=version)

    async def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Add ``delta`` to the integer at ``key`` and return it; ``ValueError`` if missing."""
        value = await self.get(key, _MISSING, version=version)
        if value is _MISSING:
            raise ValueError(f"Key {key!r} not found")
        new_value = value + delta
        await self.set(key, new_value, version=version)
        return new_value

    async def decr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Subtract ``delta``; see :meth:`incr`."""
        return await self.incr(key, -delta, version=version)

    async def incr_version(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Move the value at ``key`` to version ``version + delta``; return the new version."""
        if version is None:
            version = self.version
        value = await self.get(key, _MISSING, version=version)
        if value is _MISSING:
            raise ValueError(f"Key {key!r} not found")
        await self.set(key, value, version=version + delta)
        await self.delete(key, version=version)
        return version + delta

    async def decr_version(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Move the value at ``key`` to version ``version - delta``."""
        return await self.incr_version(key, -delta, version)

    async def close(self) -> None:
        """Release connections and refuse further calls; safe to call twice."""
        self._closed = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} alias={self.alias!r} location={self.location!r}>"


class LoopBound:
    """Mixin for backends holding sockets: an instance belongs to the first event loop using it.

    ``tornadopy.cache.caches`` gives every loop its own instances; this check turns a stray use
    from another loop (a bug that would corrupt a connection) into a clear ``RuntimeError``.
    """

    alias: str
    _loop: asyncio.AbstractEventLoop | None = None

    def _check_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._loop is not None:
                raise RuntimeError(
                    f"cache {self.alias!r} belongs to another event loop; get it with "
                    f"tornadopy.cache.caches[{self.alias!r}] inside the loop that uses it"
                )
            self._loop = loop
        return loop
