"""The cache contract (SPEC §9), run on every storing backend against its real server.

Modelled on Django's ``BaseCacheTests``: the ``store`` fixture is parametrized over local memory,
files, memcached (one server and a two-server ring) and Redis.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal

import pytest

from tornadopy.cache import CacheError, InvalidCacheKey, cache, caches
from tornadopy.exception import ImproperlyConfigured


class Thing:
    """A picklable user object."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Thing) and other.value == self.value


def upper_key(key: object, key_prefix: str, version: int) -> str:
    return f"{key_prefix}-v{version}-{str(key).upper()}"


VALUES = {
    "str": "hello",
    "unicode": "ключ ünïcødé 漢字",
    "bytes": b"\x00\x01binary\xff",
    "empty": "",
    "zero": 0,
    "int": 42,
    "negative": -7,
    "int64_max": 2**63 - 1,
    "int64_min": -(2**63),
    "bigint": 10**30,
    "float": 1.5,
    "true": True,
    "false": False,
    "none_in_list": [None, 1],
    "dict": {"a": [1, 2, {"b": (3, 4)}]},
    "tuple": (1, "two"),
    "set": {1, 2, 3},
    "decimal": decimal.Decimal("1.10"),
    "datetime": datetime.datetime(2024, 5, 6, 7, 8, 9),
    "object": Thing([1, 2]),
}


async def test_set_get_round_trip(store):
    await store.set("key", "value")
    assert await store.get("key") == "value"


async def test_get_missing_returns_default(store):
    assert await store.get("does-not-exist") is None
    assert await store.get("does-not-exist", "dflt") == "dflt"


async def test_stored_none_is_returned_not_the_default(store):
    await store.set("none", None)
    assert await store.get("none", "dflt") is None
    assert await store.has_key("none") is True


@pytest.mark.parametrize("name", sorted(VALUES))
async def test_values_round_trip_with_their_type(store, name):
    value = VALUES[name]
    await store.set(name, value)
    got = await store.get(name)
    assert got == value
    assert type(got) is type(value)


async def test_non_ascii_key_within_limit_round_trips(store):
    await store.set("ключ-键", "v")
    assert await store.get("ключ-键") == "v"


async def test_int_and_str_keys_are_distinct_keys_by_text(store):
    await store.set(1, "one")
    assert await store.get(1) == "one"
    assert await store.get("1") == "one"  # the key function formats keys as text


async def test_add(store):
    assert await store.add("addkey", "first") is True
    assert await store.add("addkey", "second") is False
    assert await store.get("addkey") == "first"


async def test_delete_reports_whether_the_key_existed(store):
    await store.set("k", 1)
    assert await store.delete("k") is True
    assert await store.delete("k") is False
    assert await store.get("k") is None


async def test_has_key(store):
    await store.set("hello", "x")
    assert await store.has_key("hello") is True
    assert await store.has_key("goodbye") is False


async def test_get_many_returns_only_present_keys(store):
    await store.set_many({"a": "A", "b": 2, "c": None})
    assert await store.get_many(["a", "b", "c", "missing"]) == {"a": "A", "b": 2, "c": None}
    assert await store.get_many([]) == {}


async def test_set_many_returns_no_failed_keys_and_delete_many(store):
    assert await store.set_many({"x": 1, "y": [2], "z": "3"}) == []
    await store.delete_many(["x", "y", "missing"])
    assert await store.get_many(["x", "y", "z"]) == {"z": "3"}


async def test_incr_decr_on_values_set_by_set(store):
    await store.set("n", 10)
    assert await store.incr("n") == 11
    assert await store.incr("n", 10) == 21
    assert await store.decr("n") == 20
    assert await store.decr("n", 5) == 15
    assert await store.incr("n", -20) == -5
    assert await store.decr("n", -10) == 5
    assert await store.get("n") == 5
    assert type(await store.get("n")) is int


async def test_decr_below_zero_and_negative_values(store):
    await store.set("n", 3)
    assert await store.decr("n", 5) == -2
    assert await store.get("n") == -2
    await store.set("m", -100)
    assert await store.incr("m", 1) == -99


async def test_incr_missing_key_raises_value_error(store):
    with pytest.raises(ValueError):
        await store.incr("nothing-here")
    with pytest.raises(ValueError):
        await store.decr("nothing-here")
    assert await store.has_key("nothing-here") is False


