"""Run blocking functions in one shared thread pool and await them.

::

    from tornadopy.decorators.async_execute import async_execute

    class ReportHandler(WebHandler):
        async def get(self):
            self.finish(await self.build_report(42))

        @async_execute
        def build_report(self, year):  # blocking: a slow library, a sync driver, files...
            ...

Calling the decorated function returns a coroutine; awaiting it runs the function in a thread of
the pool and gives back its result or raises its exception. The caller's context variables are
copied into the call (as :func:`asyncio.to_thread` does), so values set before the call are
visible in the function, and changes made there stay there.

The pool is one :class:`concurrent.futures.ThreadPoolExecutor` per process, with
``settings.THREADS_NUM`` threads (default: the CPU count). It is created on first use -- so a
``THREADS_NUM`` change applies to the next pool, after :func:`shutdown_executor` -- and a process
forked from one that had a pool builds its own (threads do not survive ``fork``). The
application's shutdown should close it (``await ashutdown_executor()``).

Cancelling the awaiting coroutine does not stop a function already running in a thread: Python
threads cannot be interrupted. Keep what you hand to the pool bounded in time.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from tornadopy.conf import settings
from tornadopy.exception import ImproperlyConfigured

__all__ = ["ashutdown_executor", "async_execute", "get_executor", "shutdown_executor"]

P = ParamSpec("P")
R = TypeVar("R")


class _Pool:
    """The process's executor, with the pid it was made in."""

    lock = threading.Lock()
    executor: ThreadPoolExecutor | None = None
    pid: int | None = None


def _forget_after_fork() -> None:
    # The parent's worker threads do not exist in the child; its executor would take work
    # and never run it. Drop it (and a lock that may have been held at fork time).
    _Pool.lock = threading.Lock()
    _Pool.executor = None
    _Pool.pid = None


os.register_at_fork(after_in_child=_forget_after_fork)


def get_executor() -> ThreadPoolExecutor:
    """The shared pool, created now with ``settings.THREADS_NUM`` threads if it does not exist."""
    executor = _Pool.executor
    if executor is not None and _Pool.pid == os.getpid():
        return executor
    with _Pool.lock:
        if _Pool.executor is None or _Pool.pid != os.getpid():
            workers = settings.THREADS_NUM or os.cpu_count() or 4
            if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
                raise ImproperlyConfigured(
                    f"THREADS_NUM must be a positive whole number (threads of the pool used by "
                    f"async_execute), got {settings.THREADS_NUM!r}"
                )
            _Pool.executor = ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="tornadopy-async"
            )
            _Pool.pid = os.getpid()
        return _Pool.executor


def shutdown_executor(wait: bool = True, cancel_futures: bool = False) -> None:
    """Close the shared pool (a later call to a decorated function makes a new one).

    ``wait=True`` blocks until running calls finish; from a coroutine prefer
    :func:`ashutdown_executor`, which does not block the event loop.
    """
    with _Pool.lock:
        executor, _Pool.executor, _Pool.pid = _Pool.executor, None, None
    if executor is not None:
        executor.shutdown(wait=wait, cancel_futures=cancel_futures)


async def ashutdown_executor(cancel_futures: bool = False) -> None:
    """Close the shared pool, waiting for running calls without blocking the event loop."""
    with _Pool.lock:
        executor, _Pool.executor, _Pool.pid = _Pool.executor, None, None
    if executor is not None:
        await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=cancel_futures)


def async_execute(func: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Make blocking ``func`` (a function or method) awaitable through the shared thread pool."""
    if inspect.iscoroutinefunction(func):
        raise TypeError(
            f"async_execute runs blocking functions in threads; {func.__qualname__} is already "
            "a coroutine function -- await it directly"
        )

    @functools.wraps(func)
    async def run_in_pool(*args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        return await loop.run_in_executor(get_executor(), call)

    return run_in_pool
