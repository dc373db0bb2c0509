"""Request, cache and database metrics over real HTTP, scraped from the endpoint."""

import asyncio
import os
import uuid

import pytest
from prometheus_client import Counter

from metrics.helpers import GATES, HELD, configured, scrape, site
from tornadopy.application import Application
from tornadopy.testing import serve

REQUESTS = "tornadopy_requests_total"
LATENCY = "tornadopy_request_duration_seconds"
LOOKUPS = "tornadopy_cache_lookups_total"


async def test_requests_are_counted_by_route_name_and_status():
    async with site() as client:
        before = await scrape(client)
        for _ in range(3):
            assert (await client.get("/")).code == 200
        assert (await client.get("/boom")).code == 500
        assert (await client.get("/status/418")).code == 418
        assert (await client.post("/status/201", xsrf=False)).code == 403  # XSRF refused
        after = await scrape(client)

    def delta(**labels):
        return after.value(REQUESTS, **labels) - before.value(REQUESTS, **labels)

    assert delta(route="Home", method="GET", status="200") == 3
    assert delta(route="Boom", method="GET", status="500") == 1
    assert delta(route="Status", method="GET", status="418") == 1
    assert delta(route="Status", method="POST", status="403") == 1


async def test_labels_are_route_names_or_patterns_never_raw_paths():
    async with site() as client:
        for i in range(5):
            assert (await client.get(f"/item/{i}")).code == 200
        for _ in range(3):
            assert (await client.get(f"/no/such/page/{uuid.uuid4().hex}")).code == 404
        after = await scrape(client)
    routes = {labels["route"] for labels in after.labelsets(REQUESTS)}
    assert r"/item/(\d+)$" in routes  # an unnamed route: its pattern
    assert "<unmatched>" in routes  # the default 404
    assert not any("/no/such" in r or "/item/1" in r for r in routes)
    assert after.value(REQUESTS, route=r"/item/(\d+)$", method="GET", status="200") >= 5
    assert after.value(REQUESTS, route="<unmatched>", method="GET", status="404") >= 3


