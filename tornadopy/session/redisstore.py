"""One-round-trip session record operations on a ``RedisCache`` (see :mod:`.store`)."""

from __future__ import annotations

import hashlib
from typing import Any

from redis.exceptions import NoScriptError

from tornadopy.cache.backends.rediscache import _WAIT
from tornadopy.cache.backends.serializer import dumps, loads
from tornadopy.session.config import BROWSER_SESSION_TTL
from tornadopy.session.records import RECORD_PREFIX, REVOKED_PREFIX, REVOKED_TTL

__all__ = ["RedisRecords"]

# KEYS: record. ARGV: browser-session lifetime (s), the JSON text of the client's address or ''
# (no address check). Returns false (no record) or {record, 1 if its expiry was refreshed}.
_LOAD = """
local v = redis.call('GET', KEYS[1])
if not v then return false end
local s = string.find(v, '{"e":', 1, true)
if s and s <= 24 then
  local e, ip, k = string.match(v, '^{"e":(%d+),"ip":([^,]*),"(%a+)":', s)
  if e and k == 'd' and (ARGV[2] == '' or ip == ARGV[2]) then
    local ms = tonumber(e) * 1000
    if ms <= 0 then ms = tonumber(ARGV[1]) * 1000 end
    if ms < 1e14 then
      redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ms))
      return {v, 1}
    end
  end
end
return {v, 0}
"""

# KEYS: record, revocation marker. ARGV: value, lifetime in ms. Returns 1 if written, 0 if revoked.
_SAVE = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

_REVOKED_VALUE = dumps(1)


class _Script:
    __slots__ = ("sha", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode("utf-8")).hexdigest()


_LOAD_SCRIPT = _Script(_LOAD)
_SAVE_SCRIPT = _Script(_SAVE)


class RedisRecords:
    """Unbound session records on a ``RedisCache``: one round trip per operation (see above)."""

    __slots__ = ("cache", "guard")

    def __init__(self, cache: Any) -> None:
        self.cache = cache
        self.guard = cache.guard

    async def _eval(self, script: _Script, *args: Any) -> Any:
        client = self.cache._redis()
        try:
            return await client.evalsha(script.sha, *args)
        except NoScriptError:  # a restarted (or flushed) server: load it and go on
            await client.script_load(script.text)
            return await client.evalsha(script.sha, *args)

    async def load(self, rand: str, ip: str) -> tuple[Any, bool]:
        key = self.cache.make_and_validate_key(RECORD_PREFIX + rand)
        guard = self.guard
        task = guard.enter()
        if task is _WAIT:
            task = await guard.wait()
        try:
            reply = await self._eval(_LOAD_SCRIPT, 1, key, BROWSER_SESSION_TTL, ip)
        except BaseException as exc:
            guard.exit(task, exc)
            raise
        guard.exit(task, None)
        if reply is None:
            return None, False
        return loads(reply[0]), reply[1] == 1

    async def save(self, rand: str, record: str, ttl: int) -> bool:
        cache = self.cache
        key = cache.make_and_validate_key(RECORD_PREFIX + rand)
        marker = cache.make_and_validate_key(REVOKED_PREFIX + rand)
        data = dumps(record)
        guard = self.guard
        task = guard.enter()
        if task is _WAIT:
            task = await guard.wait()
        try:
            done = await self._eval(_SAVE_SCRIPT, 2, key, marker, data, ttl * 1000)
        except BaseException as exc:
            guard.exit(task, exc)
            raise
        guard.exit(task, None)
        return bool(done)

    async def revoke(self, rand: str) -> None:
        cache = self.cache
        key = cache.make_and_validate_key(RECORD_PREFIX + rand)
        marker = cache.make_and_validate_key(REVOKED_PREFIX + rand)
        async with self.guard, cache._redis().pipeline(transaction=False) as pipe:
            pipe.set(marker, _REVOKED_VALUE, px=REVOKED_TTL * 1000)
            pipe.delete(key)
            await pipe.execute()
