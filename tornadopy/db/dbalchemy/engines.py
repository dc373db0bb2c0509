"""Engines: created lazily, one set per process and event loop, disposed at shutdown.

An :class:`~sqlalchemy.ext.asyncio.AsyncEngine`'s pool holds connections bound to the event loop
that opened them, so an engine must never be used from another loop, nor from a process forked
after it connected. :func:`registry` therefore returns an :class:`EngineRegistry` per running
loop (and per process id): each test's loop, each worker process, gets its own engines, built from
the settings current when the loop first asks for a connection.

A :class:`ConnectionGroup` is one named connection of ``DATABASE_CONNECTION``: the master engine
and one :class:`Replica` per replica. A replica whose connection fails (refused, lost, killed)
leaves the read rotation at once and is probed every ``REPLICA_RETRY`` seconds in the background
until it answers again; meanwhile reads go to the other replicas, or the master.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import weakref
from collections.abc import Awaitable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tornadopy.conf import settings
from tornadopy.exception import ImproperlyConfigured

from . import pooling
from .config import ConnectionSpec, EngineSpec, parse_connections
from .killer import QueryKiller

logger = logging.getLogger("tornadopy.db")

#: seconds a health probe (connect + ``SELECT 1``) may take before it counts as a failure
PROBE_TIMEOUT = 5.0


def create_engine(spec: EngineSpec) -> AsyncEngine:
    """An :class:`AsyncEngine` for ``spec`` (no connection is opened yet), with the round-trip
    savings of :mod:`.pooling` (no second reset on return; on MySQL/MariaDB a socket check
    instead of a ``COM_PING`` per checkout when ``pool_pre_ping`` is on)."""
    try:
        options, idle = pooling.engine_options(spec.url, spec.options)
        engine = create_async_engine(spec.url, **options)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"cannot create the engine for {spec.label}: {exc} "
            "(check SQLALCHEMY_CONFIGURATION and the connection's OPTIONS)"
        ) from exc
    pooling.install(engine, idle)
    return engine


async def ping_engine(engine: AsyncEngine, count: int = 1) -> None:
    """Check out up to ``count`` connections at once and run ``SELECT 1`` on each.

    Idle connections are kept alive past the server's ``wait_timeout``; dead ones are replaced
    by the pool's pre-ping. Raises the first error.
    """

    async def one() -> None:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    idle = getattr(engine.pool, "checkedin", None)  # StaticPool/NullPool have no queue
    n = max(1, min(count, idle() if idle is not None else 1))
    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


class Replica:
    """A replica engine and its health: in the read rotation or not."""

    def __init__(self, spec: EngineSpec, group: ConnectionGroup) -> None:
        self.spec = spec
        self.group = group
        self.engine = group.registry.create_engine(spec)
        self.healthy = True
        self._probe: asyncio.Task[None] | None = None
        event.listen(self.engine.sync_engine, "handle_error", self._on_error)

    def __repr__(self) -> str:
        state = "up" if self.healthy else "down"
        return f"<Replica {self.spec.label} {state}>"

    def _on_error(self, context: Any) -> None:
        # a connect failure (no connection yet) or a lost connection takes the replica out; a
        # cancelled task (CancelledError, a BaseException) says nothing about the server
        if not isinstance(context.original_exception, Exception):
            return
        if context.connection is None or context.is_disconnect:
            self.mark_down(context.original_exception)

    def mark_down(self, reason: object = None) -> None:
        """Leave the read rotation and probe the server in the background until it answers."""
        if self.healthy:
            self.healthy = False
            logger.warning(
                "database replica %s of %r failed (%s); reads go elsewhere until it answers",
                self.spec.label,
                self.group.name,
                reason,
            )
        if self._probe is None or self._probe.done():
            loop = self.group.loop
            if not loop.is_closed() and not self.group.closed:
                self._probe = loop.create_task(self._probe_until_up())

    def mark_up(self) -> None:
        if not self.healthy:
            self.healthy = True
            logger.warning(
                "database replica %s of %r answers again; back in the read rotation",
                self.spec.label,
                self.group.name,
            )

    async def check(self) -> bool:
        """True when the replica answers ``SELECT 1`` within :data:`PROBE_TIMEOUT`."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                async with self.engine.connect() as conn:
                    await conn.exec_driver_sql("SELECT 1")
        except Exception:
            return False
        return True

    async def _probe_until_up(self) -> None:
        while not self.group.closed:
            await asyncio.sleep(self.group.spec.replica_retry)
            if self.group.closed:
                return
            if await self.check():
                self.mark_up()
                return

    async def close(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None and not probe.done():
            probe.cancel()
            with contextlib.suppress(BaseException):
                await probe
        await self.engine.dispose()


class ConnectionGroup:
    """One named connection: a master engine and the replica engines reads are spread over."""

    def __init__(self, spec: ConnectionSpec, registry: EngineRegistry) -> None:
        self.spec = spec
        self.name = spec.name
        self.registry = registry
        self.loop = registry.loop
        self.closed = False
        self.master = registry.create_engine(spec.master)
        self.replicas = [Replica(r, self) for r in spec.replicas]
        self._replica_by_engine = {r.engine.sync_engine: r for r in self.replicas}

    def __repr__(self) -> str:
        return f"<ConnectionGroup {self.name!r} master={self.spec.master.label} {self.replicas}>"

    def reader(self) -> Replica | None:
        """A random healthy replica, or ``None`` (read from the master)."""
        healthy = [r for r in self.replicas if r.healthy]
        if not healthy:
            return None
        return healthy[0] if len(healthy) == 1 else random.choice(healthy)

    def replica_for(self, engine: Engine) -> Replica | None:
        """The :class:`Replica` whose (sync) engine is ``engine``, if any."""
        return self._replica_by_engine.get(engine)

    def engines(self) -> list[AsyncEngine]:
        return [self.master, *(r.engine for r in self.replicas)]

    async def ping(self, count: int) -> None:
        """Ping the master and the healthy replicas; a failing replica leaves the rotation."""
        try:
            await ping_engine(self.master, count)
        except Exception as exc:
            logger.warning(
                "database %r: master %s failed a ping: %s", self.name, self.spec.master.label, exc
            )
        for replica in self.replicas:
            if not replica.healthy:
                continue  # its probe brings it back
            try:
                await ping_engine(replica.engine, count)
            except Exception as exc:
                replica.mark_down(exc)

    async def dispose(self) -> None:
        self.closed = True
        for replica in self.replicas:
            await replica.close()
        await self.master.dispose()


class EngineRegistry:
    """The engines of one process and event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pid = os.getpid()
        self._specs: dict[str, ConnectionSpec] | None = None
        self.groups: dict[str, ConnectionGroup] = {}
        self.url_engines: dict[str, AsyncEngine] = {}
        self.killers: list[QueryKiller] = []
        self._pinger: asyncio.Task[None] | None = None

    def create_engine(self, spec: EngineSpec) -> AsyncEngine:
        """A new engine of this loop (with a :class:`QueryKiller` on MySQL/MariaDB)."""
        engine = create_engine(spec)
        killer = QueryKiller.attach(engine, self.loop)
        if killer is not None:
            self.killers.append(killer)
        return engine

    @property
    def specs(self) -> dict[str, ConnectionSpec]:
        if self._specs is None:
            self._specs = parse_connections(
                settings.DATABASE_CONNECTION, settings.SQLALCHEMY_CONFIGURATION
            )
        return self._specs

    def group(self, name: str) -> ConnectionGroup:
        """The :class:`ConnectionGroup` called ``name`` (its engines are made on first use)."""
        group = self.groups.get(name)
        if group is None:
            spec = self.specs.get(name)
            if spec is None:
                raise ImproperlyConfigured(
                    f"database connection {name!r} is not in DATABASE_CONNECTION "
                    f"(configured: {sorted(self.specs) or 'none'})"
                )
            group = self.groups[name] = ConnectionGroup(spec, self)
        return group

    def url_engine(self, spec: EngineSpec) -> AsyncEngine:
        """A shared engine for a URL outside ``DATABASE_CONNECTION`` (used by ``basedb``)."""
        key = (
            spec.url.render_as_string(hide_password=False)
            + "|"
            + repr(sorted(spec.options.items()))
        )
        engine = self.url_engines.get(key)
        if engine is None:
            engine = self.url_engines[key] = self.create_engine(spec)
        return engine

    def start_pinger(self, interval: float, count: int) -> None:
        """Ping every engine in use every ``interval`` seconds (``PING_DB``); idempotent."""
        if interval and interval > 0 and (self._pinger is None or self._pinger.done()):
            self._pinger = self.loop.create_task(self._ping_forever(float(interval), int(count)))

    async def stop_pinger(self) -> None:
        pinger, self._pinger = self._pinger, None
        if pinger is not None and not pinger.done():
            pinger.cancel()
            with contextlib.suppress(BaseException):
                await pinger

    async def ping_all(self, count: int) -> None:
        """One round of pings over every connection group in use."""
        for group in list(self.groups.values()):
            await group.ping(count)

    async def _ping_forever(self, interval: float, count: int) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.ping_all(count)
            except Exception:  # pragma: no cover - ping_all logs per group
                logger.exception("database ping failed")

    async def dispose(self) -> None:
        await self.stop_pinger()
        killers, self.killers = self.killers, []
        for killer in killers:
            await _logged(killer.close(), "query killer")
        groups, self.groups = self.groups, {}
        engines, self.url_engines = self.url_engines, {}
        for group in groups.values():
            await _logged(group.dispose(), f"database {group.name!r}")
        for engine in engines.values():
            await _logged(engine.dispose(), f"database {engine.url!r}")

    def forget(self) -> None:
        """Drop engines inherited through ``fork()`` without touching the parent's sockets."""
        for group in self.groups.values():
            group.closed = True
            for engine in group.engines():
                engine.sync_engine.dispose(close=False)
        for engine in self.url_engines.values():
            engine.sync_engine.dispose(close=False)
        for killer in self.killers:
            killer.closed = True
        self.groups.clear()
        self.url_engines.clear()
        self.killers.clear()


async def _logged(awaitable: Awaitable[None], what: str) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("closing %s failed", what)


_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EngineRegistry] = (
    weakref.WeakKeyDictionary()
)


def registry() -> EngineRegistry:
    """The :class:`EngineRegistry` of the running event loop (and this process)."""
    loop = asyncio.get_running_loop()
    reg = _registries.get(loop)
    if reg is None or reg.pid != os.getpid():
        if reg is not None:
            reg.forget()
        reg = _registries[loop] = EngineRegistry(loop)
    return reg


def get_group(name: str = "default") -> ConnectionGroup:
    """The named connection of the running loop."""
    return registry().group(name)


def get_engine(name: str = "default", *, replica: bool = False) -> AsyncEngine:
    """The master engine of connection ``name``, or with ``replica=True`` a healthy replica's
    (the master's when none is healthy)."""
    group = get_group(name)
    if replica:
        chosen = group.reader()
        if chosen is not None:
            return chosen.engine
    return group.master


async def dispose_all() -> None:
    """Dispose every engine of the running loop and stop its pings (idempotent).

    The application calls it at shutdown. The next database use on this loop builds new engines
    from the settings current at that time.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    reg = _registries.pop(loop, None)
    if reg is not None:
        if reg.pid == os.getpid():
            await reg.dispose()
        else:  # inherited through fork(): the sockets are the parent's
            reg.forget()
