"""``cache_page``: cache a GET handler's whole response (status, headers, body) by full URL.

::

    class ProductHandler(WebHandler):
        @cache_page(60, tags=lambda h: [f"product:{h.path_kwargs['slug']}"])
        async def get(self, slug):
            ...
        head = get                          # HEAD is answered from the same entry

    await invalidate_tags("product:blue-shoe")   # from tornadopy.cache.tags

How it behaves:

- The key is a SHA-256 of ``request.full_url()`` (scheme, host, path and query), under the
  namespace ``cache_page:<key_prefix>``; GET and HEAD share it.
- Only complete ``200`` responses are stored, and never one that sets a cookie, carries
  ``Cache-Control: private``/``no-store``, or was streamed with ``flush()``. ``Date``, ``Etag``
  and ``Content-Length`` are not stored (Tornado computes them again for each answer, so a
  conditional GET still gets its ``304``).
- A request carrying the session cookie (``settings.SESSION['session_name']``) is not served from
  nor written to the cache -- its page may be personal. ``vary_on_session=True`` caches such pages
  per session instead (the cookie's value becomes part of the key).
- A cache that is down does not break the page: the handler runs uncached and a warning is
  logged.
- Works with ``render()``/``finish()`` inside the method as well as with a plain ``write()``.

Stampede protection (see :mod:`tornadopy.cache.stampede` for the exact guarantee):

- An entry is **fresh** for ``timeout`` seconds, then **stale** for ``stale`` more seconds (its
  cache TTL is ``timeout + stale``). The first request finding it stale takes the recomputation
  lock and recomputes (its own client waits for the new page); requests arriving meanwhile get
  the stale copy at once (stale-while-revalidate) -- in another process after one ``add``
  finding the lock taken.
- Without a usable copy (cold, evicted, invalidated), one request per key recomputes: in the same
  process the others await its result; in other processes sharing the cache one request finds the
  lock key (``add``, TTL ``lock_timeout``) taken and polls the entry (every 10 ms growing to
  200 ms) while that process' other requests await it.
- Takeovers: a cancelled recomputation is taken over at once (its lock is released); a hung one
  after ``lock_timeout`` (in-process waiters stop trusting it; the lock expires); a dead process'
  lock after its TTL. A poller gives up coordinating after ``2 * lock_timeout`` and computes.
- A response that cannot be cached (a 404, a cookie, ...) or an exception in the handler
  releases the waiters, which then run the handler themselves.
- Cost: a hit is one ``get`` (no tags) or one ``get_many`` (tags); a recomputation adds an
  ``add``, a ``get`` under the lock, the ``set`` and the release (``get`` + ``delete``).

Tags (see :mod:`tornadopy.cache.tags`): ``tags`` is a string, a list of strings, or a callable
``tags(handler)`` returning them (may be a coroutine function). An entry records its tags'
versions; ``await invalidate_tags(*tags, cache=...)`` makes every entry carrying one of them a
miss. A stale copy whose tags were invalidated is never served. The entry and its tags' versions
are read with one ``get_many`` (a plain ``get`` when the page has no tags).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from tornadopy.cache.exceptions import CacheError
from tornadopy.cache.registry import caches
from tornadopy.cache.stampede import CacheLock, flights
from tornadopy.cache.tags import current_versions, invalidate_tags, tag_key
from tornadopy.conf import settings

__all__ = ["cache_page", "invalidate_tags"]

log = logging.getLogger("tornadopy.cache")

_NOT_STORED = frozenset({"date", "etag", "content-length", "set-cookie", "transfer-encoding"})

# an entry: (status, headers, body, fresh_until or None, ((tag_key, version), ...))
Entry = tuple[int, list[tuple[str, str]], bytes, float | None, tuple[tuple[str, int], ...]]
Snapshot = tuple[int, list[tuple[str, str]], bytes]
TagsArg = str | Iterable[str] | Callable[[Any], Any] | None

_FRESH, _STALE = 1, 2
_NO_VERSIONS: Mapping[str, Any] = MappingProxyType({})
_UNCACHEABLE = "uncacheable"  # flight outcome: waiters run the handler themselves
_ABANDONED = "abandoned"  # flight outcome: the computation was cancelled; a waiter takes over


def _session_cookie(handler: Any) -> str | None:
    try:
        name = settings.SESSION["session_name"]
    except Exception:
        return None
    morsel = handler.request.cookies.get(name)
    return morsel.value if morsel is not None else None


def _snapshot(handler: Any) -> Snapshot | None:
    """The response as it stands, if it may be cached."""
    if handler.get_status() != 200 or handler._headers_written:
        return None
    if getattr(handler, "_new_cookie", None):
        return None
    headers = handler._headers
    control = ",".join(headers.get_list("Cache-Control")).lower()
    if "private" in control or "no-store" in control:
        return None
    items = [(k, v) for k, v in headers.get_all() if k.lower() not in _NOT_STORED]
    return 200, items, b"".join(handler._write_buffer)


def _replay(handler: Any, entry: Entry) -> None:
    status, headers, body = entry[0], entry[1], entry[2]
    handler.set_status(status)
    seen: set[str] = set()
    for name, value in headers:
        if name in seen:
            handler.add_header(name, value)
        else:
            handler.set_header(name, value)
            seen.add(name)
    handler.write(body)


def _state(entry: Any, tag_keys: tuple[str, ...], versions: Mapping[str, Any], now: float) -> int:
    """``_FRESH``, ``_STALE``, or 0 when ``entry`` is absent, malformed or was invalidated."""
    if entry is None:
        return 0
    try:
        _, _, _, fresh_until, pairs = entry
    except (TypeError, ValueError):
        return 0
    if pairs or tag_keys:
        if len(pairs) != len(tag_keys):
            return 0
        for (key, version), expected in zip(pairs, tag_keys):  # noqa: B905 (lengths checked)
            if key != expected or versions.get(key) != version:
                return 0
    return _FRESH if fresh_until is None or now < fresh_until else _STALE


async def _lookup(
    backend: Any, key: str, tag_keys: tuple[str, ...]
) -> tuple[Any, Mapping[str, Any]]:
    """The entry at ``key`` and the current versions of ``tag_keys``, in one round trip."""
    if not tag_keys:
        return await backend.get(key), {}
    found = await backend.get_many((key, *tag_keys))
    return found.pop(key, None), found


async def _store(backend: Any, key: str, entry: Entry, timeout: float | None) -> None:
    try:
        await backend.set(key, entry, timeout=timeout)
    except CacheError as exc:
        log.warning("cache_page: not stored (%s)", exc)


async def _call(method: Callable[..., Any], handler: Any, args: Any, kwargs: Any) -> Any:
    result = method(handler, *args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _run_capturing(handler: Any, call: Callable[[], Awaitable[Any]]) -> tuple[Any, Any]:
    """Run the handler; return its result and the snapshot of its response if cacheable, whether
    it finished the response itself (``finish``/``render``) or returned it unfinished."""
    state: dict[str, Any] = {"streamed": False}
    original_flush = handler.flush

    def flush(include_footers: bool = False) -> Any:
        if not include_footers:
            state["streamed"] = True  # a partial flush: the response is not cacheable
        elif not state["streamed"]:
            state["entry"] = _snapshot(handler)
        del handler.flush  # back to the class method
        return original_flush(include_footers)

    handler.flush = flush
    try:
        result = await call()
    except BaseException:
        if "flush" in vars(handler):
            del handler.flush
        raise
    entry = state.pop("entry", None)
    if "flush" in vars(handler):
        del handler.flush
        if entry is None and not handler._finished:
            entry = _snapshot(handler)  # returned unfinished: Tornado finishes it after us
    return result, entry


class _PageCache:
    """The configuration of one ``cache_page`` use and the request flow around it."""

    def __init__(
        self,
        timeout: Any,
        alias: str,
        key_prefix: str,
        tags: TagsArg,
        stale: float,
        lock_timeout: float,
    ) -> None:
        if stale < 0:
            raise ValueError(f"cache_page(stale=...) must be >= 0 seconds, got {stale!r}")
        if lock_timeout <= 0:
            raise ValueError(f"cache_page(lock_timeout=...) must be > 0, got {lock_timeout!r}")
        self.timeout = timeout
        self.alias = alias
        self.key_prefix = key_prefix
        self.stale = stale
        self.lock_timeout = lock_timeout
        self.tag_source: Callable[[Any], Any] | None = None
        self.static_tags: tuple[str, ...] = ()
        if callable(tags):
            self.tag_source = tags
        elif tags is not None:
            self.static_tags = _tag_keys(tags)

    async def miss(
        self,
        handler: Any,
        call: Callable[[], Awaitable[Any]],
        backend: Any,
        digest: str,
        tag_keys: tuple[str, ...],
        entry: Any,
        versions: Mapping[str, Any],
    ) -> Any:
        """No fresh entry: recompute (once), or serve the stale copy, or wait for it."""
        seconds = backend.timeout_seconds(self.timeout)
        if seconds is not None and seconds <= 0:
            return await call()
        key = f"cache_page:{self.key_prefix}:{digest}"
        stale = entry if _state(entry, tag_keys, versions, time.time()) == _STALE else None
        request = _Recompute(self, handler, call, backend, key, digest, tag_keys, seconds)
        return await request.run(versions, stale)


class _Recompute:
    """One request that found no fresh entry: wait for, or become, the one recomputing it."""

    def __init__(
        self,
        page: _PageCache,
        handler: Any,
        call: Callable[[], Awaitable[Any]],
        backend: Any,
        key: str,
        digest: str,
        tag_keys: tuple[str, ...],
        seconds: float | None,
    ) -> None:
        self.page = page
        self.handler = handler
        self.call = call
        self.backend = backend
        self.key = key
        self.digest = digest
        self.tag_keys = tag_keys
        self.seconds = seconds
        self.hard_timeout = None if seconds is None else seconds + page.stale

    async def run(self, versions: Mapping[str, Any], stale: Entry | None) -> Any:
        table = flights(self.handler.application)
        fkey = f"{self.page.alias}\0{self.key}"
        for _ in range(3):  # take over a cancelled or hung computation twice, then run our own
            flight = table.get(fkey)
            if flight is None:
                break
            if stale is not None:
                _replay(self.handler, stale)
                return None
            try:
                shared = await asyncio.wait_for(asyncio.shield(flight), self.page.lock_timeout)
            except TimeoutError:
                # trusted for lock_timeout, like the lock: the first waiter to wake replaces it
                if table.get(fkey) is flight:
                    del table[fkey]
                continue
            if isinstance(shared, tuple):
                _replay(self.handler, shared)
                return None
            if shared == _UNCACHEABLE:
                return await self.call()
        else:
            return await self.call()
        flight = asyncio.get_running_loop().create_future()
        table[fkey] = flight
        outcome: Any = _ABANDONED
        try:
            outcome, result = await self.lead(flight, versions, stale)
            return result
        except Exception:
            outcome = _UNCACHEABLE
            raise
        finally:
            if table.get(fkey) is flight:
                del table[fkey]
            if not flight.done():
                flight.set_result(outcome)

    async def lead(
        self, flight: asyncio.Future[Any], versions: Mapping[str, Any], stale: Entry | None
    ) -> tuple[Any, Any]:
        """This process' recomputation: take the cross-process lock, or serve the stale copy,
        or wait for the holder's entry."""
        lock = CacheLock(
            self.backend,
            f"cache_page.lock:{self.page.key_prefix}:{self.digest}",
            self.page.lock_timeout,
        )
        try:
            try:
                if not await lock.acquire():
                    if stale is not None:
                        return self.share(flight, stale)
                    entry, versions = await self.wait_for_holder(lock)
                    if entry is not None:
                        return self.share(flight, entry)
                if lock.held:
                    # checked again under the lock: the previous holder may have just stored it
                    entry, versions = await _lookup(self.backend, self.key, self.tag_keys)
                    if _state(entry, self.tag_keys, versions, time.time()) == _FRESH:
                        return self.share(flight, entry)
            except CacheError as exc:
                log.warning("cache_page: %s -- serving uncached", exc)
                return _UNCACHEABLE, await self.call()
            return await self.compute(versions, flight)
        finally:
            await lock.release()

    def share(self, flight: asyncio.Future[Any], entry: Entry) -> tuple[Any, None]:
        """Answer with ``entry`` and hand it to this process' waiters."""
        flight.set_result(entry)
        _replay(self.handler, entry)
        return entry, None

    async def wait_for_holder(self, lock: CacheLock) -> tuple[Any, Mapping[str, Any]]:
        """Poll until the lock holder's entry is stored (-> it), or we hold the lock, or we waited
        ``2 * lock_timeout`` (-> ``None``, compute)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2 * self.page.lock_timeout
        delay = 0.01
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.2)
            entry, versions = await _lookup(self.backend, self.key, self.tag_keys)
            if _state(entry, self.tag_keys, versions, time.time()):
                return entry, versions
            if await lock.acquire() or loop.time() >= deadline:
                return None, versions

    async def compute(
        self, versions: Mapping[str, Any], flight: asyncio.Future[Any] | None
    ) -> tuple[Any, Any]:
        """Run the handler; store (and hand to the waiters) its response if cacheable."""
        try:
            pairs = await current_versions(self.backend, self.tag_keys, versions, self.hard_timeout)
        except CacheError as exc:
            log.warning("cache_page: %s -- serving uncached", exc)
            return _UNCACHEABLE, await self.call()
        result, snapshot = await _run_capturing(self.handler, self.call)
        if snapshot is None:
            return _UNCACHEABLE, result
        fresh_until = None if self.seconds is None else time.time() + self.seconds
        entry: Entry = (*snapshot, fresh_until, pairs)
        if flight is not None and not flight.done():
            flight.set_result(entry)
        await _store(self.backend, self.key, entry, self.hard_timeout)
        return entry, result


def _tag_keys(names: Any) -> tuple[str, ...]:
    if isinstance(names, str):
        return (tag_key(names),)
    return tuple(sorted({tag_key(n) for n in names}))


def cache_page(
    timeout: Any,
    cache: str = "default",
    *,
    key_prefix: str = "",
    vary_on_session: bool = False,
    tags: TagsArg = None,
    stale: float = 30.0,
    lock_timeout: float = 5.0,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a ``get`` method so its complete 200 response is served from ``caches[cache]``.

    ``timeout``: seconds the entry is fresh (``None`` = until evicted, ``DEFAULT_TIMEOUT`` = the
    alias' ``TIMEOUT``, ``<= 0`` = no caching); ``stale``: seconds an expired entry may still be
    served while one request recomputes it (0 = never); ``lock_timeout``: how long one
    recomputation is trusted before another request may start (memcached rounds it up to whole
    seconds); ``tags``: strings, or ``tags(handler)`` returning them, for
    :func:`~tornadopy.cache.tags.invalidate_tags`. See the module docstring."""
    page = _PageCache(timeout, cache, key_prefix, tags, stale, lock_timeout)

    def decorator(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            request = self.request
            session = _session_cookie(self)
            if request.method not in ("GET", "HEAD") or (session and not vary_on_session):
                return await _call(method, self, args, kwargs)
            digest = hashlib.sha256(request.full_url().encode("utf-8", "surrogateescape"))
            if session:
                digest.update(b"\0" + session.encode("utf-8", "surrogateescape"))
            hexdigest = digest.hexdigest()
            key = f"cache_page:{key_prefix}:{hexdigest}"
            backend = caches[cache]
            if page.tag_source is None:
                tag_keys = page.static_tags
            else:
                names = page.tag_source(self)
                if not isinstance(names, list | tuple | set | str) and inspect.isawaitable(names):
                    names = await names
                tag_keys = _tag_keys(names)
            try:
                if tag_keys:  # the entry and its tags' versions in one round trip
                    versions = await backend.get_many((key, *tag_keys))
                    entry = versions.pop(key, None)
                else:
                    entry, versions = await backend.get(key), _NO_VERSIONS
            except CacheError as exc:
                log.warning("cache_page: %s -- serving uncached", exc)
                return await _call(method, self, args, kwargs)
            if entry is not None and _state(entry, tag_keys, versions, time.time()) == _FRESH:
                _replay(self, entry)
                return None
            call = functools.partial(_call, method, self, args, kwargs)
            return await page.miss(self, call, backend, hexdigest, tag_keys, entry, versions)

        return wrapper

    return decorator
