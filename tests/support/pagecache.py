"""The cache backends the cache_page tests (stampede, tags) run on, each under a fresh prefix."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

BACKENDS = {
    "locmem": "tornadopy.cache.backends.localcache.LocMemCache",
    "memcached": "tornadopy.cache.backends.memcached.MemcachedCache",
    "redis": "tornadopy.cache.backends.rediscache.RedisCache",
}


def backend_config(name: str, request: pytest.FixtureRequest, tag: str) -> dict[str, Any]:
    """``CACHES['default']`` for backend ``name`` with a unique ``KEY_PREFIX`` starting ``tag``
    (Redis on DB 9; the shared memcached and Redis servers come from the service fixtures)."""
    prefix = f"{tag}{uuid.uuid4().hex[:12]}"
    config: dict[str, Any] = {"BACKEND": BACKENDS[name], "KEY_PREFIX": prefix}
    if name == "locmem":
        config["LOCATION"] = prefix
    elif name == "memcached":
        host, port = request.getfixturevalue("memcached_server")
        config["LOCATION"] = f"{host}:{port}"
    else:
        host, port = request.getfixturevalue("redis_server")
        config["LOCATION"] = f"{host}:{port}"
        config["OPTIONS"] = {"DB": 9}
    return config
