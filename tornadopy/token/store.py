"""``TokenStore``: token records in Redis (``CACHES[TOKEN['token_cache_alias']]``).

Keys (after the alias' ``KEY_PREFIX``, if any)::

    tornadopy:token:<random part>        -> JSON {"d": data, "ip": address}   (EX token_timeout)
    tornadopy:token-user:<sha256(user)>  -> <random part> of that user's live token

All state is in Redis, so a revoked token (``DEL``) is refused at once by every process. A
re-login refreshes an existing token with ``SET ... XX`` (only if it still exists), so it can
never bring back a token revoked meanwhile. Data is JSON, never pickle. Redis errors become
:class:`~tornadopy.cache.CacheError` (a 503: tokens fail closed).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tornadopy.cache import caches
from tornadopy.token.config import TokenConfig

__all__ = ["TokenStore"]


class TokenStore:
    """Reads and writes token records through the raw client of a Redis cache alias."""

    __slots__ = ("_record_prefix", "_user_prefix", "alias")

    def __init__(self, config: TokenConfig) -> None:
        self.alias = config.cache_alias
        self._record_prefix = f"{config.key_prefix}tornadopy:token:"
        self._user_prefix = f"{config.key_prefix}tornadopy:token-user:"

    def record_key(self, rand: str) -> str:
        return self._record_prefix + rand

    def user_key(self, user_id: Any, user_name: Any) -> str:
        """The index key of one user: same ``userID`` and same ``userName``."""
        ident = json.dumps([str(user_id), None if user_name is None else str(user_name)])
        return self._user_prefix + hashlib.sha256(ident.encode("utf-8")).hexdigest()

    @staticmethod
    def encode(data: dict[str, Any], ip: str | None) -> str:
        return json.dumps({"d": data, "ip": ip}, separators=(",", ":"), allow_nan=False)

    @staticmethod
    def decode(raw: Any) -> dict[str, Any] | None:
        if raw is None:
            return None
        try:
            record = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(record, dict) or not isinstance(record.get("d"), dict):
            return None
        return record

    async def load(self, rand: str) -> dict[str, Any] | None:
        """The record of ``rand`` or None (unknown, expired, revoked, unreadable)."""
        cache = caches[self.alias]
        async with cache.guard:
            raw = await cache.client.get(self.record_key(rand))
        return self.decode(raw)

    async def create(self, rand: str, record: str, ttl: int) -> bool:
        """Store a new record (never over an existing one)."""
        cache = caches[self.alias]
        async with cache.guard:
            return bool(await cache.client.set(self.record_key(rand), record, ex=ttl, nx=True))

    async def refresh(self, rand: str, record: str, ttl: int) -> bool:
        """Rewrite a record only if it still exists; False if it expired or was revoked."""
        cache = caches[self.alias]
        async with cache.guard:
            return bool(await cache.client.set(self.record_key(rand), record, ex=ttl, xx=True))

    async def user_token(self, user_key: str) -> str | None:
        """The random part the user index points to, if any."""
        cache = caches[self.alias]
        async with cache.guard:
            raw = await cache.client.get(user_key)
        if raw is None:
            return None
        return raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)

    async def set_user_token(self, user_key: str, rand: str, ttl: int, *, replace: bool) -> bool:
        """Point the user index at ``rand`` (only if unset unless ``replace``)."""
        cache = caches[self.alias]
        async with cache.guard:
            return bool(await cache.client.set(user_key, rand, ex=ttl, nx=not replace))

    async def delete(self, rand: str) -> bool:
        """Revoke: delete the record (every process refuses the token from now on)."""
        cache = caches[self.alias]
        async with cache.guard:
            return bool(await cache.client.delete(self.record_key(rand)))