async def test_incr_on_a_string_raises_type_error(store):
    await store.set("s", "abc")
    with pytest.raises(TypeError):
        await store.incr("s")
    assert await store.get("s") == "abc"


async def test_incr_keeps_the_timeout(store):
    await store.set("n", 1, timeout=2)
    await store.incr("n")
    await asyncio.sleep(2.6)
    assert await store.get("n") is None


async def test_concurrent_incr_is_not_lost(store):
    await store.set("counter", 0)
    await asyncio.gather(*(store.incr("counter") for _ in range(50)))
    assert await store.get("counter") == 50


async def test_timeout_zero_and_negative_expire_at_once(store):
    await store.set("zero", "v", timeout=0)
    assert await store.get("zero") is None
    await store.set("neg", "v", timeout=-1)
    assert await store.get("neg") is None
    assert await store.add("zero-add", "v", timeout=0) is True
    assert await store.get("zero-add") is None
    assert await store.set_many({"m1": 1, "m2": 2}, timeout=0) == []
    assert await store.get_many(["m1", "m2"]) == {}


async def test_set_with_timeout_zero_removes_an_existing_value(store):
    await store.set("k", "old")
    await store.set("k", "new", timeout=0)
    assert await store.get("k") is None


async def test_add_with_timeout_zero_on_existing_key_is_false(store):
    await store.set("k", "old")
    assert await store.add("k", "new", timeout=0) is False
    assert await store.get("k") == "old"


async def test_expiry_touch_and_none_timeout(store):
    """One sleep checks every expiry path (memcached counts whole seconds, so 2 s + margin)."""
    await store.set("expires", "v", timeout=2)
    assert await store.add("added", "v", timeout=2) is True
    await store.set_many({"many": "v"}, timeout=2)
    await store.set("touched-short", "v")  # default 300 s, shortened by touch
    assert await store.touch("touched-short", 2) is True
    await store.set("touched-forever", "v", timeout=2)
    assert await store.touch("touched-forever", None) is True
    await store.set("forever", "v", timeout=None)
    assert await store.touch("missing", 10) is False
    for key in ("expires", "added", "many", "touched-short", "touched-forever", "forever"):
        assert await store.get(key) == "v", key
    await asyncio.sleep(2.6)
    for key in ("expires", "added", "many", "touched-short"):
        assert await store.get(key) is None, key
        assert await store.has_key(key) is False, key
    assert await store.get("touched-forever") == "v"
    assert await store.get("forever") == "v"
    assert await store.add("expires", "again") is True  # an expired key can be added


async def test_touch_with_zero_expires_the_key(store):
    await store.set("k", "v")
    assert await store.touch("k", 0) is True
    assert await store.get("k") is None


async def test_default_timeout_from_settings(make_store):
    expiring = make_store(TIMEOUT=0)
    await expiring.set("k", "v")
    assert await expiring.get("k") is None
    forever = make_store(TIMEOUT=None)
    await forever.set("k", "v")
    assert await forever.get("k") == "v"


async def test_versions(store):
    await store.set("answer", 42, version=2)
    assert await store.get("answer") is None
    assert await store.get("answer", version=2) == 42
    assert await store.has_key("answer", version=2) is True
    assert await store.incr_version("answer", version=2) == 3
    assert await store.get("answer", version=2) is None
    assert await store.get("answer", version=3) == 42
    assert await store.decr_version("answer", version=3) == 2
    assert await store.get("answer", version=2) == 42
    with pytest.raises(ValueError):
        await store.incr_version("does-not-exist")


async def test_version_setting(make_store, store):
    v2 = make_store(VERSION=2)
    await v2.set("k", "two")
    assert await store.get("k") is None
    assert await store.get("k", version=2) == "two"


async def test_key_prefix_isolates_caches(make_store, store_config):
    one = make_store(KEY_PREFIX=store_config["KEY_PREFIX"] + "a")
    two = make_store(KEY_PREFIX=store_config["KEY_PREFIX"] + "b")
    await one.set("k", "one")
    await two.set("k", "two")
    assert await one.get("k") == "one"
    assert await two.get("k") == "two"


@pytest.mark.parametrize("key_function", [upper_key, f"{__name__}.upper_key"])
async def test_key_function_callable_or_dotted_path(make_store, key_function):
    custom = make_store(KEY_FUNCTION=key_function)
    assert custom.make_key("abc") == f"{custom.key_prefix}-v1-ABC"
    await custom.set("abc", 1)
    assert await custom.get("abc") == 1
    assert await custom.incr("abc") == 2


