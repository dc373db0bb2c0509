"""The per-user index stays bounded as sessions expire, and backends that cannot index say so."""

from __future__ import annotations

import asyncio

import pytest

from session.control_app import (
    NAME,
    body,
    browser,
    control_settings,
    control_site,
    login,
    redis_index,
    redis_pttl,
)
from session.helpers import new_prefix, redis_keys
from tornadopy.cache import close_all
from tornadopy.conf import override_settings
from tornadopy.session import (
    SessionControlUnsupported,
    revoke_session,
    revoke_user_sessions,
    sessions_of,
)
from tornadopy.session import index as index_module
from tornadopy.session.index import PRUNE_ABOVE


async def _logins(client, user: str, count: int, **params) -> list[str]:
    """``count`` log-ins of ``user``, each from a fresh browser; their cookies."""
    cookies = []
    for _ in range(count):
        other = browser(client)
        try:
            cookies.append(await login(other, user, **params))
        finally:
            other.close()
    return cookies


async def test_redis_index_follows_its_longest_session_and_prunes_expired_members(redis_server):
    async with control_site("redis", expires=3600) as ([a], prefix):
        keeper = await login(a, "dave")  # an hour
        short = PRUNE_ABOVE + 4
        await _logins(a, "dave", short, expire=1)  # one second each
        members, pttl = await redis_index(prefix, "dave")
        assert len(members) == short + 1
        assert pttl > 3_590_000  # the index lives as long as its longest session
        assert await redis_pttl(prefix, keeper.split(".")[1]) <= pttl

        await asyncio.sleep(1.3)  # the short ones expire; the index still lists them...
        assert len((await redis_index(prefix, "dave"))[0]) == short + 1
        await _logins(a, "dave", 1)  # ...until the next log-in finds it over PRUNE_ABOVE
        members, _ = await redis_index(prefix, "dave")
        assert len(members) == 2

        await _logins(a, "dave", 2, expire=1)
        await asyncio.sleep(1.3)
        assert len((await redis_index(prefix, "dave"))[0]) == 4
        assert len(await sessions_of("dave")) == 2  # reading prunes as well
        assert len((await redis_index(prefix, "dave"))[0]) == 2


async def test_redis_index_expires_with_the_last_session(redis_server):
    async with control_site("redis", expires=1) as ([a], prefix):
        await _logins(a, "erin", 3)
        members, pttl = await redis_index(prefix, "erin")
        assert len(members) == 3 and 0 < pttl <= 1000
        await asyncio.sleep(1.3)
        assert await redis_index(prefix, "erin") == (set(), -2)
        assert await redis_keys(prefix) == []  # nothing of erin's is left behind


async def test_locmem_indexes_are_swept_as_sessions_expire(monkeypatch):
    monkeypatch.setattr(index_module, "SWEEP_EVERY", 0.0)
    async with control_site("locmem", expires=1) as ([a], prefix):
        await _logins(a, "frank", 5)
        area = index_module._areas[prefix]
        assert sum(len(m) for m in area.values()) == 5
        await asyncio.sleep(1.2)
        await _logins(a, "grace", 1)  # any log-in sweeps the memory area
        assert sum(len(m) for m in area.values()) == 1
        assert len(area) == 1


async def test_a_record_culled_from_local_memory_is_pruned_from_the_listing():
    prefix = new_prefix()
    async with control_site("locmem", prefix=prefix) as ([a], _):
        await _logins(a, "heidi", 2)
        from tornadopy.cache import caches

        await caches["sessions"].clear()  # what MAX_ENTRIES culling does to records
        assert await sessions_of("heidi") == []
        assert not index_module._areas[prefix]


# ---------------------------------------------------------------- backends that cannot index


async def test_memcached_refuses_set_user_clearly_and_stores_nothing(memcached_server):
    async with control_site("memcached") as ([a], _):
        resp = await a.get("/c/bind?user=ivan")
        assert resp.code == 501
        error = body(resp)
        assert error["backend"] == "MemcachedCache"
        assert "MemcachedCache" in error["error"] and "'sessions'" in error["error"]
        assert NAME not in a.cookies
        # ordinary sessions on memcached are unaffected
        await a.get("/c/anon")
        assert NAME in a.cookies and body(await a.get("/c/whoami"))["user"] is None
        resp = await a.get("/c/list")
        assert resp.code == 403  # not logged in: the page never reaches sessions_of


@pytest.mark.parametrize(
    "backend",
    [
        "tornadopy.cache.backends.memcached.MemcachedCache",
        "tornadopy.cache.backends.filebased.FileBasedCache",
        "tornadopy.cache.backends.dummy.DummyCache",
    ],
)
async def test_backends_without_an_index_raise_naming_the_backend(backend, tmp_path):
    name = backend.rsplit(".", 1)[1]
    with override_settings(
        CACHES={"sess": {"BACKEND": backend, "LOCATION": str(tmp_path) + "/c"}},
        SESSION={"session_cache_alias": "sess", "secret_key": "k" * 20},
    ):
        try:
            for call in (
                sessions_of("u"),
                revoke_user_sessions("u"),
                revoke_session("u", "ref"),
            ):
                with pytest.raises(SessionControlUnsupported, match=name) as info:
                    await call
                assert isinstance(info.value, NotImplementedError)
                assert info.value.alias == "sess" and info.value.backend == name
        finally:
            await close_all()


async def test_an_explicit_alias_is_used_over_the_setting(redis_server):
    prefix = new_prefix()
    async with control_site("redis", prefix=prefix) as ([a], _):
        await login(a, "judy")
        with override_settings(
            CACHES={
                "other": {"BACKEND": "tornadopy.cache.backends.dummy.DummyCache"},
                "sessions": {
                    "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
                    "LOCATION": "127.0.0.1:6379",
                    "KEY_PREFIX": prefix,
                    "OPTIONS": {"DB": 14},
                },
            },
            SESSION={"session_cache_alias": "other"},
        ):
            with pytest.raises(SessionControlUnsupported):
                await sessions_of("judy")
            assert len(await sessions_of("judy", alias="sessions")) == 1


async def test_a_missing_session_alias_is_a_configuration_error():
    from tornadopy.exception import ImproperlyConfigured

    with control_settings("locmem", new_prefix(), session_cache_alias="nope"):
        with pytest.raises(ImproperlyConfigured, match="session_cache_alias"):
            await sessions_of("u")
