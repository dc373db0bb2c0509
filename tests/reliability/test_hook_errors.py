"""RELIABILITY H5 over real HTTP: a middleware hook that raises in the request, response or
exception phase gives a generic 500 (no exception text, no traceback), the error is logged once,
the request's work is rolled back (database row absent, session change not saved) and the
request's end hooks still run; a saturated thread pool stays bounded and the event loop keeps
answering other requests.

(tests/test_pipeline.py checks the exact hook sequences of raising hooks; here the outcome a
client and an operator see, with the real session and database middleware in the stack.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from sqlalchemy import func, select

from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.db.dbalchemy import create_all, dispose_all, drop_all, session_scope
from tornadopy.decorators.async_execute import async_execute, shutdown_executor
from tornadopy.handler import WebHandler
from tornadopy.testing import serve

from .conftest import report

#: the phase in which Raiser raises ("request", "response", "exception") or None
RAISE_IN: dict[str, str | None] = {"phase": None}
SECRET_TEXT = "internal-detail-7f3a"


class HookFailed(RuntimeError):
    pass


class Raiser:
    """Declared last: its request hook runs after the others, its response and exception hooks
    run first (reverse order)."""

    def process_request(self, handler, clear):
        if RAISE_IN["phase"] == "request":
            raise HookFailed(f"request hook {SECRET_TEXT}")

    def process_response(self, handler, clear, chunk):
        if RAISE_IN["phase"] == "response":
            raise HookFailed(f"response hook {SECRET_TEXT}")

    def process_exception(self, handler, clear, typ, value, tb):
        if RAISE_IN["phase"] == "exception":
            raise HookFailed(f"exception hook {SECRET_TEXT}")


class Work(WebHandler):
    """Changes the session and writes a row (flushed, not committed), then answers -- or raises
    when ``?fail=1``."""

    async def get(self):
        from db.models import Item

        await self.session.set("k", "changed")
        master = Item.session.using_master()
        master.add(Item(name="h5-row", qty=1))
        await master.flush()
        if self.get_argument("fail", ""):
            raise ValueError(f"handler {SECRET_TEXT}")
        self.write("done")

    def check_xsrf_cookie(self):
        pass


class Login(WebHandler):
    async def get(self):
        await self.session.set("k", "original")
        self.write("in")


class Read(WebHandler):
    async def get(self):
        self.write({"k": await self.session.get("k")})


class Plain(WebHandler):
    def get(self):
        self.write("ok")


class Blocking(WebHandler):
    async def get(self):
        self.write({"thread": await self.block(float(self.get_argument("s")))})

    @async_execute
    def block(self, seconds):
        import threading

        time.sleep(seconds)
        return threading.current_thread().name


URLS = [
    (r"/work", Work),
    (r"/login", Login),
    (r"/read", Read),
    (r"/plain", Plain),
    (r"/blocking", Blocking),
]


@pytest.fixture
async def site(tmp_path):
    RAISE_IN["phase"] = None
    with override_settings(
        MIDDLEWARE_CLASSES=[
            "tornadopy.middleware.dbalchemy.DBAlchemyMiddleware",
            "tornadopy.middleware.session.SessionMiddleware",
            Raiser,
        ],
        DATABASE_CONNECTION={
            "default": {
                "connections": [{"ROLE": "master", "URL": f"sqlite+aiosqlite:///{tmp_path}/h5.db"}]
            }
        },
        CACHES={
            "default": {
                "BACKEND": "tornadopy.cache.backends.localcache.LocMemCache",
                "LOCATION": f"h5-{tmp_path.name}",
            }
        },
        SESSION={"secret_key": "h5-session-secret-0123456789"},
        PING_DB=0,
        THREADS_NUM=2,
    ):
        from db.models import Item  # noqa: F401  (registers the table)

        await create_all()
        app = Application(urls=URLS)
        try:
            async with serve(app) as client:
                yield app, client
        finally:
            RAISE_IN["phase"] = None
            await drop_all()
            await dispose_all()
            shutdown_executor()


async def rows() -> int:
    from db.models import Item

    async with session_scope(master=True) as s:
        return (await s.execute(select(func.count()).select_from(Item))).scalar()


async def settled(app) -> None:
    for _ in range(150):
        if app.inflight == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{app.inflight} requests still in flight")


def logged(caplog, text: str) -> list[logging.LogRecord]:
    """Error records (the access log's line excluded) that carry ``text``, in the message or in
    the exception they log."""
    found = []
    for r in caplog.records:
        if r.levelno < logging.ERROR or r.name == "tornado.access":
            continue
        exc = r.exc_info[1] if r.exc_info else None
        if text in r.getMessage() or (exc is not None and text in str(exc)):
            found.append(r)
    return found


@pytest.mark.parametrize("phase", ["request", "response", "exception"])
async def test_raising_hook_is_a_generic_500_logged_once_and_rolled_back(site, caplog, phase):
    app, client = site
    assert (await client.get("/login")).code == 200
    RAISE_IN["phase"] = phase
    caplog.clear()
    caplog.set_level(logging.INFO)
    resp = await client.get("/work?fail=1" if phase == "exception" else "/work")
    await settled(app)
    RAISE_IN["phase"] = None

    assert resp.code == 500
    assert SECRET_TEXT.encode() not in resp.body and b"Traceback" not in resp.body
    hook_records = logged(caplog, f"{phase} hook {SECRET_TEXT}")
    handler_records = logged(caplog, f"handler {SECRET_TEXT}")
    report(
        f"h5.hook_raises.{phase}",
        status=resp.code,
        hook_error_logged=len(hook_records),
        handler_error_logged=len(handler_records),
    )
    # rolled back: no row, the session keeps its value from before the failed request
    assert await rows() == 0
    assert json.loads((await client.get("/read")).body) == {"k": "original"}
    assert app.inflight == 0
    # logged once, with its traceback (SPEC §7: "then a 500 if none sent a response (logged
    # with its traceback)") -- also when process_exception hooks exist but do not answer
    assert len(hook_records) == 1, [r.getMessage() for r in caplog.records]
    assert hook_records[0].exc_info is not None
    if phase == "exception":  # the handler's own error is logged once too
        assert len(handler_records) == 1, [r.getMessage() for r in caplog.records]


async def test_saturated_thread_pool_is_bounded_and_the_loop_keeps_answering(site):
    _app, client = site
    blocking = [asyncio.ensure_future(client.get("/blocking?s=0.4")) for _ in range(8)]
    await asyncio.sleep(0.1)
    plain_latencies = []
    while not all(b.done() for b in blocking):
        started = time.monotonic()
        resp = await client.get("/plain")
        assert resp.code == 200
        plain_latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.02)
    results = [await b for b in blocking]
    threads = {json.loads(r.body)["thread"] for r in results}
    elapsed = max(r.request_time for r in results)
    report(
        "h5.thread_pool",
        blocking_requests=len(results),
        threads_used=len(threads),
        slowest_blocking_s=round(elapsed, 2),
        plain_requests=len(plain_latencies),
        plain_max_ms=round(1000 * max(plain_latencies), 1),
    )
    assert all(r.code == 200 for r in results)
    assert len(threads) <= 2  # THREADS_NUM bounds the pool
    assert elapsed >= 1.5  # 8 calls of 0.4 s, 2 at a time: they queued
    assert len(plain_latencies) >= 10 and max(plain_latencies) < 0.25
