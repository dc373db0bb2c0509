"""Fixtures: the same contract suite runs on every storing backend against its real server.

``store`` is ``caches['default']`` configured for one backend (parametrized): local memory, files,
memcached (one server, and two servers on a hash ring), Redis (DB 9, a per-test ``KEY_PREFIX``,
so ``clear()`` only removes this test's keys). ``make_store(**params)`` builds more instances of
the same backend (other prefixes, versions, key functions). All are closed after the test and
cleared -- except on the shared memcached: every test uses its own ``KEY_PREFIX`` there and no
test runs ``flush_all`` on it (that would wipe the data of any other test run using the server);
``clearable_store`` moves the ``clear()`` test onto memcached servers of our own.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from support.servers import MemcachedProcess

from tornadopy.cache import caches, close_all
from tornadopy.conf import override_settings
from tornadopy.importer import import_object

STORES = ["locmem", "filebased", "memcached", "memcached_ring", "redis"]
REDIS_DB = 9
BACKENDS = {
    "locmem": "tornadopy.cache.backends.localcache.LocMemCache",
    "filebased": "tornadopy.cache.backends.filebased.FileBasedCache",
    "dummy": "tornadopy.cache.backends.dummy.DummyCache",
    "memcached": "tornadopy.cache.backends.memcached.MemcachedCache",
    "memcached_ring": "tornadopy.cache.backends.memcached.MemcachedCache",
    "redis": "tornadopy.cache.backends.rediscache.RedisCache",
}


@pytest.fixture(scope="session")
def second_memcached():
    """A second memcached (own port) for the two-server hash ring."""
    with MemcachedProcess() as server:
        yield server


@pytest.fixture(scope="session")
def third_memcached():
    with MemcachedProcess() as server:
        yield server


def shares_memcached(config: dict[str, Any]) -> bool:
    """True for a memcached config: its ``clear()`` (flush_all) would wipe the shared server
    under every other test run using it, so tests never clear it."""
    return config["BACKEND"] == BACKENDS["memcached"]


def backend_config(name: str, request: pytest.FixtureRequest, tmp_path: Any) -> dict[str, Any]:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    config: dict[str, Any] = {"BACKEND": BACKENDS[name], "KEY_PREFIX": prefix}
    if name == "locmem":
        config["LOCATION"] = prefix
    elif name == "filebased":
        config["LOCATION"] = str(tmp_path / "filecache")
    elif name == "memcached":
        host, port = request.getfixturevalue("memcached_server")
        config["LOCATION"] = f"{host}:{port}"
    elif name == "memcached_ring":
        host, port = request.getfixturevalue("memcached_server")
        config["LOCATION"] = [
            f"{host}:{port}",
            request.getfixturevalue("second_memcached").location,
        ]
    elif name == "redis":
        host, port = request.getfixturevalue("redis_server")
        config["LOCATION"] = f"{host}:{port}"
        config["OPTIONS"] = {"DB": REDIS_DB}
    return config


@pytest.fixture(params=STORES)
def store_config(request: pytest.FixtureRequest, tmp_path: Any) -> dict[str, Any]:
    return backend_config(request.param, request, tmp_path)


@pytest.fixture
async def store(store_config: dict[str, Any]):
    with override_settings(CACHES={"default": store_config}):
        instance = caches["default"]
        try:
            yield instance
        finally:
            if not instance.closed and not shares_memcached(store_config):
                await instance.clear()
            await close_all()


@pytest.fixture
async def clearable_store(store_config: dict[str, Any], request: pytest.FixtureRequest):
    """``store``, except that memcached runs on servers of our own: ``clear()`` flushes them."""
    config = dict(store_config)
    if shares_memcached(config):
        private = [request.getfixturevalue("second_memcached").location]
        if isinstance(config["LOCATION"], list):
            private.append(request.getfixturevalue("third_memcached").location)
        config["LOCATION"] = private
    with override_settings(CACHES={"default": config}):
        instance = caches["default"]
        try:
            yield instance
        finally:
            await close_all()


@pytest.fixture
async def make_store(store_config: dict[str, Any]):
    made = []

    def make(**params: Any) -> Any:
        config = {**store_config, **params}
        cls = import_object(config["BACKEND"])
        instance = cls(config.get("LOCATION"), config, alias="extra")
        made.append(instance)
        return instance

    yield make
    for instance in made:
        if not instance.closed:
            if not shares_memcached(store_config):
                await instance.clear()
            await instance.close()
