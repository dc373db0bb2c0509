"""Connections to one memcached server, and the text-protocol exchanges run on them.

Why not ``aiomcache.Client`` as is (aiomcache 0.8.2, measured here):

- its pool takes a connection back after a **cancelled** command (``acquire()`` catches
  ``Exception``, not ``CancelledError``), so the next command on it reads the previous reply:
  a cancelled ``get(A)`` made the next ``get(B)`` return A's value;
- its ``_execute_simple_command`` loops on ``readline()`` until it sees ``\\r\\n``; when the
  server closes the connection before replying, ``readline()`` returns ``b''`` at once, forever,
  and the whole event loop freezes (``wait_for`` cannot interrupt it);
- it has no time limit at all, and counts key length in characters, not bytes.

So :class:`ServerPool` hands out connections under these rules: a connection goes back to the pool
only after a complete request/reply exchange; after anything else -- cancellation, deadline,
protocol surprise, EOF -- it is closed and dropped. A pooled connection the server had closed
meanwhile (restart, idle timeout) is noticed by the failed exchange, which is then run once more
on a new connection (not for ``incr``: it may have been applied). Replies to ``get`` are parsed by aiomcache's
own ``_multi_get`` (it fails cleanly at EOF); the one-line replies of the other commands are read
with ``readuntil`` (EOF raises).

Every call has one deadline covering the wait for a pooled connection, connecting and the
exchange; when it passes (checked every :data:`WATCHDOG_TICK` = 0.05 s by one watchdog task per
server, which runs only while calls are in flight), the connection is aborted and the call fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from aiomcache.client import FlagClient
from aiomcache.pool import Connection

__all__ = ["Connection", "DeadlineExceeded", "PoolClosed", "ServerPool", "protocol"]

_BIG = 1 << 16  # drain the writer above this many bytes
_ERRORS = (b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")
#: how often in-flight calls are checked against their deadline (the budget's resolution)
WATCHDOG_TICK = 0.05


class DeadlineExceeded(Exception):
    """The call's deadline passed (set on the connection's reader to wake the waiting call)."""


class PoolClosed(Exception):
    """The pool was closed while a call waited for a connection."""


class _Protocol(FlagClient[bytes]):
    """aiomcache's protocol code without its pool: keys arrive already validated (in bytes)."""

    def __init__(self) -> None:  # no pool, no flag handlers: values are stored with flags 0
        self._get_flag_handler = None
        self._set_flag_handler = None

    def _validate_key(self, key: bytes) -> bytes:
        return key

    async def get_multi(self, conn: Connection, keys: list[bytes]) -> dict[bytes, bytes]:
        values, _ = await self._multi_get(conn, *keys, with_cas=False)
        return values  # type: ignore[return-value]

    @staticmethod
    async def command(conn: Connection, data: bytes, replies: int = 1) -> list[bytes]:
        """Send ``data`` (one or more pipelined commands); read ``replies`` one-line answers."""
        conn.writer.write(data)
        if len(data) > _BIG:
            await conn.writer.drain()
        readuntil = conn.reader.readuntil
        lines = [(await readuntil(b"\r\n"))[:-2] for _ in range(replies)]
        for line in lines:
            if line.startswith(_ERRORS):
                # after an error reply the stream may hold more than we read: never reuse it
                conn.writer.transport.abort()
                break
        return lines


protocol = _Protocol()


def _expire(conn: Connection) -> None:
    """Deadline callback: wake the call waiting on ``conn`` with an error and kill the socket."""
    if conn.reader.exception() is None:
        conn.reader.set_exception(DeadlineExceeded())
    conn.writer.transport.abort()


class ServerPool:
    """Up to ``maxsize`` connections to ``host:port``, opened on demand, bound to one loop."""

    def __init__(self, host: str, port: int, *, maxsize: int, connect_timeout: float) -> None:
        self.host = host
        self.port = port
        self.maxsize = maxsize
        self.connect_timeout = connect_timeout
        self._idle: list[Connection] = []
        self._size = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._busy: dict[Connection, float] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._closed = False

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def size(self) -> int:
        """Open connections, idle or in use."""
        return self._size

    @property
    def idle(self) -> int:
        return len(self._idle)

    def _take_idle(self) -> Connection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()
            if conn.reader.at_eof() or conn.reader.exception() or conn.writer.is_closing():
                self._drop(conn)
                continue
            return conn
        return None

    async def acquire(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Connection:
        """A healthy connection; waits (until ``deadline``) when ``maxsize`` are in use."""
        while True:
            conn = self._take_idle()
            if conn is not None:
                return conn
            if self._closed:
                raise PoolClosed()
            if self._size < self.maxsize:
                return await self._connect(loop, deadline)
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # we were woken but give up: pass the turn on
                else:
                    waiter.cancel()
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Connection:
        self._size += 1
        try:
            async with asyncio.timeout_at(min(deadline, loop.time() + self.connect_timeout)):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except BaseException:
            self._size -= 1
            self._wake()
            raise
        return Connection(reader, writer)

    def release(self, conn: Connection) -> None:
        """Give back a connection whose last exchange completed."""
        if self._closed:
            self._drop(conn)
            return
        self._idle.append(conn)
        self._wake()

    def discard(self, conn: Connection) -> None:
        """Close a connection whose exchange did not complete (never reuse it)."""
        self._drop(conn)

    def _drop(self, conn: Connection) -> None:
        self._size -= 1
        conn.writer.transport.abort()
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def run(
        self,
        loop: asyncio.AbstractEventLoop,
        deadline: float,
        exchange: Any,
        *args: Any,
        retry: bool = True,
    ) -> Any:
        """``await exchange(conn, *args)`` on a pooled connection within ``deadline``.

        The connection goes back to the pool only if the exchange completed; the watchdog
        aborts it if ``deadline`` passes first. With ``retry``, an exchange on a *reused*
        connection that the server had already closed (restart, idle timeout) is run once more
        on a fresh connection, within the same deadline."""
        conn = self._take_idle() if not self._closed else None
        reused = conn is not None
        if conn is None:
            conn = await self.acquire(loop, deadline)
        busy = self._busy
        busy[conn] = deadline
        if self._watchdog is None:
            self._watchdog = loop.create_task(self._watch(loop))
        try:
            result = await exchange(conn, *args)
        except Exception as exc:
            del busy[conn]
            dropped = conn.reader.at_eof() or isinstance(exc, ConnectionError)
            self.discard(conn)
            if retry and reused and dropped and not isinstance(exc, DeadlineExceeded):
                return await self.run(loop, deadline, exchange, *args, retry=False)
            raise
        except BaseException:
            del busy[conn]
            self.discard(conn)
            raise
        del busy[conn]
        self.release(conn)
        return result

    async def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Every ``WATCHDOG_TICK`` s, abort connections whose call is past its deadline; ends
        when no call is in flight (the next call starts it again). One timer per tick instead of
        one per call keeps the hot path cheap."""
        busy = self._busy
        try:
            while busy:
                await asyncio.sleep(WATCHDOG_TICK)
                now = loop.time()
                for conn, deadline in list(busy.items()):
                    if deadline <= now:
                        _expire(conn)
        finally:
            self._watchdog = None

    async def close(self) -> None:
        """Close idle connections now, busy ones when they come back; fail waiting calls."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._size -= 1
            conn.writer.close()
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
