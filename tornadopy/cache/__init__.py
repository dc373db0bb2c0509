"""The cache framework (SPEC §9): Django's ``CACHES``, every call awaited.

::

    from tornadopy.cache import caches, cache

    await cache.set('greeting', 'hello', timeout=60)      # caches['default']
    value = await caches['rediscache'].get('greeting')

- ``caches['alias']``: the instance of ``CACHES['alias']`` for the running event loop (one per
  alias and loop; an unknown alias raises :class:`InvalidCacheBackendError`).
- ``cache``: a proxy to ``caches['default']``.
- ``await close_all()``: closes the instances of the running loop (``Application.shutdown()``).
- ``await caches.check(ping=False)``: builds every alias once (a bad entry raises
  ``ImproperlyConfigured`` naming the setting); with ``ping``, returns the aliases that do not
  answer -- for start-up checks and ``tornadopy check``.
- Backends (``tornadopy.cache.backends.*``): ``localcache.LocMemCache``,
  ``filebased.FileBasedCache``, ``dummy.DummyCache``, ``memcached.MemcachedCache``,
  ``rediscache.RedisCache`` and ``rediscache.RedisClient``. Their awaited API and its semantics
  are documented in :mod:`tornadopy.cache.backends.base`; the time budgets of the network
  backends (a dead server becomes :class:`CacheError` in at most about 2 s) in their modules.
- ``await invalidate_tags('user:42')``: pages cached by ``cache_page(..., tags=...)`` with that
  tag are recomputed (see :mod:`tornadopy.cache.decorators`).
- Errors: :class:`CacheError` (server unreachable; a 503 when uncaught), :class:`InvalidCacheKey`
  (a ``ValueError``), :class:`InvalidCacheBackendError`.
"""

from tornadopy.cache.backends.base import DEFAULT_TIMEOUT
from tornadopy.cache.exceptions import CacheError, InvalidCacheBackendError, InvalidCacheKey
from tornadopy.cache.registry import CacheHandler, cache, caches, close_all
from tornadopy.cache.tags import invalidate_tags

__all__ = [
    "DEFAULT_TIMEOUT",
    "CacheError",
    "CacheHandler",
    "InvalidCacheBackendError",
    "InvalidCacheKey",
    "cache",
    "caches",
    "close_all",
    "invalidate_tags",
]
