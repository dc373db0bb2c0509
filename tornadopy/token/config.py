"""``TokenConfig``: the ``TOKEN`` setting, read and checked once when the middleware is built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tornadopy.conf import settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.importer import import_object

__all__ = ["TokenConfig"]

REDIS_BACKEND = "tornadopy.cache.backends.rediscache.RedisCache"


def _err(key: str, message: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"TOKEN[{key!r}] {message}")


@dataclass(frozen=True, slots=True)
class TokenConfig:
    """The checked ``TOKEN`` setting (see SPEC §13 for each key's meaning)."""

    cache_alias: str
    key_prefix: str
    ignore_change_ip: bool
    timeout: int
    secret_key: str
    version: str

    @classmethod
    def from_settings(cls, token: Any = None) -> TokenConfig:
        """Read ``settings.TOKEN`` (or the mapping given); raise ImproperlyConfigured naming the
        offending ``TOKEN[...]`` key. ``token_cache_alias`` must name a Redis entry of ``CACHES``
        (``RedisCache`` or ``RedisClient``): tokens live only in Redis, shared by every process.
        """
        t = dict(settings.TOKEN if token is None else token)
        alias = t.get("token_cache_alias")
        caches = settings.CACHES
        if not isinstance(alias, str) or alias not in caches:
            raise _err(
                "token_cache_alias",
                f"= {alias!r} names no cache alias of CACHES (defined: "
                f"{', '.join(map(repr, caches)) or 'none'}). Tokens need a Redis cache: add e.g. "
                f"CACHES[{alias!r}] = {{'BACKEND': '{REDIS_BACKEND}', "
                "'LOCATION': '127.0.0.1:6379'}.",
            )
        entry = caches[alias]
        backend_path = str(entry.get("BACKEND") or "") if isinstance(entry, dict) else ""
        backend = import_object(backend_path, setting=f"CACHES[{alias!r}]['BACKEND']")
        from tornadopy.cache.backends.rediscache import RedisClient

        if not (isinstance(backend, type) and issubclass(backend, RedisClient)):
            raise _err(
                "token_cache_alias",
                f"= {alias!r} names CACHES[{alias!r}] whose BACKEND is {backend_path!r}; tokens "
                f"are stored only in Redis: use '{REDIS_BACKEND}' (or RedisClient) there.",
            )
        timeout = t.get("token_timeout")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise _err("token_timeout", f"= {timeout!r} must be a number of seconds > 0.")
        secret = t.get("secret_key")
        if not secret or not isinstance(secret, str | bytes):
            raise _err(
                "secret_key",
                "must be a non-empty string; generate one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
            )
        if isinstance(secret, bytes):
            secret = secret.decode("latin-1")
        prefix = str(entry.get("KEY_PREFIX") or "")
        return cls(
            cache_alias=alias,
            key_prefix=f"{prefix}:" if prefix else "",
            ignore_change_ip=bool(t.get("ignore_change_ip", False)),
            timeout=max(1, int(timeout)),
            secret_key=secret,
            version=str(t.get("token_version") or ""),
        )
