"""``FileBasedCache``: one file per key in the directory ``LOCATION``.

All file work runs in the event loop's default executor (``asyncio.to_thread``), never on the loop
itself -- one thread hop per call. Each file holds the pickled expiry time followed by the
zlib-compressed pickled value; writes go to a temporary file renamed into place, so a reader never
sees half a value. ``incr``/``touch`` rewrite the file under an exclusive ``flock`` (atomic between
processes on POSIX). ``OPTIONS``: ``MAX_ENTRIES`` (300) and ``CULL_FREQUENCY`` (3) -- when full, a
random ``1/CULL_FREQUENCY`` of the files is removed. ``clear()`` empties the directory of cache
files. File-system errors (directory not writable, disk full) raise
:class:`~tornadopy.cache.CacheError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import hashlib
import os
import pickle
import random
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, TypeVar

from tornadopy.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from tornadopy.cache.exceptions import CacheError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileBasedCache"]

_SUFFIX = ".djcache"
_PROTOCOL = pickle.HIGHEST_PROTOCOL
T = TypeVar("T")


@contextlib.contextmanager
def _locked(f: IO[bytes]) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class FileBasedCache(BaseCache):
    """A cache kept in files under the directory ``LOCATION`` (created on first write)."""

    def __init__(
        self,
        location: Any = None,
        params: Mapping[str, Any] | None = None,
        *,
        alias: str = "default",
    ) -> None:
        super().__init__(location, params, alias=alias)
        if not location:
            from tornadopy.exception import ImproperlyConfigured

            raise ImproperlyConfigured(f"{self.setting('LOCATION')} must name a directory")
        self._dir = os.path.abspath(str(location))

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(func, *args)
        except OSError as exc:
            raise CacheError(self.alias, f"file cache {self._dir!r}: {exc}") from exc

    # ------------------------------------------------------------------ in the executor

    def _path(self, key: str) -> str:
        digest = hashlib.md5(key.encode("utf-8"), usedforsecurity=False).hexdigest()
        return os.path.join(self._dir, digest + _SUFFIX)

    def _read(self, path: str) -> tuple[bool, Any]:
        """``(True, value)`` for a live entry, ``(False, None)`` when absent or expired."""
        try:
            with open(path, "rb") as f:
                if self._is_expired(f, path):
                    return False, None
                return True, pickle.loads(zlib.decompress(f.read()))
        except FileNotFoundError:
            return False, None

    @staticmethod
    def _expired(f: IO[bytes]) -> bool:
        """Read the expiry header (leaving ``f`` at the value) and say whether it has passed."""
        try:
            exp = pickle.load(f)
        except EOFError:
            exp = 0  # an empty file is expired
        return exp is not None and exp <= time.time()

    def _is_expired(self, f: IO[bytes], path: str) -> bool:
        """:meth:`_expired`, removing the file of an expired entry."""
        if self._expired(f):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            return True
        return False

    def _content(self, timeout: Any, value: Any) -> bytes:
        seconds = self.timeout_seconds(timeout)
        expiry = None if seconds is None else time.time() + seconds
        return pickle.dumps(expiry, _PROTOCOL) + zlib.compress(pickle.dumps(value, _PROTOCOL))

    def _write(self, path: str, content: bytes) -> None:
        os.makedirs(self._dir, 0o700, exist_ok=True)
        self._cull()
        fd, tmp = tempfile.mkstemp(dir=self._dir, suffix=".tmp")
        try:
            with open(fd, "wb") as f:
                f.write(content)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise

    def _files(self) -> list[str]:
        return glob.glob(os.path.join(glob.escape(self._dir), "*" + _SUFFIX))

    def _cull(self) -> None:
        files = self._files()
        if len(files) < self._max_entries:
            return
        if self._cull_frequency == 0:
            doomed = files
        else:
            doomed = random.sample(files, max(1, len(files) // self._cull_frequency))
        for path in doomed:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)

    def _add(self, path: str, content: bytes) -> bool:
        if self._read(path)[0]:
            return False
        self._write(path, content)
        return True

    def _rewrite(self, path: str, change: Callable[[bytes, bytes], tuple[bytes, Any]]) -> Any:
        """Rewrite a live entry in place under flock; ``change(exp, data) -> (content, result)``.
        Returns ``None`` if the entry is absent or expired."""
        try:
            with open(path, "r+b") as f, _locked(f):
                if self._expired(f):
                    return None
                exp_end = f.tell()
                f.seek(0)
                exp = f.read(exp_end)
                content, result = change(exp, f.read())
                f.seek(0)
                f.write(content)
                f.truncate()
                return result
        except FileNotFoundError:
            return None

    def _touch(self, path: str, timeout: Any) -> bool:
        def change(exp: bytes, data: bytes) -> tuple[bytes, bool]:
            return self._content(timeout, pickle.loads(zlib.decompress(data))), True

        return bool(self._rewrite(path, change))

    def _incr(self, path: str, delta: int) -> tuple[bool, Any]:
        def change(exp: bytes, data: bytes) -> tuple[bytes, tuple[bool, Any]]:
            value = pickle.loads(zlib.decompress(data)) + delta
            return exp + zlib.compress(pickle.dumps(value, _PROTOCOL)), (True, value)

        return self._rewrite(path, change) or (False, None)

    def _delete(self, path: str) -> bool:
        try:
            os.remove(path)
        except FileNotFoundError:
            return False
        return True

    def _clear(self) -> None:
        for path in self._files():
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)

    def _get_many(self, paths: dict[Any, str]) -> dict[Any, Any]:
        found = {}
        for key, path in paths.items():
            ok, value = self._read(path)
            if ok:
                found[key] = value
        return found

    def _set_many(self, items: list[tuple[str, bytes]]) -> None:
        for path, content in items:
            self._write(path, content)

    # ------------------------------------------------------------------ API

    async def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        path = self._path(self.make_and_validate_key(key, version))
        return await self._run(self._add, path, self._content(timeout, value))

    async def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        path = self._path(self.make_and_validate_key(key, version))
        ok, value = await self._run(self._read, path)
        return value if ok else default

    async def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        path = self._path(self.make_and_validate_key(key, version))
        await self._run(self._write, path, self._content(timeout, value))

    async def touch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        path = self._path(self.make_and_validate_key(key, version))
        return await self._run(self._touch, path, timeout)

    async def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        path = self._path(self.make_and_validate_key(key, version))
        ok, value = await self._run(self._incr, path, delta)
        if not ok:
            raise ValueError(f"Key {key!r} not found")
        return value

    async def has_key(self, key: Any, version: int | None = None) -> bool:
        path = self._path(self.make_and_validate_key(key, version))
        return (await self._run(self._read, path))[0]

    async def delete(self, key: Any, version: int | None = None) -> bool:
        path = self._path(self.make_and_validate_key(key, version))
        return await self._run(self._delete, path)

    async def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        paths = {k: self._path(self.make_and_validate_key(k, version)) for k in keys}
        return await self._run(self._get_many, paths)

    async def set_many(
        self, mapping: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        items = [
            (self._path(self.make_and_validate_key(k, version)), self._content(timeout, v))
            for k, v in mapping.items()
        ]
        await self._run(self._set_many, items)
        return []

    async def delete_many(self, keys: Any, version: int | None = None) -> None:
        paths = [self._path(self.make_and_validate_key(k, version)) for k in keys]
        await self._run(lambda: [self._delete(p) for p in paths])

    async def clear(self) -> None:
        if self._closed:
            raise self.closed_error()
        await self._run(self._clear)
