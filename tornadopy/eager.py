"""Run a coroutine eagerly: synchronously up to its first real suspension.

``finish()``, ``render()`` and friends must work whether or not their caller awaits them, and the
middleware hooks they run must not cost a Task per request. :func:`run_eagerly` steps the
coroutine at once; when it completes without suspending (no-op hooks, in-memory work) the result
is returned in an already-done future and no Task is created. Only when it really waits (a hook
doing I/O) does a Task take over the *same* coroutine from the point where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


class _Resume:
    """Awaitable that lets a Task drive a coroutine which was already started by hand."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, None, Any]:
        coro, pending = self._coro, self._pending
        self._pending = None
        while True:
            try:
                yield pending  # the future the coroutine is blocked on (flag already set)
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # thrown in by the Task (e.g. cancellation)
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                pending = coro.send(None)
            except StopIteration as stop:
                return stop.value


# One done future holding None per event loop: what most eager runs return. Awaiting a done
# future never yields, so sharing it is safe; it is never cancelled or given a result again
# (cancel() on a done future does nothing), and add_done_callback just schedules the callback.
_done_none: tuple[asyncio.AbstractEventLoop | None, asyncio.Future[Any] | None] = (None, None)


def done_future() -> asyncio.Future[Any]:
    """An already-done future with result None, bound to the running loop (shared)."""
    global _done_none
    loop = asyncio.get_running_loop()
    cached_loop, fut = _done_none
    if cached_loop is not loop or fut is None:
        fut = loop.create_future()
        fut.set_result(None)
        _done_none = (loop, fut)
    return fut


def run_eagerly(coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
    """Start ``coro`` now; return a future of its result (done already if it never suspended)."""
    try:
        pending = coro.send(None)
    except StopIteration as stop:
        if stop.value is None:
            return done_future()
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        fut.set_result(stop.value)
        return fut
    except BaseException as exc:
        fut = asyncio.get_running_loop().create_future()
        fut.set_exception(exc)
        return fut
    return asyncio.ensure_future(_Resume(coro, pending))
