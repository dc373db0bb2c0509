"""The Gate in front of the Redis pool: bounded holders, bounded wait, first come first served."""

from __future__ import annotations

import asyncio

import pytest

from tornadopy.cache.backends.gate import Gate, GateTimeout


async def test_at_most_size_holders_and_fifo_turns():
    gate = Gate(2, timeout=5)
    inside = 0
    peak = 0
    order: list[int] = []

    async def user(i):
        nonlocal inside, peak
        async with gate:
            inside += 1
            peak = max(peak, inside)
            order.append(i)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(user(i) for i in range(10)))
    assert peak == 2
    assert order == list(range(10))
    assert gate.free == 2


async def test_waiting_is_bounded_and_the_gate_recovers():
    gate = Gate(1, timeout=0.1)
    async with gate:
        with pytest.raises(GateTimeout, match="0.1 s"):
            async with gate:
                pass
    assert gate.free == 1
    async with gate:
        pass


async def test_cancelled_waiter_does_not_lose_a_slot():
    gate = Gate(1, timeout=5)
    await gate.__aenter__()
    waiter = asyncio.ensure_future(gate.__aenter__())
    await asyncio.sleep(0)
    gate.release()  # hands the slot to the waiter ...
    waiter.cancel()  # ... which is cancelled before it runs: the slot must come back
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.free == 1