async def test_bad_key_function_path_names_the_setting(make_store):
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['extra'\]\['KEY_FUNCTION'\]"):
        make_store(KEY_FUNCTION="tests.nowhere.key_func")


async def test_get_or_set_with_value_callable_and_coroutine_function(store):
    assert await store.get_or_set("v", "value") == "value"
    assert await store.get_or_set("c", lambda: "called") == "called"

    async def compute() -> str:
        await asyncio.sleep(0)
        return "awaited"

    assert await store.get_or_set("a", compute) == "awaited"
    assert await store.get_many(["v", "c", "a"]) == {"v": "value", "c": "called", "a": "awaited"}


async def test_get_or_set_does_not_call_default_when_present(store):
    await store.set("k", "present")
    calls = []
    assert await store.get_or_set("k", lambda: calls.append(1) or "new") == "present"
    assert calls == []


async def test_get_or_set_stores_none(store):
    assert await store.get_or_set("null", None) is None
    assert await store.has_key("null") is True


async def test_get_or_set_with_timeout_zero_returns_but_does_not_keep(store):
    assert await store.get_or_set("k", "v", timeout=0) == "v"
    assert await store.get("k") is None


async def test_clear_removes_entries(clearable_store):
    await clearable_store.set_many({"a": 1, "b": 2})
    await clearable_store.clear()
    assert await clearable_store.get_many(["a", "b"]) == {}


async def test_large_value_round_trips(store):
    value = "x" * 500_000
    await store.set("big", value)
    assert await store.get("big") == value


async def test_many_concurrent_calls_get_their_own_values(store):
    await store.set_many({f"k{i}": i for i in range(200)})
    results = await asyncio.gather(*(store.get(f"k{i}") for i in range(200)))
    assert results == list(range(200))


async def test_stored_values_are_copies(store):
    value = {"list": [1]}
    await store.set("k", value)
    value["list"].append(2)
    got = await store.get("k")
    got["list"].append(3)
    assert await store.get("k") == {"list": [1]}


async def test_cache_proxy_is_the_default_alias(store):
    await cache.set("through-proxy", "p")
    assert await store.get("through-proxy") == "p"
    assert caches["default"] is store


async def test_closed_cache_refuses_calls_and_registry_makes_a_new_one(store):
    await store.close()
    with pytest.raises(CacheError, match="closed"):
        await store.get("k")
    fresh = caches["default"]
    assert fresh is not store
    await fresh.set("k", "v")
    assert await fresh.get("k") == "v"


# ---------------------------------------------------------------- key validation, in bytes

BAD_KEYS = {
    "200 x e-acute (400 bytes)": "é" * 200,
    "space": "a b",
    "newline": "a\nb",
    "crlf": "a\r\nb",
    "nul": "a\x00b",
    "tab": "a\tb",
    "del": "a\x7fb",
    "c1 control": "a\x85b",
    "251 ascii bytes": "k" * 251,
}


@pytest.mark.parametrize("label", sorted(BAD_KEYS))
async def test_invalid_keys_refused_on_every_operation(store, label):
    key = BAD_KEYS[label]
    calls = [
        store.get(key),
        store.set(key, 1),
        store.add(key, 1),
        store.delete(key),
        store.has_key(key),
        store.touch(key),
        store.incr(key),
        store.decr(key),
        store.get_or_set(key, 1),
        store.get_many(["ok", key]),
        store.set_many({"ok": 1, key: 1}),
        store.delete_many(["ok", key]),
    ]
    for call in calls:
        with pytest.raises(InvalidCacheKey):
            await call
    assert await store.get("ok") is None  # set_many with a bad key stored nothing


async def test_key_length_counts_bytes_of_the_final_key(store):
    overhead = len(store.make_key("").encode())
    fits = "k" * (250 - overhead)
    await store.set(fits, "v")  # exactly 250 bytes: accepted by memcached too
    assert await store.get(fits) == "v"
    with pytest.raises(InvalidCacheKey):
        await store.set(fits + "k", "v")
    two_byte = "é" * ((250 - overhead) // 2)
    await store.set(two_byte, "v")
    assert await store.get(two_byte) == "v"
    with pytest.raises(InvalidCacheKey):
        await store.set(two_byte + "é", "v")


async def test_invalid_cache_key_is_a_value_error(store):
    with pytest.raises(ValueError):
        await store.get("bad key")
