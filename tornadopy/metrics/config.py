"""``MetricsConfig``: the ``METRICS`` setting, read and checked once."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tornadopy.conf import settings
from tornadopy.decorators.whitelist import Network, parse_networks
from tornadopy.exception import ImproperlyConfigured
from tornadopy.importer import import_object

__all__ = [
    "DEFAULTS",
    "MetricsConfig",
    "metrics_enabled",
    "middleware_installed",
    "require_prometheus",
]

#: the latency buckets (seconds): Prometheus' defaults plus 25 and 50 ms, 30 and 60 s
DEFAULT_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    30.0,
    60.0,
)

DEFAULTS: dict[str, Any] = {
    "path": None,  # URL of the scrape endpoint, e.g. '/metrics'; None: no endpoint
    "allow": (),  # addresses/networks allowed to scrape; empty: anyone
    "buckets": DEFAULT_BUCKETS,  # latency histogram buckets, seconds
    "cache": True,  # count cache hits and misses per alias
    "database": True,  # database pool gauges
    "multiprocess_dir": None,  # directory the --processes workers share; None: a temp dir
    "refresh_interval": 5.0,  # seconds between pool gauge updates of each worker (--processes)
}


def require_prometheus() -> None:
    """Raise :class:`ImproperlyConfigured` when ``prometheus_client`` is not installed."""
    if importlib.util.find_spec("prometheus_client") is None:
        raise ImproperlyConfigured(
            "METRICS / MetricsMiddleware need the prometheus-client package: "
            "pip install 'tornadopy[metrics]' (or pip install prometheus-client)"
        )


@dataclass(frozen=True)
class MetricsConfig:
    """The checked ``METRICS`` setting (see :data:`DEFAULTS` for each key)."""

    path: str | None
    allow: tuple[Network, ...]
    buckets: tuple[float, ...]
    cache: bool
    database: bool
    multiprocess_dir: str | None
    refresh_interval: float

    @classmethod
    def from_settings(cls, value: Any = None) -> MetricsConfig:
        if value is None:
            value = settings.METRICS if "METRICS" in settings else {}
        if not isinstance(value, Mapping):
            raise ImproperlyConfigured(f"METRICS must be a dict, got {value!r}")
        unknown = set(value) - set(DEFAULTS)
        if unknown:
            raise ImproperlyConfigured(
                f"METRICS has unknown keys {sorted(unknown)}; known: {sorted(DEFAULTS)}"
            )
        conf = {**DEFAULTS, **value}
        path = conf["path"]
        if path is not None and not (isinstance(path, str) and path.startswith("/")):
            raise ImproperlyConfigured(
                f"METRICS['path'] = {path!r} must be a URL path such as '/metrics' (or None)"
            )
        try:
            buckets = tuple(sorted(float(b) for b in conf["buckets"]))
        except (TypeError, ValueError):
            raise ImproperlyConfigured(
                f"METRICS['buckets'] = {conf['buckets']!r} must be a list of seconds"
            ) from None
        if not buckets:
            raise ImproperlyConfigured("METRICS['buckets'] must not be empty")
        interval = conf["refresh_interval"]
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            raise ImproperlyConfigured(
                f"METRICS['refresh_interval'] = {interval!r} must be a number of seconds > 0"
            )
        mdir = conf["multiprocess_dir"]
        if mdir is not None and not isinstance(mdir, str):
            raise ImproperlyConfigured("METRICS['multiprocess_dir'] must be a directory path")
        return cls(
            path=path,
            allow=parse_networks(conf["allow"] or (), setting="METRICS['allow']"),
            buckets=buckets,
            cache=bool(conf["cache"]),
            database=bool(conf["database"]),
            multiprocess_dir=mdir,
            refresh_interval=float(interval),
        )


def middleware_installed() -> bool:
    """True when ``MIDDLEWARE_CLASSES`` holds ``MetricsMiddleware`` (or a subclass)."""
    from tornadopy.middleware.metrics import MetricsMiddleware

    for entry in settings.MIDDLEWARE_CLASSES:
        obj = (
            import_object(entry, setting="MIDDLEWARE_CLASSES") if isinstance(entry, str) else entry
        )
        if isinstance(obj, MetricsMiddleware) or (
            isinstance(obj, type) and issubclass(obj, MetricsMiddleware)
        ):
            return True
    return False


def metrics_enabled() -> bool:
    """True when metrics are in use: an endpoint (``METRICS['path']``) or the middleware."""
    return bool(MetricsConfig.from_settings().path) or middleware_installed()
