"""Health and readiness (issue 8): ``/healthz`` and ``/readyz``.

``HEALTH_URLS = {'healthz': '/healthz', 'readyz': '/readyz'}`` (the default; ``None`` or ``{}``
turns them off, and either key can be set to None). The routes are added after the apps' routes,
so an app's own route of the same path wins.

- ``/healthz``: 200 ``ok`` while the process serves requests.
- ``/readyz``: 200 when every configured cache (``CACHES``) and database
  (``DATABASE_CONNECTION``: the master and each replica) answers within ``HEALTH_TIMEOUT``
  seconds; 503 otherwise, and 503 from the moment SIGTERM/SIGINT arrives (before the drain, and
  during ``SHUTDOWN_GRACE``) so a load balancer stops sending traffic first. The JSON body names
  each service and whether it answered; error details stay in the log.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import tornado.web

from tornadopy.conf import settings

logger = logging.getLogger("tornadopy.health")
PROBE_KEY = "tornadopy:readyz:probe"


@dataclass
class Probe:
    """The result of checking one service."""

    name: str
    ok: bool
    error: str = ""


async def _check(name: str, coro: Any, timeout: float) -> Probe:
    try:
        await asyncio.wait_for(coro, timeout)
        return Probe(name, True)
    except Exception as exc:
        return Probe(name, False, f"{type(exc).__name__}: {exc}")


async def probe_services(timeout: float | None = None) -> list[Probe]:
    """Check every configured cache alias and database engine, concurrently, each bounded."""
    timeout = float(timeout if timeout is not None else settings.HEALTH_TIMEOUT)
    checks = []
    from tornadopy.cache import caches

    for alias in settings.CACHES:
        checks.append(_check(f"cache:{alias}", _cache_probe(caches, alias), timeout))
    if settings.DATABASE_CONNECTION:
        from tornadopy.db.dbalchemy.engines import get_group, ping_engine

        for name in settings.DATABASE_CONNECTION:
            try:
                group = get_group(name)
            except Exception as exc:
                checks.append(_failed(f"database:{name}", exc))
                continue
            checks.append(_check(f"database:{name}:master", ping_engine(group.master), timeout))
            for i, replica in enumerate(group.replicas):
                checks.append(
                    _check(f"database:{name}:replica{i}", ping_engine(replica.engine), timeout)
                )
    return list(await asyncio.gather(*checks))


async def _cache_probe(caches: Any, alias: str) -> None:
    await caches[alias].get(PROBE_KEY)


async def _failed(name: str, exc: Exception) -> Probe:
    return Probe(name, False, f"{type(exc).__name__}: {exc}")


class HealthHandler(tornado.web.RequestHandler):
    """``/healthz``: the process is alive."""

    def check_xsrf_cookie(self) -> None:
        pass

    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.write("ok")

    head = get


class ReadyHandler(tornado.web.RequestHandler):
    """``/readyz``: every cache and database answers, and the server is not shutting down."""

    def check_xsrf_cookie(self) -> None:
        pass

    async def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        if not getattr(self.application, "accepting", True):
            self.set_status(503)
            self.write({"ready": False, "reason": "shutting down"})
            return
        probes = await probe_services()
        ready = all(p.ok for p in probes)
        for p in probes:
            if not p.ok:
                logger.warning("readyz: %s did not answer: %s", p.name, p.error)
        self.set_status(200 if ready else 503)
        self.write({"ready": ready, "services": {p.name: p.ok for p in probes}})


def health_routes() -> list[tuple[str, type, dict[str, Any], str]]:
    """The (pattern, handler, kwargs, name) routes configured by ``HEALTH_URLS``."""
    urls = settings.HEALTH_URLS or {}
    routes: list[tuple[str, type, dict[str, Any], str]] = []
    if urls.get("healthz"):
        routes.append((urls["healthz"], HealthHandler, {}, "tornadopy-healthz"))
    if urls.get("readyz"):
        routes.append((urls["readyz"], ReadyHandler, {}, "tornadopy-readyz"))
    return routes
