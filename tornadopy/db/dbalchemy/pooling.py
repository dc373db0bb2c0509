"""Fewer round trips per pooled connection: no second reset, no ping for a connection in use.

Two rules, both on by default for tornadopy's engines (docs/db.md, "Round trips"):

1. **No redundant reset on return.** A :class:`~sqlalchemy.orm.Session` ends its transaction
   (``ROLLBACK`` or ``COMMIT``) and then closes the connection; SQLAlchemy's pool then sends a
   second ``ROLLBACK`` ("reset on return") because a plain :class:`~sqlalchemy.engine.Connection`
   does not remember that nothing ran since. :class:`TrackingConnection` remembers it: when its
   last transaction ended with a successful ``ROLLBACK``/``COMMIT`` and no statement (nor raw
   DBAPI access) came after, ``close()`` returns the connection as "already reset". Anything
   else -- a statement since, a failed rollback, raw access through ``.connection`` -- keeps
   SQLAlchemy's reset.

2. **Liveness check instead of a ping on every checkout** (MySQL/MariaDB over aiomysql or
   asyncmy, when ``pool_pre_ping`` is true). SQLAlchemy's ``pool_pre_ping`` sends ``COM_PING``
   on every checkout: one extra round trip per request. :class:`LivenessCheck` instead

   * looks at the connection's socket (no round trip): a server that killed the connection
     (``KILL``, ``wait_timeout``, shutdown, restart) closed the socket or sent an error packet,
     so an idle MySQL connection that is readable, at EOF, or whose transport is closing is
     dead -- the MySQL protocol never sends anything unasked;
   * pings (``COM_PING``) only a connection that sat unused for more than
     ``pool_pre_ping_idle`` seconds (default :data:`DEFAULT_PING_IDLE`), the case where a
     firewall or NAT may have dropped it silently;

   and raises :class:`~sqlalchemy.exc.DisconnectionError` for a dead one, so the pool replaces
   it with a new connection before the request sees it (SQLAlchemy's documented "pessimistic"
   checkout hook). ``pool_pre_ping_idle = 0`` restores a ping on every checkout.
"""

from __future__ import annotations

import select
import time
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

#: seconds a pooled connection may stay unused before its checkout pings it
DEFAULT_PING_IDLE = 30.0
#: drivers whose socket :class:`LivenessCheck` can look at
LIVENESS_DRIVERS = frozenset({"aiomysql", "asyncmy"})
MYSQL_DIALECTS = frozenset({"mysql", "mariadb"})

_LAST_USE = "tornadopy_last_checkout"
_checks: weakref.WeakKeyDictionary[Any, LivenessCheck] = weakref.WeakKeyDictionary()


class TrackingConnection(Connection):
    """A :class:`~sqlalchemy.engine.Connection` that skips the pool's reset when it is clean.

    Clean means: the last thing that happened on it was a successful ``ROLLBACK`` or ``COMMIT``
    of its own transaction, and no statement started a new one since (every statement
    auto-begins a transaction, so "no transaction now" is exactly "nothing ran since").
    """

    _tp_clean = False

    @property
    def connection(self) -> Any:
        # raw DBAPI access may run statements SQLAlchemy does not see: reset as usual
        self._tp_clean = False
        return super().connection

    def _rollback_impl(self) -> None:
        self._tp_clean = False
        super()._rollback_impl()
        self._tp_clean = True

    def _commit_impl(self) -> None:
        self._tp_clean = False
        super()._commit_impl()
        self._tp_clean = True

    def close(self) -> None:
        fairy = self._dbapi_connection
        if (
            self._tp_clean
            and fairy is not None
            and self._transaction is None
            and self._nested_transaction is None
        ):
            self._tp_clean = False
            try:
                fairy._close_special(transaction_reset=True)  # type: ignore[attr-defined]
            finally:
                self._dbapi_connection = None
                super().close()  # now only marks this Connection closed
            return
        super().close()


def socket_is_dead(driver_connection: Any) -> bool:
    """True when an idle aiomysql/asyncmy connection's socket shows the server let it go."""
    transport = getattr(driver_connection, "_transport", None)  # asyncmy
    reader = None
    if transport is None:
        writer = getattr(driver_connection, "_writer", None)  # aiomysql
        if writer is None:
            return True
        transport = writer.transport
        reader = getattr(driver_connection, "_reader", None)
    if transport is None or transport.is_closing():
        return True
    if getattr(driver_connection, "_stream_broken", False):
        return True
    if reader is not None and (reader.at_eof() or len(getattr(reader, "_buffer", b""))):
        return True  # the event loop already read an EOF or an (error) packet
    sock = transport.get_extra_info("socket")
    if sock is None:
        return True
    fd = sock.fileno()
    if fd < 0:
        return True
    poller = select.poll()  # poll, not select: no limit on the descriptor's number
    poller.register(fd, select.POLLIN | select.POLLPRI)
    try:
        events = poller.poll(0)
    except OSError:
        return True
    return bool(events)  # unread bytes, EOF or an error on the socket


class LivenessCheck:
    """The pool ``checkout`` hook of rule 2 (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, idle: float) -> None:
        self.idle = float(idle)
        self.dialect = engine.sync_engine.dialect
        self.replaced = 0  # dead connections found (for tests and diagnostics)
        self.pings = 0
        event.listen(engine.sync_engine, "checkout", self.on_checkout)

    def on_checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        info = record.info
        now = time.monotonic()
        last = info.get(_LAST_USE)
        info[_LAST_USE] = now
        if last is None:
            return  # a fresh connection
        driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        if socket_is_dead(driver):
            self.replaced += 1
            raise DisconnectionError("the server closed this pooled connection")
        if now - last > self.idle:
            self.pings += 1
            try:
                alive = self.dialect.do_ping(dbapi_connection)
            except Exception as exc:
                self.replaced += 1
                raise DisconnectionError(f"pooled connection failed a ping: {exc}") from exc
            if alive is False:
                self.replaced += 1
                raise DisconnectionError("pooled connection failed a ping")


def engine_options(url: Any, options: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
    """``options`` for ``create_async_engine`` and the idle limit of a :class:`LivenessCheck`
    (``None``: none, SQLAlchemy's own ``pool_pre_ping`` applies)."""
    options = dict(options)
    idle = options.pop("pool_pre_ping_idle", DEFAULT_PING_IDLE)
    if (
        options.get("pool_pre_ping") is True
        and url.get_backend_name() in MYSQL_DIALECTS
        and url.get_driver_name() in LIVENESS_DRIVERS
        and idle is not None
        and float(idle) > 0
    ):
        options["pool_pre_ping"] = False
        return options, float(idle)
    return options, None


def install(engine: AsyncEngine, idle: float | None) -> LivenessCheck | None:
    """Rule 1 on ``engine``; rule 2 too when ``idle`` is a number."""
    engine.sync_engine._connection_cls = TrackingConnection
    if idle is None:
        return None
    check = _checks[engine.sync_engine] = LivenessCheck(engine, idle)
    return check


def liveness_of(engine: AsyncEngine) -> LivenessCheck | None:
    """The :class:`LivenessCheck` of ``engine``, if it has one."""
    return _checks.get(engine.sync_engine)
