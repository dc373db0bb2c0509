"""Prometheus metrics (issue 8), optional: ``pip install 'tornadopy[metrics]'``.

::

    MIDDLEWARE_CLASSES = ['tornadopy.middleware.metrics.MetricsMiddleware', ...]   # first
    METRICS = {'path': '/metrics'}

- :class:`~tornadopy.middleware.metrics.MetricsMiddleware` counts requests by route name and
  status, times them (histogram by route), counts cache hits and misses per alias and reports
  database pool usage (see :mod:`tornadopy.metrics.collectors` for every metric);
- ``METRICS['path']`` adds the scrape endpoint (:mod:`tornadopy.metrics.handler`);
- under ``--processes`` the workers share their figures (:mod:`tornadopy.metrics.multiprocess`).

Off by default, and then nothing of it runs: no middleware hook, no cache wrapper, no route,
``prometheus_client`` not even imported. This package's ``__init__`` imports nothing heavy, so
the application and the web server can call :func:`metrics_routes`,
:func:`prepare_multiprocess` and :func:`mark_worker_dead` unconditionally.
"""

from __future__ import annotations

import re
from typing import Any

from tornadopy.metrics.config import MetricsConfig, metrics_enabled, require_prometheus
from tornadopy.metrics.multiprocess import is_multiprocess, mark_worker_dead, prepare_multiprocess

__all__ = [
    "MetricsConfig",
    "is_multiprocess",
    "mark_worker_dead",
    "metrics_enabled",
    "metrics_routes",
    "prepare_multiprocess",
]

ROUTE_NAME = "tornadopy-metrics"


def metrics_routes() -> list[tuple[str, type, dict[str, Any], str]]:
    """The ``(pattern, handler, kwargs, name)`` of the scrape endpoint, or ``[]`` when
    ``METRICS['path']`` is not set (the same shape as :func:`tornadopy.health.health_routes`)."""
    config = MetricsConfig.from_settings()
    if not config.path:
        return []
    require_prometheus()
    from tornadopy.metrics.handler import MetricsHandler

    return [(re.escape(config.path), MetricsHandler, {"config": config}, ROUTE_NAME)]
