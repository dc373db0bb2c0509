"""``cache_page`` stampede protection over real HTTP, on LocMem, memcached and Redis.

Two ``Application`` instances in one test stand for two servers sharing the cache: each has its
own in-process table of recomputations, so between them only the cache lock coordinates (the
same path as between processes). ``test_separate_processes_*`` runs real server processes.
Requests carry one ``Host`` header so every server computes the same key (``full_url()``).
"""

from __future__ import annotations

import asyncio
import textwrap
import time
import uuid
from typing import Any

import pytest
from support import pagecache
from support.appserver import AppServer
from support.pagecache import BACKENDS
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.simple_httpclient import HTTPStreamClosedError
from tornado.web import HTTPError

from tornadopy.application import Application
from tornadopy.cache import caches, close_all
from tornadopy.cache.decorators import cache_page
from tornadopy.conf import override_settings
from tornadopy.handler import WebHandler
from tornadopy.testing import serve

HOST = "pages.test"
CALLS: dict[str, int] = {}
STARTED: dict[str, list[float]] = {}
TASKS: list[asyncio.Task[Any]] = []
RELEASE: list[asyncio.Event] = []
LOCK_TTL = 2.0


def count(name: str) -> int:
    CALLS[name] = CALLS.get(name, 0) + 1
    STARTED.setdefault(name, []).append(time.monotonic())
    return CALLS[name]


class Slow(WebHandler):
    @cache_page(60)
    async def get(self):
        n = count("slow")
        await asyncio.sleep(0.2)
        self.write(f"slow call {n}")

    head = get


class Stale(WebHandler):
    @cache_page(1, stale=30)
    async def get(self):
        n = count("stale")
        if n > 1:
            await asyncio.sleep(1.0)
        self.write(f"stale call {n}")


class Cancelled(WebHandler):
    @cache_page(60)
    async def get(self):
        n = count("cancelled")
        if n == 1:
            TASKS.append(asyncio.current_task())  # type: ignore[arg-type]
            await asyncio.Event().wait()  # until the test cancels this task
        self.write(f"cancelled call {n}")


class Hung(WebHandler):
    @cache_page(60, lock_timeout=LOCK_TTL)
    async def get(self):
        n = count("hung")
        if n == 1:
            await RELEASE[0].wait()  # a holder that stopped making progress
        self.write(f"hung call {n}")


class Missing(WebHandler):
    @cache_page(60)
    async def get(self):
        count("missing")
        await asyncio.sleep(0.1)
        raise HTTPError(404)


class Plain(WebHandler):
    @cache_page(60)
    async def get(self):
        self.write(f"plain call {count('plain')}")


URLS = [
    (r"/slow", Slow),
    (r"/stale", Stale),
    (r"/cancelled", Cancelled),
    (r"/hung", Hung),
    (r"/missing", Missing),
    (r"/plain", Plain),
]