async def test_latency_histogram_by_route():
    async with site() as client:
        before = await scrape(client)
        assert (await client.get("/slow?s=0.3")).code == 200
        assert (await client.get("/slow?s=0")).code == 200
        after = await scrape(client)

    def delta(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta(LATENCY + "_count", route="Slow") == 2
    assert 0.3 <= delta(LATENCY + "_sum", route="Slow") < 1.5
    assert delta(LATENCY + "_bucket", route="Slow", le="0.25") == 1  # only the fast one
    assert delta(LATENCY + "_bucket", route="Slow", le="0.5") == 2
    assert delta(LATENCY + "_bucket", route="Slow", le="+Inf") == 2


async def test_scrapes_and_health_checks_are_not_counted():
    async with site() as client:
        first = await scrape(client)
        await client.get("/healthz")
        second = await scrape(client)
    assert "tornadopy-metrics" not in {lbl["route"] for lbl in second.labelsets(REQUESTS)}
    assert "tornadopy-healthz" not in {lbl["route"] for lbl in second.labelsets(REQUESTS)}
    assert sum(v for (n, _), v in first.samples.items() if n == REQUESTS) == sum(
        v for (n, _), v in second.samples.items() if n == REQUESTS
    )


async def test_the_applications_own_metrics_are_exposed_too():
    name = f"test_app_signups_{uuid.uuid4().hex[:8]}"
    counter = Counter(name, "Sign-ups.")
    counter.inc(7)
    async with site() as client:
        after = await scrape(client)
    assert after.value(name + "_total") == 7


async def test_openmetrics_when_the_scraper_asks_for_it():
    async with site() as client:
        resp = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert resp.code == 200
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert resp.body.rstrip().endswith(b"# EOF")


async def test_allow_restricts_who_may_scrape():
    async with site({"allow": ["10.0.0.0/8"]}) as client:
        refused = await client.get("/metrics")
    async with site({"allow": ["127.0.0.1"]}) as client:
        allowed = await client.get("/metrics")
    assert refused.code == 403
    assert allowed.code == 200


async def test_the_path_can_be_moved_and_the_endpoint_is_off_without_a_path():
    async with site({"path": "/internal/prom"}) as client:
        moved = await client.get("/internal/prom")
        old = await client.get("/metrics")
    assert moved.code == 200 and old.code == 404
    with configured({"path": None}):
        async with serve(Application(urls=[])) as client:
            assert (await client.get("/metrics")).code == 404


# ---------------------------------------------------------------------- caches
LOCMEM = "tornadopy.cache.backends.localcache.LocMemCache"
REDIS = "tornadopy.cache.backends.rediscache.RedisCache"


def two_caches(prefix):
    return {
        "default": {"BACKEND": LOCMEM, "LOCATION": f"m-{prefix}"},
        "shared": {
            "BACKEND": REDIS,
            "LOCATION": "127.0.0.1:6379",
            "KEY_PREFIX": prefix,
            "OPTIONS": {"DB": 11},
        },
    }


async def test_cache_hits_and_misses_per_alias(redis_server):
    prefix = f"mx{uuid.uuid4().hex[:10]}"
    async with site(CACHES=two_caches(prefix)) as client:
        before = await scrape(client)
        for alias in ("default", "shared"):
            q = f"/cache?alias={alias}"
            await client.get(f"{q}&op=get&k=a")  # miss
            await client.get(f"{q}&op=set&k=a&v=1")
            await client.get(f"{q}&op=get&k=a")  # hit
            await client.get(f"{q}&op=get&k=a")  # hit
            await client.get(f"{q}&op=get_many&k=a&k=b&k=c")  # 1 hit, 2 misses
            await client.get(f"{q}&op=get_or_set&k=g")  # miss (computed)
            await client.get(f"{q}&op=get_or_set&k=g")  # hit
            await client.get(f"{q}&op=has_key&k=a")  # not a lookup
        await client.get("/cache?alias=default&op=set&k=n&v=1")
        await client.get("/cache?alias=default&op=incr&k=n")  # not a lookup
        after = await scrape(client)
        await client.get("/cache?alias=shared&op=set&k=a&v=1")

    for alias in ("default", "shared"):
        hits = after.value(LOOKUPS, alias=alias, result="hit") - before.value(
            LOOKUPS, alias=alias, result="hit"
        )
        misses = after.value(LOOKUPS, alias=alias, result="miss") - before.value(
            LOOKUPS, alias=alias, result="miss"
        )
        assert (alias, hits, misses) == (alias, 4, 4)
    import redis.asyncio as aioredis

    r = aioredis.Redis(db=11)
    keys = [k async for k in r.scan_iter(match=f"{prefix}*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()


async def test_cache_instances_are_plain_without_metrics_and_metered_with():
    from tornadopy.cache import caches
    from tornadopy.cache.backends.localcache import LocMemCache
    from tornadopy.metrics.cache import MeteredCache

    with configured(middleware=()):
        async with serve(Application(urls=[])):
            plain = caches["default"]
            assert type(plain) is LocMemCache
            assert caches.backend_hook is None
    async with site():
        metered = caches["default"]
        assert isinstance(metered, MeteredCache) and isinstance(metered, LocMemCache)
        assert repr(metered).startswith("<LocMemCache ")
    assert caches.backend_hook is None  # uninstalled at shutdown


# ---------------------------------------------------------------------- database pools
async def test_pool_gauges_are_read_at_scrape_time(tmp_path):
    db = {
        "default": {
            "connections": [{"ROLE": "master", "URL": f"sqlite+aiosqlite:///{tmp_path}/m.db"}]
        }
    }
    GATES["db"] = asyncio.Event()
    HELD["db"] = asyncio.Event()
    async with site(DATABASE_CONNECTION=db) as client:
        idle = await scrape(client)
        holding = asyncio.ensure_future(client.get("/hold-db"))
        await asyncio.wait_for(HELD["db"].wait(), 10)
        busy = await scrape(client)
        GATES["db"].set()
        assert (await holding).code == 200
        done = await scrape(client)
    labels = {"database": "default", "role": "master"}
    assert idle.value("tornadopy_db_pool_checked_out", **labels) == 0
    assert busy.value("tornadopy_db_pool_checked_out", **labels) == 1
    assert busy.value("tornadopy_db_pool_size", **labels) == 5
    assert busy.value("tornadopy_db_pool_overflow", **labels) == 0
    assert done.value("tornadopy_db_pool_checked_out", **labels) == 0
    assert done.value("tornadopy_db_pool_checked_in", **labels) == 1


async def test_cache_metering_can_be_turned_off():
    from tornadopy.cache import caches

    async with site({"cache": False}) as client:
        assert caches.backend_hook is None
        before = await scrape(client)
        await client.get("/cache?op=get&k=x")
        after = await scrape(client)
    for result in ("hit", "miss"):
        assert after.value(LOOKUPS, alias="default", result=result) == before.value(
            LOOKUPS, alias="default", result=result
        )


def test_metrics_middleware_without_prometheus_client_is_a_clear_error(monkeypatch):
    # the one thing that cannot run here for real: an interpreter without the package
    import importlib.util

    from tornadopy.exception import ImproperlyConfigured

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "prometheus_client" else real(name, *a),
    )
    with configured():
        with pytest.raises(ImproperlyConfigured, match=r"pip install 'tornadopy\[metrics\]'"):
            Application(urls=[])
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") is None
