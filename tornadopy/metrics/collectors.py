"""The metric objects of this process, made once (lazily, after any ``--processes`` fork).

They are registered in ``prometheus_client.REGISTRY``, the default registry, so metrics an
application defines itself appear on the same endpoint.

==========================================  =========  =========================================
name                                        type       labels
==========================================  =========  =========================================
``tornadopy_requests_total``                counter    ``route``, ``method``, ``status``
``tornadopy_request_duration_seconds``      histogram  ``route``
``tornadopy_cache_lookups_total``           counter    ``alias``, ``result`` (``hit``/``miss``)
``tornadopy_db_pool_checked_out``           gauge      ``database``, ``role``
``tornadopy_db_pool_checked_in``            gauge      ``database``, ``role``
``tornadopy_db_pool_size``                  gauge      ``database``, ``role``
``tornadopy_db_pool_overflow``              gauge      ``database``, ``role``
==========================================  =========  =========================================

``route`` is the route's name (``Url(..., name=...)``), else its URL pattern, else the handler
class -- never the requested path, so the number of series stays bounded. Requests no route
matched are ``route="<unmatched>"``.
"""

from __future__ import annotations

import logging
import os
import threading

__all__ = ["Metrics", "get_metrics"]

log = logging.getLogger("tornadopy.metrics")


class Metrics:
    """The metric objects; use :func:`get_metrics`."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.pid = os.getpid()
        self.buckets = buckets
        self.requests = Counter(
            "tornadopy_requests",
            "HTTP requests answered, by route name, method and status code.",
            ["route", "method", "status"],
        )
        self.latency = Histogram(
            "tornadopy_request_duration_seconds",
            "Time from the request's headers to the end of its response, by route name.",
            ["route"],
            buckets=buckets,
        )
        self.cache_lookups = Counter(
            "tornadopy_cache_lookups",
            "Cache lookups (get, get_or_set, and each key of get_many), by alias and result.",
            ["alias", "result"],
        )
        pool = {"labelnames": ["database", "role"], "multiprocess_mode": "livesum"}
        self.pool_checked_out = Gauge(
            "tornadopy_db_pool_checked_out",
            "Database connections in use (checked out of the pool).",
            **pool,  # type: ignore[arg-type]
        )
        self.pool_checked_in = Gauge(
            "tornadopy_db_pool_checked_in",
            "Idle database connections in the pool.",
            **pool,  # type: ignore[arg-type]
        )
        self.pool_size = Gauge(
            "tornadopy_db_pool_size",
            "Configured pool size (connections kept open).",
            **pool,  # type: ignore[arg-type]
        )
        self.pool_overflow = Gauge(
            "tornadopy_db_pool_overflow",
            "Connections open beyond the pool size (up to max_overflow).",
            **pool,  # type: ignore[arg-type]
        )


_metrics: Metrics | None = None
_lock = threading.Lock()


def get_metrics(buckets: tuple[float, ...] | None = None) -> Metrics:
    """This process' :class:`Metrics`, made on first use (``buckets`` count only then)."""
    global _metrics
    metrics = _metrics
    if metrics is None:
        from tornadopy.metrics.config import DEFAULT_BUCKETS

        with _lock:
            if _metrics is None:
                _metrics = Metrics(buckets or DEFAULT_BUCKETS)
            metrics = _metrics
    if buckets is not None and tuple(buckets) != metrics.buckets:
        log.warning(
            "METRICS['buckets'] changed after the latency histogram was made in this process; "
            "keeping %s",
            metrics.buckets,
        )
    return metrics
