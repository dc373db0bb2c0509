"""Where the async part of a request phase runs.

Every per-request phase is sync-first (:func:`tornadopy.middleware.run_sync`): hooks that answer
at once -- every shipped middleware -- run in the caller's frame and cost no coroutine, no Task,
no future (:func:`done_future` is shared). From the first hook that returns an awaitable, the
rest of the phase runs in a Task of its own (:func:`start`), created *before* any of that
hook's code runs -- or, for the response and end phases after Tornado's auto-finish, in the
handler's own Task right after Tornado's ``_execute`` returns (``WebHandler._tp_execute``). So
all async hook code sees one current task for its whole life:
``asyncio.timeout()``, cancellation by a time budget, and anything keyed by
``asyncio.current_task()`` work as in any Task.

(Stepping the coroutine by hand up to its first suspension and handing it to a Task only then
saves the Task when nothing suspends, but code that captured the current task in that first
step -- ``asyncio.timeout()``, the Redis cache's deadline watchdog -- would later act on the
wrong task: a frozen cache server during a response hook's save then hung the request. Python
3.12's eager tasks avoid that by creating the Task first; 3.11 has no public way to.)
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

if sys.version_info >= (3, 12):
    current_task = asyncio.current_task  # implemented in C from 3.12 on
else:  # 3.11's asyncio.current_task is Python calling these two (1 µs a call)
    from asyncio.events import _get_running_loop
    from asyncio.tasks import _current_tasks  # type: ignore[attr-defined]

    def current_task() -> asyncio.Task[Any] | None:
        """``asyncio.current_task()`` of the running loop, without its Python overhead."""
        return _current_tasks.get(_get_running_loop())  # type: ignore[no-any-return]


# One done future holding None per event loop. Awaiting a done future never yields, so sharing
# it is safe; it is never cancelled or given a result again (cancel() on a done future does
# nothing), and add_done_callback just schedules the callback.
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


def start(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Run ``coro`` in a Task of its own, from its very first step."""
    return asyncio.get_running_loop().create_task(coro)
