"""``MetricsMiddleware``: request, cache and database metrics for Prometheus (issue 8).

Enable it first in ``MIDDLEWARE_CLASSES`` (its end hook then runs last, so the latency covers
every other hook) and set ``METRICS = {'path': '/metrics'}`` for the scrape endpoint; see
:mod:`tornadopy.metrics`.

Hooks:

- ``process_init``: makes the metric objects (once per process, after any fork), maps every
  route to its label, meters the cache aliases (``METRICS['cache']``) and, in multi-process
  mode, starts the periodic pool-gauge refresh (``METRICS['database']``);
- ``process_endcall`` (a plain ``def``, no coroutine): one counter increment and one histogram
  observation per request that reached a ``WebHandler`` -- the default 404 included, as
  ``route="<unmatched>"``. Plain ``tornado.web.RequestHandler`` routes (``/healthz``,
  ``/readyz``, the scrape endpoint) are not counted;
- ``process_shutdown``: stops the refresh task and the cache metering of this application.

Nothing else runs per request. The latency is ``request.request_time()``: from the moment the
request's headers were read to the end of the response (and the end hooks before this one).
"""

from __future__ import annotations

import asyncio
from typing import Any

from tornadopy.metrics.config import MetricsConfig, require_prometheus

__all__ = ["UNMATCHED", "MetricsMiddleware"]

#: the ``route`` label of requests no route matched (the default 404 handler)
UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """Counts and times requests; meters caches and database pools (see the module docs)."""

    def __init__(self) -> None:
        require_prometheus()
        self.config = MetricsConfig.from_settings()
        self._labels: dict[type, str] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._metrics: Any = None
        self._cache_installed = False
        self._refresh: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def process_init(self, application: Any) -> None:
        from tornadopy.metrics.collectors import get_metrics
        from tornadopy.metrics.multiprocess import is_multiprocess

        self._metrics = get_metrics(self.config.buckets)
        self._children = {}
        self._labels = self._route_labels(application)
        if self.config.cache and not self._cache_installed:
            from tornadopy.metrics import cache

            cache.install()
            self._cache_installed = True
        if self.config.database and is_multiprocess():
            from tornadopy.metrics.database import refresh_periodically

            self._refresh = asyncio.get_running_loop().create_task(
                refresh_periodically(self.config.refresh_interval)
            )

    async def process_shutdown(self, application: Any) -> None:
        if self._cache_installed:
            from tornadopy.metrics import cache

            cache.uninstall()
            self._cache_installed = False
        if self._refresh is not None:
            from tornadopy.metrics.database import refresh_pool_gauges, stop

            await stop(self._refresh)
            self._refresh = None
            refresh_pool_gauges()

    @staticmethod
    def _route_labels(application: Any) -> dict[type, str]:
        """Handler class -> label, for routes without a name: the URL pattern when the class
        serves one route only, else the class' dotted path."""
        patterns: dict[type, set[str]] = {}
        for route in getattr(application, "route_table", ()):
            handler = route.get("handler")
            if isinstance(handler, type):
                patterns.setdefault(handler, set()).add(route["pattern"])
        labels = {}
        for handler, found in patterns.items():
            if len(found) == 1:
                labels[handler] = next(iter(found))
            else:
                labels[handler] = f"{handler.__module__}.{handler.__qualname__}"
        return labels

    # ------------------------------------------------------------------ per request
    def route_label(self, handler: Any) -> str:
        """The ``route`` label of a request: the route name, else pattern, else class."""
        name = handler.route_name
        if name:
            return name  # type: ignore[no-any-return]
        cls = type(handler)
        label = self._labels.get(cls)
        if label is None:
            from tornadopy.handler import ErrorHandler

            if isinstance(handler, ErrorHandler):
                label = UNMATCHED
            else:
                label = f"{cls.__module__}.{cls.__qualname__}"
            self._labels[cls] = label
        return label

    def process_endcall(self, handler: Any, clear: Any) -> None:
        request = handler.request
        method = request.method if request.method in _METHODS else "other"
        key = (self.route_label(handler), method, handler.get_status())
        children = self._children.get(key)
        if children is None:
            metrics = self._metrics
            if metrics is None:  # an application used without startup()
                return
            route = key[0]
            children = self._children[key] = (
                metrics.requests.labels(route, method, str(key[2])),
                metrics.latency.labels(route),
            )
        children[0].inc()
        children[1].observe(request.request_time())
