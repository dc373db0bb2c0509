"""``Gate``: at most ``size`` calls in flight; the next ones wait up to ``timeout`` for a turn.

It plays the role of redis-py's ``BlockingConnectionPool`` (bounded connections, bounded wait,
then an error instead of a pile-up) at a fraction of its cost: entering a free gate is a counter
decrement, no lock, no timer. Waiters are served first come, first served; a turn given to a
waiter that has just given up is passed on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from types import TracebackType

__all__ = ["Gate", "GateTimeout"]


class GateTimeout(Exception):
    """No turn within the gate's timeout."""


class Gate:
    """An async context manager admitting ``size`` holders at a time."""

    __slots__ = ("_waiters", "free", "size", "timeout")

    def __init__(self, size: int, timeout: float | None) -> None:
        if size < 1:
            raise ValueError("a gate needs at least one slot")
        self.size = size
        self.free = size
        self.timeout = timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if self.free:
            self.free -= 1
            return
        await self._wait()

    async def __aexit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    async def _wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.timeout):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self.release()  # we were handed a turn but are leaving: pass it on
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise GateTimeout(
                    f"no free slot within {self.timeout} s ({self.size} busy)"
                ) from None
            raise

    def release(self) -> None:
        """Hand the slot to the first waiter still waiting, or free it."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1
