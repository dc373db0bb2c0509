"""Errors raised by :mod:`tornadopy.cache` (all re-exported by :mod:`tornadopy.cache`).

- :class:`CacheError` -- the cache server could not be reached or did not answer in time. It is a
  :class:`tornadopy.exception.ServiceUnavailable`, so one that escapes a handler becomes a **503**.
  ``str(exc)`` and ``exc.alias`` name the ``CACHES`` alias; the next call after the server is back
  works without a restart.
- :class:`InvalidCacheKey` -- a key memcached cannot store (over 250 bytes in UTF-8 once prefixed
  and versioned, spaces, control characters). Raised by every backend alike; a ``ValueError``.
- :class:`InvalidCacheBackendError` -- ``caches['alias']`` for an alias ``CACHES`` does not define,
  or a ``CACHES`` entry that cannot be built. An :class:`ImproperlyConfigured`.
"""

from __future__ import annotations

from tornadopy.exception import ImproperlyConfigured, ServiceUnavailable, TornadopyError

__all__ = ["CacheError", "InvalidCacheBackendError", "InvalidCacheKey"]


class CacheError(ServiceUnavailable):
    """A cache backend could not be reached or did not answer within its time budget."""

    def __init__(self, alias: str, message: str) -> None:
        super().__init__(f"cache {alias!r}: {message}")
        self.alias = alias


class InvalidCacheKey(TornadopyError, ValueError):
    """A key that memcached could not store; refused the same way by every backend."""


class InvalidCacheBackendError(ImproperlyConfigured):
    """An unknown cache alias, or a ``CACHES`` entry that cannot be built."""
