"""A small site and a scrape parser for the metrics tests (real HTTP through ``serve``)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tornadopy import Url, route
from tornadopy.application import Application
from tornadopy.cache import caches
from tornadopy.conf import override_settings
from tornadopy.handler import WebHandler
from tornadopy.testing import serve

METRICS_MW = "tornadopy.middleware.metrics.MetricsMiddleware"

#: events a handler waits on (set by the test), per name
GATES: dict[str, asyncio.Event] = {}
HELD: dict[str, asyncio.Event] = {}


class Home(WebHandler):
    def get(self) -> None:
        self.write("home")


class Item(WebHandler):
    def get(self, item_id: str) -> None:
        self.write(f"item {item_id}")


class Boom(WebHandler):
    def get(self) -> None:
        raise RuntimeError("boom")


class Slow(WebHandler):
    async def get(self) -> None:
        await asyncio.sleep(float(self.get_argument("s", "0.2")))
        self.write("slow")


class Status(WebHandler):
    def get(self, code: str) -> None:
        self.set_status(int(code))


class CacheOps(WebHandler):
    async def get(self) -> None:
        alias = self.get_argument("alias", "default")
        op = self.get_argument("op")
        cache = caches[alias]
        out: Any = None
        if op == "set":
            await cache.set(self.get_argument("k"), self.get_argument("v"))
        elif op == "get":
            out = await cache.get(self.get_argument("k"))
        elif op == "get_many":
            out = await cache.get_many(self.get_arguments("k"))
        elif op == "get_or_set":
            out = await cache.get_or_set(self.get_argument("k"), "computed")
        elif op == "has_key":
            out = await cache.has_key(self.get_argument("k"))
        elif op == "incr":
            out = await cache.incr(self.get_argument("k"))
        self.write({"out": out})


class HoldDb(WebHandler):
    """Checks a database connection out and keeps it until the test sets the gate."""

    async def get(self) -> None:
        from tornadopy.db.dbalchemy import get_engine

        async with get_engine().connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
            HELD["db"].set()
            await GATES["db"].wait()
        self.write("released")


URLS = route(
    Url("")(r"/", Home, name="Home"),
    Url("")(r"/item/(\d+)", Item),
    Url("")(r"/boom", Boom, name="Boom"),
    Url("")(r"/slow", Slow, name="Slow"),
    Url("")(r"/status/(\d+)", Status, name="Status"),
    Url("")(r"/cache", CacheOps, name="Cache"),
    Url("")(r"/hold-db", HoldDb, name="HoldDb"),
)


class Scrape:
    """The samples of one scrape: ``value(name, **labels)`` (0 when absent)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, frozenset], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def labelsets(self, name: str) -> list[dict[str, str]]:
        return [dict(labels) for n, labels in self.samples if n == name]


async def scrape(client: Any, path: str = "/metrics") -> Scrape:
    resp = await client.get(path)
    assert resp.code == 200, resp.body
    assert resp.headers["Content-Type"].startswith("text/plain")
    return Scrape(resp.body.decode())


def configured(metrics: dict | None = None, middleware: tuple = (METRICS_MW,), **extra: Any):
    return override_settings(
        MIDDLEWARE_CLASSES=middleware,
        INSTALLED_APPS=(),
        METRICS={"path": "/metrics", **(metrics or {})},
        **extra,
    )


@contextlib.asynccontextmanager
async def site(metrics: dict | None = None, **extra: Any):
    with configured(metrics, **extra):
        async with serve(Application(urls=URLS)) as client:
            yield client
