"""Session control: list and revoke every session of a user ("log out everywhere").

Sessions are indexed by user once bound with ``await self.session.set_user(user_id)`` (at
log-in). Then, from a handler or from any coroutine outside requests (an admin tool)::

    from tornadopy.session import sessions_of, revoke_user_sessions, revoke_session

    for s in await sessions_of(uid, current=self.session):    # list, newest log-in first
        print(s.ref, s.created, s.last_seen, s.ip, s.user_agent, s.current)
    await revoke_user_sessions(uid, except_current=self.session)   # log out the others
    await revoke_user_sessions(uid)                                # log out everywhere
    await revoke_session(uid, ref)                                 # one device

A revoked session is refused by every process and application sharing the store from the next
request on (its client becomes anonymous and its cookie is cleared); a request that had loaded
it before cannot save it back. Works on Redis and local-memory session stores; on others every
function raises :class:`~tornadopy.session.index.SessionControlUnsupported`. The store is
``SESSION['session_cache_alias']`` of the current settings, or the ``alias`` given; outside an
application, close the caches when done (``await tornadopy.cache.close_all()``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from tornadopy.session.config import BROWSER_SESSION_TTL, SessionConfig
from tornadopy.session.index import Entry
from tornadopy.session.records import session_ref, user_id_text
from tornadopy.session.session import Session
from tornadopy.session.store import SessionStore

__all__ = ["UserSession", "revoke_session", "revoke_user_sessions", "sessions_of"]


@dataclass(frozen=True, slots=True)
class UserSession:
    """One stored session of a user, as listed by :func:`sessions_of` (times: epoch seconds).

    ``ref`` names the session for :func:`revoke_session` (a hash: never usable as a cookie);
    ``created`` is the log-in time (``set_user``), ``ip`` and ``user_agent`` the log-in client;
    ``last_seen`` is when a request last used the session (its lifetime was last refreshed),
    ``expires_at`` when the store drops it unless it is used again; ``current`` marks the
    session given as ``current``.
    """

    ref: str
    user_id: str
    created: float | None
    last_seen: float | None
    expires_at: float | None
    ip: str | None
    user_agent: str | None
    current: bool

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return asdict(self)


def _store(alias: str | None, session: Session | None) -> SessionStore:
    if alias is None:
        if session is not None:
            return session._manager.store
        alias = SessionConfig.from_settings().cache_alias
    return SessionStore(alias)


async def _current_rand(session: Session | None, user: str) -> str | None:
    """The random part of ``session`` if it is a stored session of ``user``."""
    if session is None or await session.get_user() != user:
        return None
    return session._rand


def _info(entry: Entry, user: str, now: float, current: str | None) -> UserSession:
    rand, record, left = entry
    raw_meta = record.get("m")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    expires = record.get("e")
    lifetime = expires if isinstance(expires, int) and expires > 0 else BROWSER_SESSION_TTL
    expires_at = None if left is None else now + left
    created = meta.get("c")
    return UserSession(
        ref=session_ref(rand),
        user_id=user,
        created=float(created) if isinstance(created, int | float) else None,
        last_seen=None if expires_at is None else expires_at - lifetime,
        expires_at=expires_at,
        ip=meta.get("ip") if isinstance(meta.get("ip"), str) else record.get("ip"),
        user_agent=meta.get("ua") if isinstance(meta.get("ua"), str) else None,
        current=rand == current,
    )


async def sessions_of(
    user_id: str | int, *, current: Session | None = None, alias: str | None = None
) -> list[UserSession]:
    """The live sessions of ``user_id``, most recent log-in first.

    ``current``: the request's ``self.session``, marked ``current=True`` in the list (its store
    is used when ``alias`` is not given). Index entries of expired or revoked sessions are
    pruned on the way.
    """
    user = user_id_text(user_id)
    store = _store(alias, current)
    index = store.index()
    mine = await _current_rand(current, user)
    now = time.time()
    found = [_info(entry, user, now, mine) for entry in await index.entries(user)]
    found.sort(key=lambda s: (s.created or 0.0, s.ref), reverse=True)
    return found


async def revoke_user_sessions(
    user_id: str | int,
    *,
    except_current: Session | str | None = None,
    alias: str | None = None,
) -> int:
    """Log ``user_id`` out of every stored session; the number revoked.

    ``except_current``: the request's ``self.session`` (or a ``ref`` from :func:`sessions_of`)
    to keep logged in -- "log out my other devices". Without it the request's own session is
    revoked too: its response then clears the cookie (call ``await self.session.flush()`` as
    well to drop its data in this request).
    """
    user = user_id_text(user_id)
    session = except_current if isinstance(except_current, Session) else None
    store = _store(alias, session)
    index = store.index()
    keep = await _current_rand(session, user)
    keep_ref = except_current if isinstance(except_current, str) else None
    rands = [
        rand
        for rand, _, _ in await index.entries(user)
        if rand != keep and session_ref(rand) != keep_ref
    ]
    await index.revoke(rands, user)
    return len(rands)


async def revoke_session(user_id: str | int, ref: str, *, alias: str | None = None) -> bool:
    """Log out the one session of ``user_id`` listed with ``ref``; False if it is not live."""
    user = user_id_text(user_id)
    index = _store(alias, None).index()
    for rand, _, _ in await index.entries(user):
        if session_ref(rand) == ref:
            await index.revoke([rand], user)
            return True
    return False
