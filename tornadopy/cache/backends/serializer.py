"""Value encoding shared by the network backends (Redis, memcached).

Integers in the signed 64-bit range are stored as their decimal digits, so the server's own atomic
``INCRBY``/``incr`` works on a value written by ``set``; everything else is pickled (a pickle
always starts with ``b'\\x80'``, so it can never be mistaken for digits).

memcached's ``incr`` works on *unsigned* 64-bit numbers and clamps ``decr`` at 0, so for it the
integers are stored in two's complement (``-5`` is ``18446744073709551611``) and both directions
use ``incr`` with the delta taken modulo 2**64: negative values and ``decr`` below zero then
behave exactly as on the other backends.
"""

from __future__ import annotations

import pickle
from typing import Any

__all__ = ["MASK64", "dumps", "loads", "to_unsigned"]

MASK64 = (1 << 64) - 1
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
PROTOCOL = pickle.HIGHEST_PROTOCOL


def to_unsigned(value: int) -> int:
    """``value`` as memcached's unsigned 64-bit counter (two's complement)."""
    return value & MASK64


def from_unsigned(value: int) -> int:
    return value - (1 << 64) if value > _INT64_MAX else value


def dumps(value: Any, *, unsigned: bool = False) -> bytes:
    """Bytes to store: decimal digits for a 64-bit ``int`` (not ``bool``), else a pickle."""
    if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
        return b"%d" % (value & MASK64 if unsigned else value)
    return pickle.dumps(value, PROTOCOL)


def loads(data: Any, *, unsigned: bool = False) -> Any:
    """The value :func:`dumps` stored (``unsigned`` must match)."""
    if data[:1] == b"\x80":
        return pickle.loads(data)
    value = int(data)
    return from_unsigned(value) if unsigned else value
