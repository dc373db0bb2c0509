"""``MetricsHandler``: the Prometheus scrape endpoint (``METRICS['path']``).

A plain ``tornado.web.RequestHandler`` (like ``/healthz``): no middleware, session, XSRF or HTTP
module runs for a scrape, and scrapes are not counted in the request metrics. It answers
``GET`` with every metric of ``prometheus_client.REGISTRY`` (tornadopy's and the
application's own), or in multi-process mode the sum over every worker's files; the
OpenMetrics format when the scraper asks for it (``Accept``). With ``METRICS['allow']`` set,
other clients get 403.
"""

from __future__ import annotations

import asyncio
from typing import Any

import tornado.web

from tornadopy.decorators.whitelist import ip_allowed
from tornadopy.metrics.config import MetricsConfig
from tornadopy.metrics.multiprocess import is_multiprocess

__all__ = ["MetricsHandler", "exposition"]


def exposition(accept: str | None) -> tuple[bytes, str]:
    """The scrape body and its content type (reads every worker's files in multi-process mode)."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(accept or "")
    if is_multiprocess():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return encoder(registry), content_type
    return encoder(REGISTRY), content_type


class MetricsHandler(tornado.web.RequestHandler):
    """Serves the metrics (see the module documentation)."""

    def initialize(self, config: MetricsConfig) -> None:  # type: ignore[override]
        self.config = config

    def check_xsrf_cookie(self) -> None:
        pass

    async def get(self) -> None:
        if self.config.allow and not ip_allowed(self.request.remote_ip, self.config.allow):
            raise tornado.web.HTTPError(403)
        if self.config.database:
            from tornadopy.metrics.database import refresh_pool_gauges

            refresh_pool_gauges()
        accept = self.request.headers.get("Accept")
        if is_multiprocess():  # reads one file per worker and metric type: off the loop
            body, content_type = await asyncio.get_running_loop().run_in_executor(
                None, exposition, accept
            )
        else:
            body, content_type = exposition(accept)
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-store")
        self.write(body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish(f"{status_code}: {self._reason}\n")
