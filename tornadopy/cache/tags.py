"""Tag-based invalidation of cached pages: ``await invalidate_tags('user:42')``.

A page cached with ``cache_page(60, tags=...)`` records, next to its response, the **version** of
each of its tags at the moment its recomputation started. ``invalidate_tags`` bumps those
versions (one atomic ``incr`` per tag), so every entry carrying one of the tags stops matching and
is recomputed on its next request; entries without those tags are untouched. Nothing is scanned
or deleted, so invalidating a tag costs the same whether it marks one page or a million.

Where versions live: in the same ``CACHES`` alias as the pages (``cache=`` of both calls must
agree), one key per tag, ``cache_page.tag:<tag>`` under the alias' ``KEY_PREFIX``/``VERSION``
(a tag that memcached could not carry in a key -- spaces, control characters, over 120 bytes --
is stored under a SHA-256 of it instead). A page request reads its entry and its tags' versions
in one ``get_many``.

Why it stays correct when versions are lost (evicted by memcached, culled by ``LocMemCache``,
expired): a missing version never matches, so the entries that carried it are recomputed, and a
new version is started at a random 48-bit number (with ``add``, so concurrent processes agree on
one), which no older entry can carry. And because an entry records the versions read *before*
its computation, an invalidation that lands while a page is being computed makes that very
entry stale as soon as it is stored: the old data is never served as fresh.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from tornadopy.cache.registry import caches

__all__ = ["TAG_NAMESPACE", "current_versions", "invalidate_tags", "tag_key"]

TAG_NAMESPACE = "cache_page.tag:"
# one day (or the entry's own lifetime when longer): a version key that expires only costs
# one recomputation of the pages carrying it
_MIN_VERSION_TIMEOUT = 86400.0
_PLAIN_TAG = re.compile(r"[!-~]{1,120}")  # printable ASCII without space: kept readable


@functools.lru_cache(maxsize=4096)
def tag_key(tag: str) -> str:
    """The cache key holding ``tag``'s version (before the alias' ``KEY_PREFIX``); memoized."""
    if not isinstance(tag, str):
        raise TypeError(f"cache tags must be str, got {type(tag).__name__}: {tag!r}")
    if _PLAIN_TAG.fullmatch(tag):
        return TAG_NAMESPACE + tag
    return TAG_NAMESPACE + "#" + hashlib.sha256(tag.encode("utf-8", "surrogatepass")).hexdigest()


def _version_timeout(entry_timeout: float | None) -> float | None:
    if entry_timeout is None:
        return None
    return max(entry_timeout, _MIN_VERSION_TIMEOUT)


async def current_versions(
    backend: Any,
    keys: Iterable[str],
    known: Mapping[str, Any],
    entry_timeout: float | None,
) -> tuple[tuple[str, int], ...]:
    """``((tag_key, version), ...)`` for ``keys``, in order: ``known`` (read with the page) where
    present; a missing version is started (``add`` of a random number) before the page is
    computed, and read back when another process started it first. Raises ``CacheError``."""
    keys = list(keys)
    versions = {k: known[k] for k in keys if k in known}
    missing = [k for k in keys if k not in versions]
    if missing:
        timeout = _version_timeout(entry_timeout)
        lost = []
        for key in missing:
            start = secrets.randbits(48)
            if await backend.add(key, start, timeout=timeout):
                versions[key] = start
            else:
                lost.append(key)
        if lost:
            versions.update(await backend.get_many(lost))
        # a version that vanished again in between stays unknown: the entry never matches
    return tuple((k, versions.get(k, -1)) for k in keys)


async def invalidate_tags(*tags: str, cache: str = "default") -> None:
    """Make every page cached in ``caches[cache]`` with any of ``tags`` a miss.

    One ``incr`` per tag (run concurrently); a tag no cached page carries costs that call and
    nothing else. Raises :class:`~tornadopy.cache.CacheError` when the cache cannot be reached --
    the pages were then *not* invalidated, so let it propagate (a 503) or retry.
    """
    if not tags:
        return
    backend = caches[cache]
    keys = list(dict.fromkeys(tag_key(t) for t in tags))
    if len(keys) == 1:
        await _bump(backend, keys[0])
    else:
        await asyncio.gather(*(_bump(backend, k) for k in keys))


async def _bump(backend: Any, key: str) -> None:
    try:
        await backend.incr(key)
    except ValueError:
        # no version: no entry can match this tag (a missing version never matches)
        pass
