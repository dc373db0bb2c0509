"""``cache_page``: cache a GET handler's whole response (status, headers, body) by full URL.

::

    class ProductHandler(WebHandler):
        @cache_page(60)                     # seconds; cache='default' names the CACHES alias
        async def get(self, slug):
            ...
        head = get                          # HEAD is answered from the same entry

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
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

from tornadopy.cache.exceptions import CacheError
from tornadopy.cache.registry import caches
from tornadopy.conf import settings

__all__ = ["cache_page"]

log = logging.getLogger("tornadopy.cache")

_NOT_STORED = frozenset({"date", "etag", "content-length", "set-cookie", "transfer-encoding"})
_background: set[asyncio.Task[Any]] = set()


def _session_cookie(handler: Any) -> str | None:
    try:
        name = settings.SESSION["session_name"]
    except Exception:
        return None
    morsel = handler.request.cookies.get(name)
    return morsel.value if morsel is not None else None


def _snapshot(handler: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
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


def _replay(handler: Any, entry: tuple[int, list[tuple[str, str]], bytes]) -> None:
    status, headers, body = entry
    handler.set_status(status)
    seen: set[str] = set()
    for name, value in headers:
        if name in seen:
            handler.add_header(name, value)
        else:
            handler.set_header(name, value)
            seen.add(name)
    handler.write(body)


async def _store(alias: str, key: str, entry: Any, timeout: Any) -> None:
    try:
        await caches[alias].set(key, entry, timeout=timeout)
    except CacheError as exc:
        log.warning("cache_page: not stored (%s)", exc)


def cache_page(
    timeout: Any, cache: str = "default", *, key_prefix: str = "", vary_on_session: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a ``get`` method so its complete 200 response is served from ``caches[cache]``
    for ``timeout`` seconds (``None`` = until evicted); see the module docstring."""

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
            key = f"cache_page:{key_prefix}:{digest.hexdigest()}"
            try:
                entry = await caches[cache].get(key)
            except CacheError as exc:
                log.warning("cache_page: %s -- serving uncached", exc)
                return await _call(method, self, args, kwargs)
            if entry is not None:
                _replay(self, entry)
                return None
            return await _run_and_store(method, self, args, kwargs, cache, key, timeout)

        return wrapper

    return decorator


async def _call(method: Callable[..., Any], handler: Any, args: Any, kwargs: Any) -> Any:
    result = method(handler, *args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _run_and_store(
    method: Callable[..., Any],
    handler: Any,
    args: Any,
    kwargs: Any,
    alias: str,
    key: str,
    timeout: Any,
) -> Any:
    """Run the handler; store its response whether it finishes itself or returns unfinished."""
    state: dict[str, Any] = {"running": True, "streamed": False}
    original_flush = handler.flush

    def flush(include_footers: bool = False) -> Any:
        if not include_footers:
            state["streamed"] = True  # a partial flush: the response is not cacheable
        elif not state["streamed"]:
            entry = _snapshot(handler)
            if entry is not None:
                if state["running"]:
                    state["entry"] = entry
                else:
                    task = asyncio.ensure_future(_store(alias, key, entry, timeout))
                    _background.add(task)
                    task.add_done_callback(_background.discard)
        del handler.flush  # back to the class method
        return original_flush(include_footers)

    handler.flush = flush
    try:
        result = await _call(method, handler, args, kwargs)
    finally:
        state["running"] = False
    entry = state.pop("entry", None)
    if entry is None and "flush" in vars(handler) and not handler._finished:
        entry = _snapshot(handler)  # returned unfinished: Tornado finishes it after us
        del handler.flush
    if entry is not None:
        await _store(alias, key, entry, timeout)
    return result
