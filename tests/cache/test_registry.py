"""caches / cache / close_all: one instance per alias and event loop, errors that name the
setting, the exception hierarchy."""

from __future__ import annotations

import asyncio

import pytest

from tornadopy.cache import (
    CacheError,
    InvalidCacheBackendError,
    InvalidCacheKey,
    cache,
    caches,
    close_all,
)
from tornadopy.cache.backends.localcache import LocMemCache
from tornadopy.conf import override_settings
from tornadopy.exception import ImproperlyConfigured, ServiceUnavailable

LOCMEM = {"BACKEND": "tornadopy.cache.backends.localcache.LocMemCache", "LOCATION": "registry"}


async def test_default_settings_give_a_working_local_memory_cache():
    assert isinstance(caches["default"], LocMemCache)
    await cache.set("k", "v")
    assert await cache.get("k") == "v"
    await cache.delete("k")


@override_settings(CACHES={"other": LOCMEM})
async def test_one_instance_per_alias_within_a_loop():
    assert caches["other"] is caches["other"]
    assert caches["other"] is not caches["default"]
    assert "other" in caches and "nope" not in caches


@override_settings(CACHES={"other": LOCMEM})
async def test_each_event_loop_gets_its_own_instance():
    mine = caches["other"]

    def in_other_loop():
        async def grab():
            instance = caches["other"]
            assert caches["other"] is instance
            await close_all()
            return instance

        return asyncio.run(grab())

    theirs = await asyncio.to_thread(in_other_loop)
    assert theirs is not mine
    assert theirs.closed and not mine.closed
    assert caches["other"] is mine  # closing the other loop's caches left ours alone


async def test_unknown_alias_is_invalid_cache_backend_error():
    with pytest.raises(InvalidCacheBackendError, match="'missing' is not defined in CACHES"):
        caches["missing"]
    assert issubclass(InvalidCacheBackendError, ImproperlyConfigured)


@override_settings(CACHES={"bad": {"BACKEND": "tornadopy.cache.backends.nothere.Cache"}})
async def test_bad_backend_path_names_the_setting():
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['bad'\]\['BACKEND'\]"):
        caches["bad"]


@override_settings(CACHES={"bad": {"LOCATION": "x"}})
async def test_entry_without_backend_is_refused():
    with pytest.raises(InvalidCacheBackendError, match="BACKEND"):
        caches["bad"]


@override_settings(CACHES={"bad": {**LOCMEM, "TIMEOUT": "300"}})
async def test_bad_timeout_names_the_setting():
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['bad'\]\['TIMEOUT'\]"):
        caches["bad"]


def test_outside_an_event_loop_caches_explains_itself():
    with pytest.raises(RuntimeError, match="running event loop"):
        caches["default"]
    standalone = caches.create_connection("default")
    assert isinstance(standalone, LocMemCache)


@override_settings(CACHES={"other": LOCMEM})
async def test_close_all_closes_this_loops_instances_and_next_access_builds_new_ones():
    first_default, first_other = caches["default"], caches["other"]
    await close_all()
    assert first_default.closed and first_other.closed
    with pytest.raises(CacheError, match="closed"):
        await first_other.get("k")
    assert caches["other"] is not first_other
    assert not caches["other"].closed


async def test_all_lists_one_instance_per_alias():
    instances = caches.all()
    assert instances == [caches["default"]]
    assert caches.all(initialized_only=True) == [caches["default"]]


async def test_cache_proxy_follows_the_default_alias():
    await cache.set("p", 1)
    assert await caches["default"].get("p") == 1
    assert cache.alias == "default"
    with pytest.raises(TypeError, match="has_key"):
        "p" in cache  # noqa: B015


def test_exception_hierarchy():
    err = CacheError("sessions", "Redis is unreachable")
    assert isinstance(err, ServiceUnavailable)
    assert err.http_status == 503
    assert err.alias == "sessions"
    assert "'sessions'" in str(err)
    assert issubclass(InvalidCacheKey, ValueError)


async def test_check_builds_every_alias_and_reports_unreachable_ones():
    from support.servers import free_port

    dead = {
        "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
        "LOCATION": f"127.0.0.1:{free_port()}",
    }
    with override_settings(CACHES={"other": LOCMEM, "dead": dead}):
        assert await caches.check() == {}
        problems = await caches.check(ping=True)
    assert list(problems) == ["dead"]
    assert "unreachable" in problems["dead"]


@override_settings(CACHES={"bad": {"BACKEND": "nowhere.Cache"}})
async def test_check_refuses_a_bad_entry_naming_the_setting():
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['bad'\]\['BACKEND'\]"):
        await caches.check()


async def test_backend_hook_chooses_the_class_instantiated():
    class Tagged(LocMemCache):
        pass

    seen = []

    def hook(backend, alias):
        seen.append((backend, alias))
        return Tagged

    caches.backend_hook = hook
    try:
        with override_settings(CACHES={"other": LOCMEM}):
            assert type(caches["other"]) is Tagged
    finally:
        caches.backend_hook = None
    assert seen == [(LocMemCache, "other")]
