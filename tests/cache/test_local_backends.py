"""What only the local backends do: LocMemCache's LRU culling and shared LOCATION,
FileBasedCache's culling and its promise to keep file I/O off the event loop, DummyCache."""

from __future__ import annotations

import asyncio
import builtins
import os
import threading

import pytest

from tornadopy.cache import InvalidCacheKey
from tornadopy.cache.backends import filebased
from tornadopy.cache.backends.dummy import DummyCache
from tornadopy.cache.backends.filebased import FileBasedCache
from tornadopy.cache.backends.localcache import LocMemCache
from tornadopy.exception import ImproperlyConfigured


def locmem(name, **options):
    return LocMemCache(name, {"OPTIONS": options}, alias="lm")


async def test_locmem_culls_least_recently_used():
    c = locmem("lru", MAX_ENTRIES=9, CULL_FREQUENCY=3)
    for i in range(9):
        await c.set(i, i)
    for i in range(6):
        assert await c.get(i) == i  # 0..5 are now the most recently used
    await c.set(9, 9)  # full: the 9 // 3 = 3 least recently used go
    assert await c.get_many(range(10)) == {i: i for i in (0, 1, 2, 3, 4, 5, 9)}
    await c.clear()


async def test_locmem_cull_frequency_zero_empties_the_cache():
    c = locmem("cull0", MAX_ENTRIES=5, CULL_FREQUENCY=0)
    await c.set_many({i: i for i in range(5)})
    await c.set("new", 1)
    assert await c.get_many([*range(5), "new"]) == {"new": 1}
    await c.clear()


async def test_locmem_instances_share_their_location_only():
    a, b, other = locmem("shared"), locmem("shared"), locmem("elsewhere")
    await a.set("k", "v")
    assert await b.get("k") == "v"
    assert await other.get("k") is None
    await a.clear()


async def test_locmem_default_options_from_global_settings():
    from tornadopy.cache import caches

    c = caches["default"]
    assert c._max_entries == 10000 and c._cull_frequency == 3


async def test_filebased_needs_a_location():
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['fb'\]\['LOCATION'\]"):
        FileBasedCache("", {}, alias="fb")


async def test_filebased_creates_its_directory_on_first_write(tmp_path):
    target = tmp_path / "a" / "b"
    c = FileBasedCache(str(target), {}, alias="fb")
    assert not target.exists()  # nothing touched the disk at construction
    await c.set("k", "v")
    assert await c.get("k") == "v"
    assert len(os.listdir(target)) == 1


async def test_filebased_culls_when_full(tmp_path):
    c = FileBasedCache(
        str(tmp_path), {"OPTIONS": {"MAX_ENTRIES": 10, "CULL_FREQUENCY": 2}}, alias="fb"
    )
    for i in range(10):
        await c.set(i, i)
    await c.set("one-more", 1)
    assert len(os.listdir(tmp_path)) == 10 - 5 + 1


async def test_filebased_never_does_file_io_on_the_event_loop(tmp_path, monkeypatch):
    loop_thread = threading.current_thread()
    on_loop = []
    real_open, real_replace, real_remove = builtins.open, os.replace, os.remove

    def watch(func):
        def wrapper(*args, **kwargs):
            if threading.current_thread() is loop_thread:
                on_loop.append((func.__name__, args[:1]))
            return func(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(filebased, "open", watch(real_open), raising=False)
    monkeypatch.setattr(os, "replace", watch(real_replace))
    monkeypatch.setattr(os, "remove", watch(real_remove))
    c = FileBasedCache(str(tmp_path / "fc"), {"OPTIONS": {"MAX_ENTRIES": 5}}, alias="fb")
    await c.set("k", 1)
    await c.add("a", 1)
    await c.get("k")
    await c.get_many(["k", "a"])
    await c.set_many({i: i for i in range(8)})  # culls
    await c.set("k", 1)
    await c.incr("k")
    await c.touch("k", 10)
    await c.has_key("k")
    await c.delete("k")
    await c.delete_many(["a"])
    await c.clear()
    assert on_loop == []


async def test_filebased_stays_responsive_while_writing(tmp_path):
    """The loop keeps ticking while 200 writes run (they are in the executor)."""
    c = FileBasedCache(str(tmp_path), {"OPTIONS": {"MAX_ENTRIES": 1000}}, alias="fb")
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.ensure_future(ticker())
    await asyncio.gather(*(c.set(i, "x" * 10_000) for i in range(200)))
    task.cancel()
    assert ticks > 50


async def test_filebased_directory_not_writable_is_a_cache_error(tmp_path):
    from tornadopy.cache import CacheError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    c = FileBasedCache(str(blocker / "sub"), {}, alias="fb")
    with pytest.raises(CacheError, match="'fb'"):
        await c.set("k", 1)


async def test_dummy_stores_nothing_but_validates_keys():
    c = DummyCache(None, {}, alias="dummy")
    await c.set("k", "v")
    assert await c.get("k") is None
    assert await c.get("k", "dflt") == "dflt"
    assert await c.add("k", "v") is True
    assert await c.has_key("k") is False
    assert await c.delete("k") is False
    assert await c.touch("k") is False
    assert await c.get_many(["k"]) == {}
    assert await c.set_many({"k": 1}) == []
    assert await c.get_or_set("k", lambda: "computed") == "computed"
    await c.delete_many(["k"])
    await c.clear()
    with pytest.raises(ValueError):
        await c.incr("k")
    for call in (c.get("é" * 200), c.set("a b", 1), c.get_many(["ok", "a\nb"])):
        with pytest.raises(InvalidCacheKey):
            await call