def backend_config(name: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    return pagecache.backend_config(name, request, "st")


@pytest.fixture(params=list(BACKENDS))
async def backend(request: pytest.FixtureRequest):
    """The backend's name; ``caches['default']`` is that backend under a fresh ``KEY_PREFIX``.
    Redis keys are removed afterwards (prefix only); the shared memcached is never flushed --
    its keys here expire within 90 s."""
    CALLS.clear()
    STARTED.clear()
    TASKS.clear()
    RELEASE[:] = [asyncio.Event()]
    config = backend_config(request.param, request)
    with override_settings(CACHES={"default": config}, MIDDLEWARE_CLASSES=()):
        try:
            yield request.param
        finally:
            RELEASE[0].set()
            if request.param == "redis":
                await caches["default"].clear()
            await close_all()


async def fetch(client_or_port: Any, path: str, **kwargs: Any) -> HTTPResponse:
    port = getattr(client_or_port, "port", client_or_port)
    http = AsyncHTTPClient(force_instance=True)
    try:
        return await http.fetch(
            f"http://127.0.0.1:{port}{path}",
            headers={"Host": HOST},
            raise_error=False,
            request_timeout=30,
            **kwargs,
        )
    finally:
        http.close()


async def fetch_all(ports: list[int], path: str) -> list[HTTPResponse]:
    """One request per entry of ``ports``, all at once (one connection each)."""
    http = AsyncHTTPClient(force_instance=True, max_clients=len(ports))
    try:
        return list(
            await asyncio.gather(
                *(
                    http.fetch(
                        f"http://127.0.0.1:{port}{path}",
                        headers={"Host": HOST},
                        raise_error=False,
                        request_timeout=30,
                    )
                    for port in ports
                )
            )
        )
    finally:
        http.close()


async def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_cold_page_is_computed_once_for_50_concurrent_requests(backend):
    async with serve(Application(urls=URLS)) as client:
        started = time.monotonic()
        answers = await fetch_all([client.port] * 50, "/slow")
        elapsed = time.monotonic() - started
    assert [r.code for r in answers] == [200] * 50
    assert {r.body for r in answers} == {b"slow call 1"}
    assert CALLS["slow"] == 1
    assert elapsed < 2.0  # the waiters did not queue behind 49 recomputations (0.2 s each)


async def test_two_applications_sharing_the_cache_compute_once(backend):
    async with serve(Application(urls=URLS)) as a, serve(Application(urls=URLS)) as b:
        answers = await fetch_all([a.port, b.port] * 25, "/slow")
    assert [r.code for r in answers] == [200] * 50
    assert {r.body for r in answers} == {b"slow call 1"}
    assert CALLS["slow"] == 1


async def test_expired_entry_is_served_stale_while_one_request_recomputes(backend):
    async with serve(Application(urls=URLS)) as a, serve(Application(urls=URLS)) as b:
        assert (await fetch(a, "/stale")).body == b"stale call 1"
        await asyncio.sleep(1.1)  # fresh for 1 s, then stale for 30 s
        leader = asyncio.ensure_future(fetch(a, "/stale"))
        await wait_until(lambda: CALLS["stale"] == 2)  # recomputing (takes 1 s)

        async def timed(port: int) -> tuple[bytes, float]:
            started = time.monotonic()
            resp = await fetch(port, "/stale")
            return resp.body, time.monotonic() - started

        others = await asyncio.gather(*(timed(p) for p in [a.port, b.port] * 5))
        assert not leader.done()  # every other request was answered during the recomputation
        assert (await leader).body == b"stale call 2"
        after = await fetch(b, "/stale")
    assert {body for body, _ in others} == {b"stale call 1"}
    assert max(t for _, t in others) < 0.5  # nobody waited for the recomputation
    assert after.body == b"stale call 2"
    assert CALLS["stale"] == 2


async def test_cancelled_recomputation_is_taken_over_at_once(backend):
    async with serve(Application(urls=URLS)) as a, serve(Application(urls=URLS)) as b:
        # the first request, on a raw connection (its task gets cancelled: no answer ever)
        _reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
        writer.write(f"GET /cancelled HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        await wait_until(lambda: len(TASKS) == 1)
        waiters = asyncio.ensure_future(fetch_all([a.port, b.port] * 5, "/cancelled"))
        await asyncio.sleep(0.3)  # all ten are waiting (in-process, or polling the lock)
        assert CALLS["cancelled"] == 1
        cancelled_at = time.monotonic()
        TASKS[0].cancel()
        answers = await waiters
        took_over = STARTED["cancelled"][1] - cancelled_at
        writer.close()
    assert [r.code for r in answers] == [200] * 10
    assert {r.body for r in answers} == {b"cancelled call 2"}
    assert CALLS["cancelled"] == 2
    assert took_over < 0.5  # the lock was released: no wait for its 5 s TTL


async def test_hung_lock_holder_is_taken_over_after_the_lock_ttl(backend):
    async with serve(Application(urls=URLS)) as a, serve(Application(urls=URLS)) as b:
        holder = asyncio.ensure_future(fetch(a, "/hung"))
        await wait_until(lambda: CALLS.get("hung") == 1)
        others = await asyncio.gather(fetch(b, "/hung"), fetch(a, "/hung"))
        RELEASE[0].set()
        first = await holder
    waited = STARTED["hung"][1] - STARTED["hung"][0]
    assert [r.body for r in others] == [b"hung call 2", b"hung call 2"]
    assert first.body == b"hung call 1"
    assert CALLS["hung"] == 2  # exactly one takeover, shared by both servers
    # memcached keeps time in whole seconds: a 2 s TTL ends 1-2 s after it was set
    low = LOCK_TTL - 1.05 if backend == "memcached" else LOCK_TTL - 0.05
    assert low <= waited <= LOCK_TTL + 0.5


async def test_uncacheable_answer_releases_the_waiters(backend):
    async with serve(Application(urls=URLS)) as a, serve(Application(urls=URLS)) as b:
        started = time.monotonic()
        answers = await fetch_all([a.port, b.port] * 5, "/missing")
        elapsed = time.monotonic() - started
        again = await fetch(a, "/plain")
    assert [r.code for r in answers] == [404] * 10
    assert CALLS["missing"] == 10  # a 404 is not shared: each request ran the handler
    assert elapsed < 1.5  # nobody waited for a lock TTL (5 s)
    assert again.body == b"plain call 1"


async def test_head_and_get_share_one_recomputation(backend):
    async with serve(Application(urls=URLS)) as a:
        http = AsyncHTTPClient(force_instance=True, max_clients=20)
        try:
            answers = await asyncio.gather(
                *(
                    http.fetch(
                        f"http://127.0.0.1:{a.port}/slow",
                        method=method,
                        headers={"Host": HOST},
                        raise_error=False,
                    )
                    for method in ["HEAD", "GET"] * 10
                )
            )
        finally:
            http.close()
    assert [r.code for r in answers] == [200] * 20
    assert {r.body for r in answers[1::2]} == {b"slow call 1"}
    assert CALLS["slow"] == 1


# ---------------------------------------------------------------- real server processes

SETTINGS = """
import os

DEBUG = True
INSTALLED_APPS = ("pagesite",)
MIDDLEWARE_CLASSES = ()
CACHES = {
    "default": {
        "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
        "LOCATION": os.environ["PAGES_REDIS"],
        "KEY_PREFIX": os.environ["PAGES_PREFIX"],
        "OPTIONS": {"DB": 9},
    },
}
LOGGING_DIR = "."
"""

PAGES = """
import asyncio
import os
import time

from tornadopy import Url, route
from tornadopy.cache import caches
from tornadopy.cache.decorators import cache_page
from tornadopy.handler import WebHandler


class Page(WebHandler):
    @cache_page(60, lock_timeout=float(os.environ["PAGES_LOCK"]))
    async def get(self):
        backend = caches["default"]
        await backend.add("calls", 0, timeout=None)
        n = await backend.incr("calls")
        await backend.set(f"started:{n}", time.time(), timeout=None)
        first = float(self.get_argument("first", "0.2"))
        await asyncio.sleep(first if n == 1 else 0.2)
        self.write(f"call {n} in {os.getpid()}")


urls = route(Url("")(r"/page", Page, name="Page"))
"""


def write_project(root: Any) -> Any:
    site = root / "project" / "pagesite"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("")
    (site / "settings.py").write_text(textwrap.dedent(SETTINGS))
    (site / "urls.py").write_text(textwrap.dedent(PAGES))
    return root / "project"


@pytest.fixture
async def processes(tmp_path, redis_server):
    """Start(able) server processes sharing one Redis key prefix; yields ``(make, backend)``."""
    host, port = redis_server
    prefix = f"sp{uuid.uuid4().hex[:12]}"
    project = write_project(tmp_path)
    servers: list[AppServer] = []

    def make(name: str, lock: float) -> AppServer:
        env = {"PAGES_REDIS": f"{host}:{port}", "PAGES_PREFIX": prefix, "PAGES_LOCK": str(lock)}
        server = AppServer(
            "pagesite.settings", logdir=tmp_path, env=env, pythonpath=[str(project)], name=name
        )
        servers.append(server)
        server.start()
        return server

    config = {
        "BACKEND": BACKENDS["redis"],
        "LOCATION": f"{host}:{port}",
        "KEY_PREFIX": prefix,
        "OPTIONS": {"DB": 9},
    }
    with override_settings(CACHES={"default": config}):
        try:
            yield make, caches["default"]
        finally:
            for server in servers:
                server.stop()
            await caches["default"].clear()
            await close_all()


@pytest.mark.slow
async def test_separate_processes_compute_a_cold_page_once(processes):
    make, store = processes
    a, b = make("a", 5.0), make("b", 5.0)
    answers = await fetch_all([a.port, b.port] * 25, "/page")
    assert [r.code for r in answers] == [200] * 50
    assert len({r.body for r in answers}) == 1
    assert await store.get("calls") == 1


@pytest.mark.slow
async def test_killed_lock_holder_is_taken_over_after_the_lock_ttl(processes):
    make, store = processes
    a, b = make("a", 1.5), make("b", 1.5)
    holder = asyncio.ensure_future(fetch(a.port, "/page?first=30"))
    deadline = time.monotonic() + 10
    while await store.get("started:1") is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    a.kill()  # SIGKILL: the lock stays until its TTL
    answer = await fetch(b.port, "/page?first=30")
    with pytest.raises(HTTPStreamClosedError):
        await holder  # the connection died with the process
    waited = await store.get("started:2") - await store.get("started:1")
    assert answer.code == 200
    assert answer.body == f"call 2 in {b.pid}".encode()
    assert 1.5 - 0.05 <= waited <= 1.5 + 0.5
