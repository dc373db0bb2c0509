"""``Session``: the per-request session object behind ``handler.session`` (SPEC §12).

Every accessor is awaited::

    await self.session.set('userid', uid)        # seed: self.session['userid'] = uid
    uid = await self.session.get('userid')       # seed: self.session['userid']
    await self.session.delete('userid')          # seed: del self.session['userid']
    await self.session.set_expire(30 * 86400)    # seed: self.set_expire(...)
    await self.session.cycle_key()               # at log-in: new id, same data
    await self.session.set_user(user_id)         # at log-in: index it under the user
    await self.session.flush()                   # at log-out: data, store entry and cookie gone

Lifecycle, driven by :class:`~tornadopy.middleware.session.SessionMiddleware`:

- nothing happens until the first awaited call: a request that never uses the session makes no
  store call, and a new session that is never written stores nothing and sets no cookie;
- the first call verifies the cookie (a bad signature, a foreign version or a malformed value is
  logged once and treated as "no session" *without* a store lookup), then loads the record (an
  unknown or expired id is also "no session"). With ``ignore_change_ip = False`` a session used
  from another address than the one it was created from is treated as "no session" too;
- the response hook saves the session if it changed, or only refreshes its lifetime (``touch``)
  if it was read; it adds ``Vary: Cookie`` to every response that used the session. Nothing is
  saved when the response status is 500 or more (a handler error must not persist half-done
  changes -- Django's behaviour); ``flush()`` and ``cycle_key()`` act on the store at once.
- a client-supplied id is never adopted: a new session always gets a fresh id from
  :mod:`secrets`.

Session control: ``set_user(user_id)`` binds the session to a user and records it in the user's
index (Redis or local memory; see :mod:`tornadopy.session.index` and
:mod:`tornadopy.session.control`), so :func:`~tornadopy.session.control.sessions_of` lists it and
:func:`~tornadopy.session.control.revoke_user_sessions` logs it out. A bound session stays
bound through ``cycle_key()``; ``flush()`` -- or emptying its data -- removes it from the index.

Values must be JSON-serialisable (``set`` raises ``TypeError`` otherwise) and keys strings;
``get`` returns what JSON gives back (a tuple comes back as a list), already within the same
request. A value changed in place (``(await s.get('cart')).append(x)``) is not saved: ``set`` it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from tornadopy.middleware import handler_ref
from tornadopy.session.config import SessionConfig
from tornadopy.session.ids import BadId, SignedIds
from tornadopy.session.records import (
    MAX_USER_AGENT,
    encode_record,
    session_ref,
    user_id_text,
)
from tornadopy.session.store import SessionStore

__all__ = ["Session", "SessionManager"]

log = logging.getLogger("tornadopy.session")

#: value types JSON gives back unchanged (``bool`` included; not ``float``: NaN is refused)
_PLAIN = frozenset({str, int, bool})

_PORTING = (
    "sessions are awaited in tornadopy: use 'await self.session.get(key)', "
    "'await self.session.set(key, value)', 'await self.session.delete(key)', "
    "'await self.session.has(key)' instead of {}"
)


class SessionManager:
    """What every session of one application shares: the config, the id signer and the store."""

    __slots__ = ("config", "ids", "store")

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.ids = SignedIds("session", config.secret_key, config.version, random_bytes=24)
        self.store = SessionStore(config.cache_alias)

    def session(self, handler: Any) -> Session:
        """A new, not yet loaded, session for ``handler``'s request."""
        return Session(self, handler)


class _Binding:
    """The user a session is bound to (``set_user``) and its log-in metadata."""

    __slots__ = ("emptied", "meta", "user")

    def __init__(self, user: str, meta: dict[str, Any]) -> None:
        self.user = user
        self.meta = meta
        self.emptied = False  # delete()/clear() left the data empty: a log-out when saved


_encode = json.JSONEncoder(allow_nan=False).encode
_decode = json.JSONDecoder().decode


