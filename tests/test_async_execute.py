"""tornadopy.decorators.async_execute: blocking calls in one shared, THREADS_NUM-sized pool."""

import asyncio
import contextvars
import inspect
import multiprocessing
import os
import threading
import time

import pytest

from tornadopy.conf import override_settings
from tornadopy.decorators.async_execute import (
    ashutdown_executor,
    async_execute,
    get_executor,
    shutdown_executor,
)
from tornadopy.exception import ImproperlyConfigured

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


@pytest.fixture(autouse=True)
def _fresh_pool():
    shutdown_executor()
    yield
    shutdown_executor()


@async_execute
def slow(seconds):
    """Sleep, then say which thread did it."""
    time.sleep(seconds)
    return threading.get_ident()


@async_execute
def fail():
    raise KeyError("missing thing")


@async_execute
def read_and_change_context():
    seen = request_id.get()
    request_id.set("changed in thread")
    return seen


class Repository:
    def __init__(self, name):
        self.name = name

    @async_execute
    def load(self, key, *, suffix=""):
        """Load one record."""
        return f"{self.name}:{key}{suffix}", threading.get_ident()


async def test_calls_run_concurrently_in_threads():
    with override_settings(THREADS_NUM=4):
        start = time.monotonic()
        idents = await asyncio.gather(slow(0.5), slow(0.5))
        elapsed = time.monotonic() - start
    assert elapsed < 0.9
    assert threading.get_ident() not in idents
    assert len(set(idents)) == 2


async def test_event_loop_keeps_running_during_a_call():
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    await slow(0.3)
    task.cancel()
    assert ticks >= 5


async def test_result_comes_back():
    repo = Repository("users")
    assert (await repo.load(7, suffix="!"))[0] == "users:7!"


async def test_exception_comes_back_with_its_type():
    with pytest.raises(KeyError, match="missing thing"):
        await fail()


async def test_context_variables_are_copied_into_the_call():
    request_id.set("req-42")
    assert await read_and_change_context() == "req-42"
    assert request_id.get() == "req-42"  # the thread's change stays in its copy


async def test_works_on_methods_and_keeps_metadata():
    a, b = Repository("a"), Repository("b")
    (ra, _), (rb, _) = await asyncio.gather(a.load(1), b.load(2))
    assert (ra, rb) == ("a:1", "b:2")
    assert Repository.load.__name__ == "load"
    assert Repository.load.__doc__ == "Load one record."
    assert Repository.load.__wrapped__.__qualname__ == "Repository.load"
    # hooks are told apart by iscoroutinefunction; a decorated one must be awaited
    assert inspect.iscoroutinefunction(Repository.load)


async def test_pool_size_follows_threads_num():
    running = 0
    peak = 0
    guard = threading.Lock()

    @async_execute
    def busy():
        nonlocal running, peak
        with guard:
            running += 1
            peak = max(peak, running)
        time.sleep(0.15)
        with guard:
            running -= 1

    with override_settings(THREADS_NUM=2):
        start = time.monotonic()
        await asyncio.gather(*(busy() for _ in range(6)))
        elapsed = time.monotonic() - start
        assert get_executor()._max_workers == 2
    assert peak == 2
    assert elapsed >= 0.45  # 6 calls, 2 at a time, 0.15 s each


async def test_one_shared_pool_created_lazily():
    with override_settings(THREADS_NUM=3):
        first = get_executor()
        await slow(0)
        assert get_executor() is first
        shutdown_executor()
        await slow(0)
        second = get_executor()
    assert second is not first
    assert second._max_workers == 3
    assert first._shutdown


async def test_async_shutdown_waits_for_running_calls():
    call = asyncio.ensure_future(slow(0.2))
    await asyncio.sleep(0.05)
    await ashutdown_executor()
    assert call.done()
    await call


async def test_bad_threads_num_is_a_configuration_error():
    with (
        override_settings(THREADS_NUM=-1),
        pytest.raises(ImproperlyConfigured, match="THREADS_NUM"),
    ):
        await slow(0)


def test_coroutine_functions_are_refused():
    async def already_async():
        return 1

    with pytest.raises(TypeError, match="already a coroutine function"):
        async_execute(already_async)


def _in_forked_child(parent_executor_id, results):
    async def main():
        return await asyncio.wait_for(slow(0), timeout=5)

    try:
        asyncio.run(main())
        results.put(("ok", id(get_executor()) != parent_executor_id, os.getpid()))
    except BaseException as exc:
        results.put(("error", repr(exc), os.getpid()))


async def test_forked_child_builds_its_own_pool():
    await slow(0)  # the parent's pool exists and has a live thread
    parent = get_executor()
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_in_forked_child, args=(id(parent), results))
    child.start()
    outcome = await asyncio.to_thread(results.get, timeout=20)
    await asyncio.to_thread(child.join, 10)
    assert outcome[0] == "ok", outcome
    assert outcome[1] is True  # not the parent's executor
    assert child.exitcode == 0


# ---------------------------------------------------------------- through the request pipeline


def _app():
    from tornadopy.application import Application
    from tornadopy.exception import ServiceUnavailable
    from tornadopy.handler import WebHandler

    class Unavailable(ServiceUnavailable):
        pass

    class SlowHandler(WebHandler):
        async def get(self):
            self.finish(await self.blocking_lookup(self.get_argument("q")))

        @async_execute
        def blocking_lookup(self, q):
            time.sleep(0.4)
            return f"found {q} via {type(self).__name__}"

    class BrokenHandler(WebHandler):
        async def get(self):
            try:
                await self.blocking_fail()
            except Unavailable as exc:  # raised in a pool thread, caught in the coroutine
                self.set_status(503)
                self.finish(f"caught {type(exc).__name__}: {exc}")

        @async_execute
        def blocking_fail(self):
            raise Unavailable("backing service down")

    return Application(urls=[(r"/slow", SlowHandler), (r"/broken", BrokenHandler)])


async def test_handler_methods_run_in_the_pool_without_blocking_other_requests():
    from tornadopy.testing import serve

    with override_settings(THREADS_NUM=4, MIDDLEWARE_CLASSES=()):
        async with serve(_app()) as client:
            start = time.monotonic()
            first, second = await asyncio.gather(client.get("/slow?q=a"), client.get("/slow?q=b"))
            elapsed = time.monotonic() - start
    assert (first.code, second.code) == (200, 200)
    assert first.body == b"found a via SlowHandler"
    assert second.body == b"found b via SlowHandler"
    assert elapsed < 0.75


async def test_exception_in_the_pool_reaches_the_handler_coroutine():
    from tornadopy.testing import serve

    with override_settings(MIDDLEWARE_CLASSES=()):
        async with serve(_app()) as client:
            resp = await client.get("/broken")
    assert resp.code == 503
    assert resp.body == b"caught Unavailable: backing service down"
