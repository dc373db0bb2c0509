"""``DBAlchemyMiddleware``: database sessions that belong to the request (SPEC §10).

Add ``'tornadopy.middleware.dbalchemy.DBAlchemyMiddleware'`` to ``MIDDLEWARE_CLASSES`` to use
``Model.session`` and ``Model.Q`` in handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from tornadopy.conf import settings
from tornadopy.db.dbalchemy.engines import dispose_all, registry
from tornadopy.db.dbalchemy.session import SessionScope, activate, restore

SCOPE_ATTR = "_dbalchemy_scope"
TOKEN_ATTR = "_dbalchemy_token"


class DBAlchemyMiddleware:
    """Opens a session scope per request and closes it when the request ends.

    - ``process_init``: starts the ``PING_DB`` pings (every ``PING_DB`` seconds,
      ``PING_CONN_COUNT`` connections per pool) when ``DATABASE_CONNECTION`` is set.
    - ``process_request``: opens the request's :class:`~tornadopy.db.dbalchemy.SessionScope` in a
      context variable (and as ``handler._dbalchemy_scope``). Nothing connects until the handler
      uses ``Model.session``/``Model.Q``.
    - at the end of the request -- normal, error, client gone, or after another middleware
      called ``clear()`` (a handler cleanup, see ``WebHandler.add_cleanup``) -- every session the
      request used is closed: uncommitted work is rolled back, connections go back to the pool.
    - ``process_shutdown``: stops the pings and disposes the engines of the loop.
    """

    def process_init(self, application: Any) -> None:
        interval = settings.PING_DB if "PING_DB" in settings else 0
        if interval and settings.DATABASE_CONNECTION:
            count = settings.PING_CONN_COUNT if "PING_CONN_COUNT" in settings else 1
            registry().start_pinger(float(interval), int(count or 1))

    def process_request(self, handler: Any, clear: Any) -> None:
        scope = SessionScope()
        setattr(handler, SCOPE_ATTR, scope)
        setattr(handler, TOKEN_ATTR, activate(scope))
        add_cleanup = getattr(handler, "add_cleanup", None)
        if add_cleanup is not None:
            add_cleanup(lambda: self.close_scope(handler))

    def close_scope(self, handler: Any) -> Awaitable[None] | None:
        """Close the sessions of ``handler``'s request (once; later calls do nothing)."""
        scope: SessionScope | None = handler.__dict__.pop(SCOPE_ATTR, None)
        if scope is None:
            return None
        restore(handler.__dict__.pop(TOKEN_ATTR, None), scope)
        if not scope.sessions:
            scope.closed = True
            return None
        return scope.close()

    async def process_shutdown(self, application: Any) -> None:
        await registry().stop_pinger()
        await dispose_all()
