"""Request-scoped sessions: :class:`DBSession`, :class:`SessionScope`, :func:`session_scope`.

A :class:`SessionScope` holds the sessions of one request (``DBAlchemyMiddleware`` opens one per
request) or of one ``async with session_scope(...)`` block. It lives in a context variable, so
``Model.session`` and ``Model.Q`` find it from anywhere in the request's task. Per connection
name it makes, on first use only, a reading session and a master session
(``Model.session.using_master()``). Closing the scope closes every session it made: uncommitted
work is rolled back and connections go back to their pools -- even if the closing task is
cancelled meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from tornadopy.exception import TornadopyError

from .engines import ConnectionGroup, get_group
from .routing import RoutingSession

if TYPE_CHECKING:
    from .query import Query

logger = logging.getLogger("tornadopy.db")
T = TypeVar("T")

_current: ContextVar[SessionScope | None] = ContextVar("tornadopy_db_scope", default=None)


class NoSessionScope(TornadopyError, RuntimeError):
    """``Model.session`` was used outside a request and outside ``session_scope()``."""


class DBSession(AsyncSession):
    """The :class:`~sqlalchemy.ext.asyncio.AsyncSession` of one connection in one scope.

    Reads go to a replica, flushes and writes to the master (:mod:`.routing`). Objects stay
    usable after ``commit()`` (``expire_on_commit=False``: an expired attribute could not be
    reloaded implicitly under asyncio).
    """

    sync_session_class = RoutingSession

    def __init__(
        self, group: ConnectionGroup, scope: SessionScope, *, master: bool = False, **kw: Any
    ) -> None:
        kw.setdefault("expire_on_commit", False)
        super().__init__(group.master, group=group, scope=scope, master=master, **kw)
        self.group = group
        self.scope = scope
        self.is_master = master

    def __repr__(self) -> str:
        role = "master" if self.is_master else "routing"
        return f"<DBSession {self.group.name!r} {role}>"

    def using_master(self) -> DBSession:
        """The scope's master session for this connection (not awaited), for writes."""
        if self.is_master:
            return self
        return self.scope.session(self.group.name, master=True)

    def query(self, entity: Any) -> Query[Any]:
        """An awaited query builder on ``entity`` in this session: ``await s.query(User).all()``."""
        from .query import Query

        return Query(entity, session=self)


class SessionScope:
    """The sessions of one request (or one :func:`session_scope` block), by connection name."""

    __slots__ = ("_sessions", "closed", "written")

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, bool], DBSession] = {}
        #: connection names written through their master (later reads go there too)
        self.written: set[str] = set()
        self.closed = False

    def session(self, name: str = "default", *, master: bool = False) -> DBSession:
        """The scope's session for connection ``name`` (made on first use)."""
        key = (name, master)
        session = self._sessions.get(key)
        if session is None:
            if self.closed:
                raise NoSessionScope(
                    "this request's database sessions are already closed (the response was "
                    "sent); use session_scope() for work after the response"
                )
            session = self._sessions[key] = DBSession(get_group(name), self, master=master)
        return session

    @property
    def sessions(self) -> list[DBSession]:
        return list(self._sessions.values())

    async def close(self) -> None:
        """Close every session: roll back what was not committed, return the connections."""
        self.closed = True
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            await run_to_completion(_close(session))


async def _close(session: DBSession) -> None:
    try:
        await session.close()
    except Exception:
        logger.warning("closing %r failed; invalidating its connections", session, exc_info=True)
        with contextlib.suppress(Exception):
            await session.invalidate()


async def run_to_completion(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` in its own task; a cancellation of the caller waits for it to finish first.

    Clean-up (returning connections to a pool) must not stop half-way because the request's task
    was cancelled; the cancellation is re-raised once the clean-up is over.
    """
    task = asyncio.ensure_future(coro)
    cancelled: BaseException | None = None
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            if task.done():
                raise
            cancelled = exc
        else:
            break
    if cancelled is not None:
        raise cancelled
    return result


def current_scope() -> SessionScope:
    """The active :class:`SessionScope`; :class:`NoSessionScope` when there is none."""
    scope = _current.get()
    if scope is None:
        raise NoSessionScope(
            "no database session scope here: add 'tornadopy.middleware.dbalchemy."
            "DBAlchemyMiddleware' to MIDDLEWARE_CLASSES for requests, or use "
            "`async with tornadopy.db.dbalchemy.session_scope('default') as session:`"
        )
    return scope


def get_scope() -> SessionScope | None:
    """The active :class:`SessionScope`, or None."""
    return _current.get()


def activate(scope: SessionScope | None) -> Token[SessionScope | None]:
    """Make ``scope`` the current one (in this context); returns the token for :func:`restore`."""
    return _current.set(scope)


def restore(token: Token[SessionScope | None] | None, scope: SessionScope | None = None) -> None:
    """Undo :func:`activate`; from another context, just clear ``scope`` if it is current."""
    if token is not None:
        try:
            _current.reset(token)
            return
        except ValueError:  # token made in another context
            pass
    if scope is not None and _current.get() is scope:
        _current.set(None)


@contextlib.asynccontextmanager
async def session_scope(
    connection_name: str = "default", *, master: bool = False, commit: bool = False
) -> AsyncIterator[DBSession]:
    """A session (and scope) for code outside requests: scripts, tasks, tests::

        async with session_scope('default') as session:
            session.add(User(name='jack'))
            await session.commit()

    Inside the block ``Model.session``/``Model.Q`` use this scope. On exit every session of the
    scope is closed and uncommitted work rolled back; with ``commit=True`` the sessions are
    committed first when the block ends without an exception. ``master=True`` yields the master
    session.
    """
    scope = SessionScope()
    token = activate(scope)
    try:
        session = scope.session(connection_name, master=master)
        yield session
        if commit:
            for s in scope.sessions:
                if s.in_transaction():
                    await s.commit()
    finally:
        restore(token, scope)
        await scope.close()
