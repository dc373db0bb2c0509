"""Health and readiness endpoints (issue 8)."""

import asyncio
import json
import signal
import time

from test_webserver import start
from tornado.httpclient import AsyncHTTPClient

from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.testing import serve


def build():
    return Application()


def configured(**overrides):
    return override_settings(MIDDLEWARE_CLASSES=(), INSTALLED_APPS=(), **overrides)


async def test_healthz_and_readyz_with_embedded_defaults():
    with configured():
        async with serve(build()) as client:
            health = await client.get("/healthz")
            ready = await client.get("/readyz")
    assert health.code == 200 and health.body == b"ok"
    assert ready.code == 200
    assert json.loads(ready.body) == {"ready": True, "services": {"cache:default": True}}


async def test_readyz_is_503_when_a_cache_does_not_answer(redis_server):
    caches = {
        "dead": {
            "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
            "LOCATION": "127.0.0.1:1",
        }
    }
    with configured(CACHES=caches, HEALTH_TIMEOUT=1):
        async with serve(build()) as client:
            started = time.monotonic()
            ready = await client.get("/readyz")
            took = time.monotonic() - started
    body = json.loads(ready.body)
    assert ready.code == 503
    assert body["services"] == {"cache:default": True, "cache:dead": False}
    assert b"127.0.0.1:1" not in ready.body  # details go to the log, not the client
    assert took < 3


async def test_health_urls_can_be_moved_or_turned_off():
    with configured(HEALTH_URLS={"healthz": "/ping", "readyz": None}):
        async with serve(build()) as client:
            moved = await client.get("/ping")
            gone = await client.get("/readyz")
    assert moved.code == 200 and gone.code == 404
    with configured(HEALTH_URLS=None):
        async with serve(build()) as client:
            assert (await client.get("/healthz")).code == 404


async def test_readyz_turns_503_as_soon_as_sigterm_arrives_then_the_process_exits_0():
    proc, port = start(settings="coreproj.settings.grace")
    client = AsyncHTTPClient(force_instance=True)
    try:
        before = await client.fetch(f"http://127.0.0.1:{port}/readyz", raise_error=False)
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        during = await client.fetch(f"http://127.0.0.1:{port}/readyz", raise_error=False)
        alive = await client.fetch(f"http://127.0.0.1:{port}/healthz", raise_error=False)
        assert before.code == 200
        assert during.code == 503 and json.loads(during.body)["reason"] == "shutting down"
        assert alive.code == 200  # still serving during the grace period
        assert proc.wait(timeout=15) == 0
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
