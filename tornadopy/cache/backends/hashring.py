"""A consistent-hash ring (ketama style) spreading memcached keys over several servers.

Each server gets ``points`` positions on a 32-bit ring (md5 of ``"<server>-<n>"``); a key goes to
the first server position at or after the key's own hash. Adding or removing one server moves only
about ``1/len(servers)`` of the keys, unlike ``hash(key) % len(servers)``.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from typing import Generic, TypeVar

__all__ = ["HashRing"]

T = TypeVar("T")


def _hash32(data: bytes, offset: int = 0) -> int:
    digest = hashlib.md5(data, usedforsecurity=False).digest()
    return int.from_bytes(digest[offset : offset + 4], "little")


class HashRing(Generic[T]):
    """Map keys (bytes) onto ``nodes``; ``names`` (default ``str(node)``) place them on the ring."""

    def __init__(
        self, nodes: Sequence[T], names: Sequence[str] | None = None, points: int = 160
    ) -> None:
        if not nodes:
            raise ValueError("a hash ring needs at least one node")
        names = list(names) if names is not None else [str(n) for n in nodes]
        ring: list[tuple[int, int]] = []
        for index, name in enumerate(names):
            for n in range(points // 4):
                seed = f"{name}-{n}".encode()
                ring.extend((_hash32(seed, 4 * i), index) for i in range(4))
        ring.sort()
        self._points = [p for p, _ in ring]
        self._owners = [nodes[i] for _, i in ring]
        self.nodes = list(nodes)

    def get_node(self, key: bytes) -> T:
        """The node responsible for ``key``."""
        if len(self.nodes) == 1:
            return self.nodes[0]
        i = bisect.bisect_left(self._points, _hash32(key))
        return self._owners[i if i < len(self._owners) else 0]
