"""SQLAlchemy 2 asyncio for tornadopy (SPEC §10): models, request sessions, master/replica routing.

Public API::

    from tornadopy.db.dbalchemy import Model, create_all, session_scope, dispose_all

- :class:`Model` -- declarative base; ``__connection_name__`` picks the ``DATABASE_CONNECTION``
  entry; ``Model.Q`` (awaited query builder, :class:`Query`), ``Model.session`` (the request's
  :class:`DBSession`, reading from a healthy replica), ``Model.session.using_master()``.
- :func:`create_all` / :func:`drop_all` -- tables of one connection, on its master.
- :func:`session_scope` -- sessions for code outside requests.
- :func:`get_engine` -- a connection's master (or a replica's) :class:`AsyncEngine`.
- :func:`dispose_all` -- close every engine of the running event loop (the application calls it
  at shutdown).

Requests get their sessions from
:class:`tornadopy.middleware.dbalchemy.DBAlchemyMiddleware`. Engines are made lazily per process
and event loop (:mod:`.engines`); the settings are read by :mod:`.config`.
"""

import sqlalchemy.exc as _sa_exc

from tornadopy.exception import register_unavailable as _register_unavailable

from .config import ConnectionSpec, EngineSpec, parse_connections
from .engines import ConnectionGroup, Replica, dispose_all, get_engine, get_group, registry
from .model import Model, create_all, drop_all, tables_of
from .query import Pagination, Query
from .routing import RoutingSession, is_write
from .session import (
    DBSession,
    NoSessionScope,
    SessionScope,
    current_scope,
    get_scope,
    session_scope,
)

__all__ = [
    "ConnectionGroup",
    "ConnectionSpec",
    "DBSession",
    "EngineSpec",
    "Model",
    "NoSessionScope",
    "Pagination",
    "Query",
    "Replica",
    "RoutingSession",
    "SessionScope",
    "create_all",
    "current_scope",
    "dispose_all",
    "drop_all",
    "get_engine",
    "get_group",
    "get_scope",
    "is_write",
    "parse_connections",
    "registry",
    "session_scope",
    "tables_of",
]


# a lost or unreachable database connection (server stopped, pool exhausted) is a 503, not a 500
_register_unavailable(_sa_exc.OperationalError, _sa_exc.InterfaceError, _sa_exc.TimeoutError)
