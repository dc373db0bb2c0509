"""``RateLimitModule``: an HTTP module answering 429 once a client used up its budget.

Configure one subclass per budget and name it in ``ROUTE_MODULES`` (or ``COMMON_MODULES``)::

    # myapp/limits.py
    from tornadopy.ratelimit import RateLimitModule, rate_limit

    class LoginLimit(RateLimitModule):
        rate = '5/minute'            # any 5 requests in a sliding minute
        key = 'ip'                   # or 'user', 'token', 'session:<name>', a function
        cache_alias = 'default_redis'
        methods = ('POST',)          # only count log-in attempts

    ApiLimit = rate_limit('1000/hour', name='ApiLimit', key='token')   # the same, as a factory

    # settings
    ROUTE_MODULES = {'Login': ['myapp.limits.LoginLimit'], r'^/api/': ['myapp.limits.ApiLimit']}

Per request (``begin_request``): the key function names the client; one atomic Redis call
(:class:`~tornadopy.ratelimit.window.SlidingWindow`) admits or refuses. A refused request is
answered ``429 Too Many Requests`` with ``Retry-After: <seconds>`` (the handler's
``write_error`` writes the body) and the handler method is not called. With ``headers = True``
(the default) every counted response carries ``X-RateLimit-Limit`` and
``X-RateLimit-Remaining``.

Attributes (class attributes of the subclass; checked when the application is built):

- ``rate``: ``'5/minute'``, ``'100/hour'``, ``'10/30s'``... or ``(limit, seconds)``.
- ``key``: who is counted -- see :mod:`tornadopy.ratelimit.keys`; a function may be given as
  such, or as a dotted path. ``anonymous`` (default ``'ip'``) is the fallback key when the key
  function returns ``None``; ``None`` lets such requests through uncounted.
- ``cache_alias``: a ``CACHES`` entry whose ``BACKEND`` is ``RedisCache`` or ``RedisClient``;
  its ``KEY_PREFIX`` prefixes the budget keys (``<prefix>:tornadopy:ratelimit:<scope>:<key>``).
- ``scope``: the budget's name (default: the class' dotted path). Routes sharing a module class
  share its budget; ``per_route = True`` gives each route (by name) its own.
- ``methods``: only these HTTP methods are counted (default: every method).
- ``fail_open`` (default True): when Redis cannot be reached, requests pass and a warning is
  logged (at most every 30 s per module); ``False`` answers 503 instead.
- ``timeout``: seconds the Redis call may take before it counts as a failure (default: the
  alias' own budget, at most about 2 s -- see :mod:`tornadopy.cache.backends.rediscache`).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from tornadopy.cache import CacheError, caches
from tornadopy.conf import settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.httpmodule import BaseHttpModule
from tornadopy.importer import import_object
from tornadopy.ratelimit.keys import KeyFunc, resolve_key
from tornadopy.ratelimit.rate import Rate
from tornadopy.ratelimit.window import Decision, SlidingWindow

__all__ = ["RateLimitModule", "rate_limit"]

log = logging.getLogger("tornadopy.ratelimit")

REDIS_BACKEND = "tornadopy.cache.backends.rediscache.RedisCache"
WARN_EVERY = 30.0  # seconds between two "Redis is down, failing open" warnings of one module
_MAX_KEY = 200  # longer client keys are hashed


@dataclass(frozen=True, slots=True)
class _Config:
    window: SlidingWindow
    key_func: KeyFunc
    anonymous: KeyFunc | None
    alias: str
    prefix: str
    per_route: bool
    methods: frozenset[str] | None
    fail_open: bool
    headers: bool
    timeout: float | None
    limit_header: str


def _static(cls: type, name: str) -> Any:
    """A class attribute as written (a function stays a function, not a method)."""
    value = inspect.getattr_static(cls, name)
    return value.__func__ if isinstance(value, staticmethod) else value


class RateLimitModule(BaseHttpModule):
    """Sliding-window rate limit on Redis; subclass it once per budget (see the module docs)."""

    rate: Any = "60/minute"
    key: Any = "ip"
    anonymous: Any = "ip"
    cache_alias: str = "default_redis"
    scope: str | None = None
    per_route: bool = False
    methods: Any = None
    fail_open: bool = True
    headers: bool = True
    timeout: float | None = None

    _config: _Config
    _failures = 0
    _warned_at = 0.0

    def __init__(self) -> None:
        # one instance per class (BaseHttpModule); re-read on every build so a new
        # Application sees the settings of its time
        self._config = self._configure()

    @classmethod
    def _name(cls) -> str:
        return f"{cls.__module__}.{cls.__qualname__}"

    def _configure(self) -> _Config:
        cls = type(self)
        where = cls._name()
        rate = Rate.parse(self.rate, setting=f"{where}.rate")
        key_func = resolve_key(_static(cls, "key"), setting=f"{where}.key")
        anonymous = _static(cls, "anonymous")
        anon_func = None if anonymous is None else resolve_key(anonymous, f"{where}.anonymous")
        alias = self.cache_alias
        entry = _redis_entry(alias, f"{where}.cache_alias")
        methods = None
        if self.methods:
            if isinstance(self.methods, str):
                raise ImproperlyConfigured(f"{where}.methods must be a list, e.g. ('POST',)")
            methods = frozenset(str(m).upper() for m in self.methods)
        if self.timeout is not None and not (
            isinstance(self.timeout, int | float) and self.timeout > 0
        ):
            raise ImproperlyConfigured(f"{where}.timeout must be a number of seconds > 0 or None")
        key_prefix = str(entry.get("KEY_PREFIX") or "")
        scope = self.scope or where
        return _Config(
            window=SlidingWindow(rate),
            key_func=key_func,
            anonymous=anon_func,
            alias=alias,
            prefix=f"{key_prefix + ':' if key_prefix else ''}tornadopy:ratelimit:{scope}:",
            per_route=bool(self.per_route),
            methods=methods,
            fail_open=bool(self.fail_open),
            headers=bool(self.headers),
            timeout=self.timeout,
            limit_header=str(rate.limit),
        )

    # ------------------------------------------------------------------ the hook
    async def begin_request(self, handler: Any, clear: Any) -> bool | None:
        """Count the request; answer 429 (and stop the phase) when over the limit."""
        cfg = self._config
        if cfg.methods is not None and handler.request.method not in cfg.methods:
            return None
        client_key = await _call(cfg.key_func, handler)
        if client_key is None:
            if cfg.anonymous is None:
                return None
            client_key = await _call(cfg.anonymous, handler)
            if client_key is None:
                return None
        redis_key = self.redis_key(handler, client_key)
        try:
            decision = await self._hit(cfg, redis_key)
        except (CacheError, RedisError, TimeoutError, OSError) as exc:
            self._unavailable(cfg, exc)  # raises when failing closed
            return None
        if cfg.headers:
            handler.set_header("X-RateLimit-Limit", cfg.limit_header)
            handler.set_header("X-RateLimit-Remaining", str(decision.remaining))
        if decision.allowed:
            return None
        result = self.too_many_requests(handler, decision)
        if result is not None and hasattr(result, "__await__"):
            await result
        return True

    def redis_key(self, handler: Any, client_key: str) -> str:
        """The Redis key of the budget ``client_key`` draws from on this request."""
        cfg = self._config
        if len(client_key) > _MAX_KEY:
            client_key = "sha256:" + hashlib.sha256(client_key.encode("utf-8")).hexdigest()
        if cfg.per_route:
            route = getattr(handler, "route_name", None) or type(handler).__qualname__
            return f"{cfg.prefix}{route}:{client_key}"
        return cfg.prefix + client_key

    async def _hit(self, cfg: _Config, redis_key: str) -> Decision:
        rc = caches[cfg.alias]
        if cfg.timeout is None:
            async with rc.guard:
                return await cfg.window.hit(rc.client, redis_key)
        async with asyncio.timeout(cfg.timeout):
            async with rc.guard:
                return await cfg.window.hit(rc.client, redis_key)

    def too_many_requests(self, handler: Any, decision: Decision) -> Any:
        """Answer a refused request: 429 with ``Retry-After``; the body is the handler's
        ``write_error(429)``. Override to answer differently (the handler must be finished)."""
        handler.set_status(429)
        handler.set_header("Retry-After", str(decision.retry_after))
        handler.write_error(429)
        if not handler._finished:
            return handler.finish()
        return None

    def _unavailable(self, cfg: _Config, exc: BaseException) -> None:
        if not cfg.fail_open:
            if isinstance(exc, CacheError):
                raise exc
            raise CacheError(cfg.alias, f"rate limit store did not answer ({exc!r})") from exc
        self._failures += 1
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            log.warning(
                "rate limit %s: Redis (CACHES[%r]) unavailable, %d request(s) let through "
                "uncounted since the last warning (fail_open): %s",
                type(self)._name(),
                cfg.alias,
                self._failures,
                exc,
            )
            self._warned_at = now
            self._failures = 0


async def _call(func: KeyFunc, handler: Any) -> str | None:
    value = func(handler)
    if value is not None and hasattr(value, "__await__"):
        value = await value
    return None if value is None else str(value)


def _redis_entry(alias: Any, setting: str) -> dict[str, Any]:
    caches_setting = settings.CACHES
    if not isinstance(alias, str) or alias not in caches_setting:
        raise ImproperlyConfigured(
            f"{setting} = {alias!r} names no alias of CACHES (defined: "
            f"{', '.join(map(repr, caches_setting)) or 'none'}). Rate limits live in Redis: add "
            f"e.g. CACHES[{alias!r}] = {{'BACKEND': '{REDIS_BACKEND}', "
            "'LOCATION': '127.0.0.1:6379'}."
        )
    entry = caches_setting[alias]
    path = str(entry.get("BACKEND") or "") if isinstance(entry, dict) else ""
    backend = import_object(path, setting=f"CACHES[{alias!r}]['BACKEND']")
    from tornadopy.cache.backends.rediscache import RedisClient

    if not (isinstance(backend, type) and issubclass(backend, RedisClient)):
        raise ImproperlyConfigured(
            f"{setting} = {alias!r} names CACHES[{alias!r}] whose BACKEND is {path!r}; rate "
            f"limits are counted in Redis only (shared by every process): use '{REDIS_BACKEND}' "
            "(or RedisClient) there."
        )
    return entry


_OPTIONS = frozenset(
    {
        "key",
        "anonymous",
        "cache_alias",
        "scope",
        "per_route",
        "methods",
        "fail_open",
        "headers",
        "timeout",
    }
)


def rate_limit(rate: Any, *, name: str, **options: Any) -> type[RateLimitModule]:
    """A :class:`RateLimitModule` subclass called ``name`` in the calling module::

        LoginLimit = rate_limit('5/minute', name='LoginLimit', key='ip', methods=('POST',))

    Bind it to a module-level variable of the same name so ``ROUTE_MODULES`` can name it by
    its dotted path. ``options`` are the class attributes of :class:`RateLimitModule`.
    """
    unknown = set(options) - _OPTIONS
    if unknown:
        raise TypeError(f"rate_limit() got unknown options {sorted(unknown)}")
    attrs: dict[str, Any] = {"rate": rate}
    for attr, value in options.items():
        attrs[attr] = staticmethod(value) if inspect.isfunction(value) else value
    caller = sys._getframe(1).f_globals.get("__name__", __name__)
    attrs["__module__"] = caller
    attrs["__qualname__"] = name
    return type(name, (RateLimitModule,), attrs)
