"""End on the server the MySQL/MariaDB queries whose asyncio task was cancelled.

When a task is cancelled in the middle of a query (``asyncio.wait_for`` timing out, a client that
went away under an ASGI server, shutdown), the driver abandons the connection and SQLAlchemy
invalidates it -- but the server does not notice: the statement runs on (``SELECT SLEEP(60)``, a
``SELECT ... FOR UPDATE`` waiting for a lock) and the locks its transaction took stay held until
it ends. :class:`QueryKiller` listens for those invalidations and sends ``KILL CONNECTION <id>``
for each, from one background task over one pooled connection, so the orphan ends at once
(RELIABILITY.md D4; SQLAlchemy #8145, aiomysql #614).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger("tornadopy.db")

MYSQL_DIALECTS = frozenset({"mysql", "mariadb"})


def server_thread_id(dbapi_connection: Any) -> int | None:
    """The server's id of a MySQL connection (aiomysql and asyncmy), or None."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    tid = getattr(driver, "thread_id", None)
    if callable(tid):
        tid = tid()
    return tid if isinstance(tid, int) and tid > 0 else None


class QueryKiller:
    """Kills, on the server, the connections invalidated because their task was cancelled."""

    def __init__(self, engine: AsyncEngine, loop: asyncio.AbstractEventLoop) -> None:
        self.engine = engine
        self.loop = loop
        self.pending: list[int] = []
        self.killed = 0
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        event.listen(engine.sync_engine, "invalidate", self._on_invalidate)

    @classmethod
    def attach(cls, engine: AsyncEngine, loop: asyncio.AbstractEventLoop) -> QueryKiller | None:
        """A killer for ``engine`` when it is a MySQL/MariaDB engine, else None."""
        if engine.dialect.name not in MYSQL_DIALECTS:
            return None
        return cls(engine, loop)

    def _on_invalidate(self, dbapi_connection: Any, record: Any, exc: BaseException | None) -> None:
        if self.closed or not isinstance(exc, asyncio.CancelledError):
            return
        tid = server_thread_id(dbapi_connection)
        if tid is None:
            return
        self.pending.append(tid)
        if (self._task is None or self._task.done()) and not self.loop.is_closed():
            self._task = self.loop.create_task(self._kill_pending())

    async def _kill_pending(self) -> None:
        while self.pending and not self.closed:
            batch, self.pending = self.pending, []
            try:
                async with self.engine.connect() as conn:
                    for tid in batch:
                        try:
                            await conn.exec_driver_sql(f"KILL CONNECTION {int(tid)}")
                            self.killed += 1
                        except DBAPIError:
                            pass  # already gone (error 1094: unknown thread id)
            except Exception as exc:
                logger.info("could not end %d cancelled queries on the server: %s", len(batch), exc)
                return

    async def wait(self) -> None:
        """Wait until the kills requested so far were sent (for tests and shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Send the pending kills, then stop listening."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.wait(), 5)
        self.closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
