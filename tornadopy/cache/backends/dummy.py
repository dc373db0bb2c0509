"""``DummyCache``: the full cache API that stores nothing (development, or to switch caching off).

Keys are still validated like on every backend, so a bad key is found before production.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tornadopy.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

__all__ = ["DummyCache"]


class DummyCache(BaseCache):
    """A cache that forgets everything at once: ``get`` always misses."""

    async def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        self.make_and_validate_key(key, version)
        return True

    async def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        self.make_and_validate_key(key, version)
        return default

    async def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        self.make_and_validate_key(key, version)

    async def touch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        self.make_and_validate_key(key, version)
        return False

    async def delete(self, key: Any, version: int | None = None) -> bool:
        self.make_and_validate_key(key, version)
        return False

    async def has_key(self, key: Any, version: int | None = None) -> bool:
        self.make_and_validate_key(key, version)
        return False

    async def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        for key in keys:
            self.make_and_validate_key(key, version)
        return {}

    async def set_many(
        self, mapping: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        for key in mapping:
            self.make_and_validate_key(key, version)
        return []

    async def clear(self) -> None:
        if self._closed:
            raise self.closed_error()
