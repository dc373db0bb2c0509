"""``Token``: the per-request token object behind ``handler.token`` (SPEC §13).

::

    token_id = await self.token.save({'userID': uid, 'userName': name})   # at log-in
    uid = await self.token.get_current_user()          # None without a valid token
    name = await self.token.get_current_user_name()
    role = await self.token.get_current_parameter('role')
    uid = await self.token.fetch(some_token_id)        # any token, same checks
    await self.token.expire()                          # log out (revoke the request's token)

The client sends its token as ``Authorization: Bearer <token>`` (tried first) or as the
``tokenID`` argument (query string or form body).

- ids: 256 random bits from :mod:`secrets` plus an HMAC-SHA256 with ``TOKEN['secret_key']`` and
  ``token_version``; a forged, truncated, foreign-version or malformed id is refused (one warning
  logged) *without* a Redis lookup;
- nothing is read from Redis until one of the accessors is awaited; the request's token is read
  at most once per request;
- a token lives ``token_timeout`` seconds from its ``save`` (no sliding expiry). ``save`` for a
  user (same ``userID`` and ``userName``) who already has a live token returns that token, with
  its data replaced by the new data and its lifetime restarted -- unless ``ignore_change_ip`` is
  False and that token belongs to another address, then a new token is made (the other one keeps
  working from its own address until it expires or is revoked);
- with ``ignore_change_ip = False`` a token used from another address than the one it was saved
  from is refused (``get_current_*`` and ``fetch``);
- Redis down: :class:`~tornadopy.cache.CacheError`, a 503 when uncaught -- never "anonymous".
"""

from __future__ import annotations

import json
import logging
from typing import Any

from tornadopy.middleware import handler_ref
from tornadopy.session.ids import BadId, SignedIds
from tornadopy.token.config import TokenConfig
from tornadopy.token.store import TokenStore

__all__ = ["Token", "TokenManager"]

log = logging.getLogger("tornadopy.token")

_UNSET: Any = object()


class TokenManager:
    """What every token object of one application shares: config, id signer and store."""

    __slots__ = ("config", "ids", "store")

    def __init__(self, config: TokenConfig) -> None:
        self.config = config
        self.ids = SignedIds("token", config.secret_key, config.version, random_bytes=32)
        self.store = TokenStore(config)

    def token(self, handler: Any) -> Token:
        """A new, not yet loaded, token object for ``handler``'s request."""
        return Token(self, handler)


def request_token(handler: Any) -> str | None:
    """The token the client sent: ``Authorization: Bearer <token>``, else ``tokenID``."""
    auth = handler.request.headers.get("Authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    value = handler.get_argument("tokenID", None)
    return value or None


class Token:
    """The token of one request; every accessor is awaited (see the module documentation)."""

    __slots__ = ("_data", "_handler", "_manager", "_rand", "_sent")

    def __init__(self, manager: TokenManager, handler: Any) -> None:
        self._manager = manager
        self._handler = handler_ref(handler)  # weak: handler.token -> self -> handler
        self._sent: Any = _UNSET  # the token id the client sent (read lazily)
        self._data: Any = _UNSET  # the request token's data, None when anonymous
        self._rand: str | None = None

    @property
    def token_id(self) -> str | None:
        """The token id the client sent with this request (not verified), or None."""
        if self._sent is _UNSET:
            self._sent = request_token(self._handler)
        return self._sent

    def _remote_ip(self) -> str | None:
        return getattr(self._handler.request, "remote_ip", None)

    async def _lookup(self, token_id: Any) -> tuple[str | None, dict[str, Any] | None]:
        """``(random part, data)`` of a token valid for this client, else ``(None, None)``."""
        try:
            rand = self._manager.ids.verify(token_id)
        except BadId as exc:
            log.warning("token from %s refused (%s)", self._remote_ip(), exc.reason)
            return None, None
        record = await self._manager.store.load(rand)
        if record is None:
            log.warning("token from %s is unknown, expired or revoked", self._remote_ip())
            return None, None
        if not self._manager.config.ignore_change_ip and record.get("ip") != self._remote_ip():
            log.warning(
                "token saved from %s used from %s (TOKEN['ignore_change_ip'] is False); refused",
                record.get("ip"),
                self._remote_ip(),
            )
            return None, None
        return rand, record["d"]

    async def _current(self) -> dict[str, Any] | None:
        if self._data is _UNSET:
            token_id = self.token_id
            if token_id is None:
                rand, data = None, None
            else:
                rand, data = await self._lookup(token_id)
            self._rand, self._data = rand, data
        return self._data

    # ------------------------------------------------------------------ the API
    async def get_current_user(self) -> Any:
        """The ``userID`` of the request's token, or None."""
        data = await self._current()
        return None if data is None else data.get("userID")

    async def get_current_user_name(self) -> Any:
        """The ``userName`` of the request's token, or None."""
        data = await self._current()
        return None if data is None else data.get("userName")

    async def get_current_parameter(self, name: str) -> Any:
        """Any value ``name`` saved with the request's token, or None."""
        data = await self._current()
        return None if data is None else data.get(name)

    async def fetch(self, token_id: str) -> Any:
        """The ``userID`` of ``token_id`` (same checks as the request's token), or None."""
        _, data = await self._lookup(token_id)
        return None if data is None else data.get("userID")

    async def save(self, data: dict[str, Any]) -> str:
        """Store ``data`` (a JSON-serialisable dict holding ``userID``) and return its token id.

        A user (same ``userID`` and ``userName``) with a live token gets that token back.
        """
        if not isinstance(data, dict) or data.get("userID") is None:
            raise ValueError("token.save() needs a dict holding 'userID' (and often 'userName')")
        try:
            data = json.loads(json.dumps(data, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"token data must be JSON-serialisable: {exc}") from None
        manager = self._manager
        store, ids, config = manager.store, manager.ids, manager.config
        ip = self._remote_ip()
        ttl = config.timeout
        record = store.encode(data, ip)
        user_key = store.user_key(data["userID"], data.get("userName"))
        for _ in range(5):
            current = await store.user_token(user_key)
            replace = False
            if current is not None:
                existing = await store.load(current)
                if existing is not None and (config.ignore_change_ip or existing.get("ip") == ip):
                    if await store.refresh(current, record, ttl):
                        await store.set_user_token(user_key, current, ttl, replace=True)
                        return ids.id_for(current)
                replace = True  # stale, revoked or bound to another address
            signed, rand = ids.new()
            if not await store.create(rand, record, ttl):
                continue  # 256-bit collision: practically impossible; draw again
            if await store.set_user_token(user_key, rand, ttl, replace=replace):
                return signed
            await store.delete(rand)  # a concurrent save for this user won: use its token
        raise RuntimeError("token.save(): could not store a token (concurrent saves kept racing)")

    async def expire(self, token_id: str | None = None) -> bool:
        """Revoke ``token_id`` (default: the request's token); True if a live token was removed."""
        if token_id is None:
            token_id = self.token_id
            if token_id is None:
                return False
            own = True
        else:
            own = token_id == self.token_id
        try:
            rand = self._manager.ids.verify(token_id)
        except BadId as exc:
            log.warning("expire(): token refused (%s)", exc.reason)
            return False
        removed = await self._manager.store.delete(rand)
        if own:
            self._rand, self._data = None, None
        return removed