def _json_copy(value: Any) -> Any:
    if value is None or type(value) in _PLAIN:
        return value  # immutable, and JSON gives back the same value
    try:
        return _decode(_encode(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"session values must be JSON-serialisable: {exc}") from None


class Session:
    """The session of one request; see the module documentation. Every method is awaited."""

    __slots__ = (
        "_accessed",
        "_bound",
        "_cookie_in",
        "_cookie_out",
        "_data",
        "_expires",
        "_handler",
        "_id",
        "_ip",
        "_loaded",
        "_manager",
        "_modified",
        "_rand",
        "_refreshed",
        "_send_cookie",
        "_waiters",
    )

    def __init__(self, manager: SessionManager, handler: Any) -> None:
        self._manager = manager
        self._handler = handler_ref(handler)  # weak: handler.session -> self -> handler
        self._loaded = False
        self._accessed = False
        self._modified = False
        self._data: dict[str, Any] = {}
        self._rand: str | None = None  # random part (store key) of the live session, if any
        self._id: str | None = None  # the signed id (cookie value) of the live session
        self._ip: str | None = None
        self._expires = manager.config.expires
        self._cookie_in = False  # the request carried a session cookie
        self._send_cookie = False  # the response must (re)set the cookie
        self._cookie_out = False  # this response sets the cookie
        # None, or (while the first call loads the record) the futures of concurrent callers
        self._waiters: list[asyncio.Future[None]] | None = None
        self._refreshed = False  # the load already refreshed the record's lifetime (Redis)
        # _bound (the user binding, set_user) is first set by _load(): a request that never
        # uses the session pays nothing for session control

    # ------------------------------------------------------------------ introspection
    @property
    def session_id(self) -> str | None:
        """The signed id of the live session (None before loading and for a new session)."""
        return self._id

    @property
    def ref(self) -> str | None:
        """The public handle of the stored session (as in ``sessions_of`` listings), or None
        before loading and for a new session. Never a credential."""
        return None if self._rand is None else session_ref(self._rand)

    @property
    def accessed(self) -> bool:
        """True once any method was awaited in this request."""
        return self._accessed

    @property
    def modified(self) -> bool:
        """True when the data changed and is not saved yet."""
        return self._modified

    @property
    def is_new(self) -> bool:
        """True when no stored session backs this object (yet)."""
        return self._rand is None

    def __getitem__(self, key: str) -> Any:
        raise TypeError(_PORTING.format("self.session[key]"))

    def __setitem__(self, key: str, value: Any) -> None:
        raise TypeError(_PORTING.format("self.session[key] = value"))

    def __delitem__(self, key: str) -> None:
        raise TypeError(_PORTING.format("del self.session[key]"))

    def __contains__(self, key: object) -> bool:
        raise TypeError(_PORTING.format("'key in self.session'"))

    def __repr__(self) -> str:
        state = "not loaded" if not self._loaded else ("new" if self._rand is None else "loaded")
        return f"<Session {state}{' modified' if self._modified else ''}>"

    # ------------------------------------------------------------------ loading
    async def _ensure(self) -> None:
        self._accessed = True
        while not self._loaded:
            waiters = self._waiters
            if waiters is not None:  # another task of this request is loading: wait for it
                waiter = asyncio.get_running_loop().create_future()
                waiters.append(waiter)
                await waiter
                continue  # loaded -- or that load failed, and this task tries in its turn
            self._waiters = []
            try:
                await self._load()
                self._loaded = True
            finally:
                waiters, self._waiters = self._waiters, None
                for waiter in waiters or ():
                    if not waiter.done():
                        waiter.set_result(None)

    def _remote_ip(self) -> str | None:
        return getattr(self._handler.request, "remote_ip", None)

    async def _load(self) -> None:
        self._bound: _Binding | None = None
        manager = self._manager
        cookie = self._handler.get_cookie(manager.config.cookie_name)
        if cookie is None:
            return
        self._cookie_in = True
        try:
            rand = manager.ids.verify(cookie)
        except BadId as exc:
            log.warning(
                "session cookie from %s refused (%s); treated as no session",
                self._remote_ip(),
                exc.reason,
            )
            return
        ignore_ip = manager.config.ignore_change_ip
        record, refreshed = await manager.store.load(
            rand, None if ignore_ip else self._remote_ip(), not ignore_ip
        )
        if record is None:
            log.warning(
                "session id from %s is unknown, expired or logged out; treated as no session",
                self._remote_ip(),
            )
            return
        ip = record.get("ip")
        if not manager.config.ignore_change_ip and ip != self._remote_ip():
            log.warning(
                "session created from %s used from %s (SESSION['ignore_change_ip'] is "
                "False); treated as no session",
                ip,
                self._remote_ip(),
            )
            return
        expires = record.get("e")
        self._data = record["d"]
        self._rand = rand
        self._id = cookie
        self._ip = ip
        self._refreshed = refreshed
        user = record.get("u")
        if isinstance(user, str):
            meta = record.get("m")
            self._bound = _Binding(user, meta if isinstance(meta, dict) else {})
        if isinstance(expires, int) and expires >= 0:
            self._expires = expires

    # ------------------------------------------------------------------ the API
    async def get(self, key: str, default: Any = None) -> Any:
        """The value stored at ``key``, or ``default``."""
        await self._ensure()
        return self._data.get(key, default)

    async def set(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) at ``key`` (a string)."""
        if not isinstance(key, str):
            raise TypeError(f"session keys must be strings, got {type(key).__name__}")
        value = _json_copy(value)
        await self._ensure()
        self._data[key] = value
        self._modified = True
        if self._bound is not None:
            self._bound.emptied = False

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True if it was there."""
        await self._ensure()
        if key in self._data:
            del self._data[key]
            self._modified = True
            if self._bound is not None and not self._data:
                self._bound.emptied = True
            return True
        return False

    async def has(self, key: str) -> bool:
        """True if ``key`` is in the session."""
        await self._ensure()
        return key in self._data

    async def keys(self) -> list[str]:
        """The keys of the session."""
        await self._ensure()
        return list(self._data)

    async def items(self) -> list[tuple[str, Any]]:
        """``(key, value)`` pairs of the session."""
        await self._ensure()
        return list(self._data.items())

    async def clear(self) -> None:
        """Remove every key (the session id stays; an emptied session is removed when saved)."""
        await self._ensure()
        if self._data:
            self._data = {}
            self._modified = True
            if self._bound is not None:
                self._bound.emptied = True

    async def set_expire(self, seconds: int) -> None:
        """Keep this session ``seconds`` after its last use (0: until the browser closes)."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"set_expire() needs seconds >= 0, got {seconds!r}")
        await self._ensure()
        self._expires = int(seconds)
        self._modified = True
        self._send_cookie = True

    async def flush(self) -> None:
        """Log out: forget the data, delete the stored session now, and clear the cookie."""
        await self._ensure()
        if self._rand is not None:
            await self._manager.store.revoke(self._rand, self._user)
        self._reset()
        self._clear_cookie()

    async def cycle_key(self) -> None:
        """Give the session a new id, keeping its data (call it at log-in against fixation).

        The data is stored under the new id at once and the old id is revoked: it loads nothing
        from now on. The session is bound to the current client address again, and stays bound
        to its user (``set_user``), if any.
        """
        await self._ensure()
        old = self._rand
        self._ip = self._remote_ip()
        if self._data or self._bound is not None:
            await self._create(self._data)
        else:
            self._rand = self._id = None
            self._modified = True
        if old is not None:
            await self._manager.store.revoke(old, self._user)

    # ------------------------------------------------------------------ session control
    async def set_user(self, user_id: str | int) -> None:
        """Bind this session to ``user_id`` (call it at log-in, after ``cycle_key()``).

        The session is stored at once (a new one gets its cookie) and indexed under the user, so
        :func:`~tornadopy.session.control.sessions_of` lists it and
        :func:`~tornadopy.session.control.revoke_user_sessions` can log it out; the log-in time,
        address and User-Agent are kept with it. ``42`` and ``'42'`` are the same user. Binding
        again to the same user does nothing; binding to another user moves the session.

        Raises :class:`~tornadopy.session.index.SessionControlUnsupported` (a
        ``NotImplementedError``) when the session cache cannot index sessions by user
        (memcached, file, ...), and RuntimeError for a new session once the response headers
        were sent (its cookie could not be set).
        """
        user = user_id_text(user_id)
        manager = self._manager
        manager.store.index()  # SessionControlUnsupported before anything is written
        await self._ensure()
        if user == self._user and self._rand is not None:
            return
        if self._rand is None and self._headers_sent():
            raise RuntimeError(
                "set_user() on a new session after the response headers were sent: its "
                "cookie cannot be set any more (call it before flush())"
            )
        previous = self._user if self._rand is not None else None
        request = self._handler.request
        agent = request.headers.get("User-Agent") if request is not None else None
        meta = {
            "c": int(time.time()),
            "ip": self._remote_ip(),
            "ua": agent[:MAX_USER_AGENT] if agent else None,
        }
        self._bound = _Binding(user, meta)
        self._modified = True
        await self.save()
        if previous is not None and previous != user and self._rand is not None:
            await manager.store.index().forget(self._rand, previous)

    async def get_user(self) -> str | None:
        """The user id this session is bound to (as text), or None."""
        await self._ensure()
        return self._user

    async def save(self) -> None:
        """Save now (the response hook does this for you when the session changed)."""
        if not self._loaded or not self._modified:
            return
        self._modified = False
        manager = self._manager
        if not self._data and (self._bound is None or self._bound.emptied):
            if self._rand is not None:
                await manager.store.revoke(self._rand, self._user)
            self._reset()
            if self._cookie_in:
                self._clear_cookie()
            return
        if self._rand is None:
            if self._headers_sent():
                log.warning(
                    "new session not saved: the response headers were already sent, so "
                    "its cookie cannot be set (write the session before flush())"
                )
                return
            self._ip = self._ip or self._remote_ip()
            await self._create(self._data)
            return
        record = self._record(self._data)
        if not await manager.store.save(
            self._rand, record, manager.config.store_ttl(self._expires), self._user
        ):
            log.info("session logged out by a concurrent request; this request's changes dropped")
            self._reset()
            self._clear_cookie()
            return
        if self._send_cookie or self._expires > 0:
            self._set_cookie()

    # ------------------------------------------------------------------ response hook
    async def on_response(self, status: int) -> None:
        """Run by the middleware before the headers go out: Vary, then save or touch."""
        handler = self._handler
        if not self._headers_sent():
            vary = handler._headers.get_list("Vary")
            if not any("cookie" in v.lower() for v in vary):
                handler.add_header("Vary", "Cookie")
        if status >= 500 or not self._loaded:
            return
        if self._modified:
            await self.save()
        elif self._rand is not None:
            config = self._manager.config
            if self._refreshed or await self._manager.store.touch(
                self._rand, config.store_ttl(self._expires), self._user
            ):
                if self._send_cookie or self._expires > 0:
                    self._set_cookie()  # sliding expiry: the cookie follows the store
            else:
                self._clear_cookie()
        elif self._cookie_in:
            self._clear_cookie()  # a refused or stale cookie: stop the browser sending it

    # ------------------------------------------------------------------ helpers
    async def _create(self, data: dict[str, Any]) -> None:
        manager = self._manager
        record = self._record(data)
        ttl = manager.config.store_ttl(self._expires)
        for _ in range(5):
            signed, rand = manager.ids.new()
            if await manager.store.create(rand, record, ttl, self._user):
                break
        else:  # 5 collisions of 192 random bits: the store is not behaving like a store
            raise RuntimeError("could not store a new session under a fresh id")
        self._rand, self._id = rand, signed
        self._modified = False
        self._refreshed = True  # just written with its full lifetime
        self._set_cookie()

    def _reset(self) -> None:
        self._data = {}
        self._rand = self._id = None
        self._ip = None
        self._bound = None
        self._modified = False
        self._send_cookie = False
        self._expires = self._manager.config.expires

    @property
    def _user(self) -> str | None:
        return None if self._bound is None else self._bound.user

    def _record(self, data: dict[str, Any]) -> str:
        bound = self._bound
        if bound is None:
            return encode_record(data, self._ip, self._expires)
        return encode_record(data, self._ip, self._expires, bound.user, bound.meta)

    def _headers_sent(self) -> bool:
        return bool(getattr(self._handler, "_headers_written", False))

    def _set_cookie(self) -> None:
        if self._id is None or self._headers_sent():
            return
        config = self._manager.config
        kwargs = config.cookie_kwargs
        if self._expires > 0:
            kwargs["expires"] = time.time() + self._expires
            kwargs["max_age"] = self._expires
        self._handler.set_cookie(config.cookie_name, self._id, **kwargs)
        self._send_cookie = False
        self._cookie_out = True

    def _clear_cookie(self) -> None:
        if not (self._cookie_in or self._cookie_out) or self._headers_sent():
            return
        config = self._manager.config
        self._handler.clear_cookie(config.cookie_name, **config.cookie_kwargs)
