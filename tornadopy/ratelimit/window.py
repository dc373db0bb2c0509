"""``SlidingWindow``: an exact sliding-window limiter in Redis (a sorted set and a Lua script).

Each budget is one sorted set: a member per admitted request, scored with the Redis server's
clock in milliseconds. One script call, atomic on the server, drops the members older than the
window, counts the rest and admits the request (adds a member) only while the count is below the
limit; a refused request adds nothing, so hammering does not extend a lock-out. The set expires
one window after its last admitted request. Every process and host sharing the Redis server
shares the budget, and the server's clock is the only clock (no skew between hosts).

Memory: up to ``limit`` members per key (about 60-80 bytes each), so ``'100000/day'`` per client
is better written as a smaller window (``'70/minute'``).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from dataclasses import dataclass

from redis.exceptions import NoScriptError

from tornadopy.ratelimit.rate import Rate

__all__ = ["SCRIPT", "Decision", "SlidingWindow"]

#: KEYS[1] the budget; ARGV: window (ms), limit, a member unique to this call.
#: Returns {admitted (0/1), remaining, ms until a slot frees (0 when admitted)}.
SCRIPT = b"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, limit - count - 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then wait = 1 end
return {0, 0, wait}
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT).hexdigest()

_counter = itertools.count()


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one request: admitted or not, what is left, when to retry."""

    allowed: bool
    remaining: int
    retry_after_ms: int

    @property
    def retry_after(self) -> int:
        """Whole seconds to wait (``Retry-After``), at least 1 when refused."""
        if self.allowed:
            return 0
        return max(1, math.ceil(self.retry_after_ms / 1000))


class SlidingWindow:
    """Admit at most ``rate.limit`` requests per key in any ``rate.seconds``-long window."""

    __slots__ = ("limit", "rate", "window_ms")

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self.limit = rate.limit
        self.window_ms = rate.window_ms

    async def hit(self, client: object, key: str) -> Decision:
        """Count one request against ``key`` on ``client`` (a ``redis.asyncio.Redis``).

        Redis errors propagate (the caller decides between failing open and closed).
        """
        member = f"{os.getpid()}:{next(_counter)}:{os.urandom(4).hex()}"
        args = (self.window_ms, self.limit, member)
        try:
            reply = await client.evalsha(SCRIPT_SHA, 1, key, *args)  # type: ignore[attr-defined]
        except NoScriptError:  # first use on this server (or after SCRIPT FLUSH / a restart)
            reply = await client.eval(SCRIPT, 1, key, *args)  # type: ignore[attr-defined]
        allowed, remaining, wait = (int(x) for x in reply)
        return Decision(bool(allowed), remaining, wait)
