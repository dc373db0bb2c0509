"""Session records and their keys in the store (shared by the store and the per-user indexes).

A record is a JSON text (never pickle: session data is influenced by clients) of::

    {"e": <expires seconds>, "ip": "<address it was created from>", "d": {...session data...}}

and, for a session bound to a user (``await session.set_user(user_id)``), between ``"ip"`` and
``"d"``::

    "u": "<user id>", "m": {"c": <log-in time, epoch seconds>, "ip": "<log-in address>",
                            "ua": "<User-Agent, at most 200 characters>"}

The order of the keys is kept on purpose: the Redis store's load script reads ``"e"`` and
``"ip"`` from the start of the text (see :mod:`tornadopy.session.store`). Records written in
another order (by an older version) still load; their lifetime is then refreshed by a separate
call at the end of the request.

Keys (before the cache alias' own ``KEY_PREFIX``/version):

- ``tornadopy.session:<random part>`` -- the record;
- ``tornadopy.session.revoked:<random part>`` -- the revocation marker (see
  :mod:`tornadopy.session.store`);
- ``tornadopy.session.user:<sha256 of the user id>`` -- the user's index
  (see :mod:`tornadopy.session.index`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = [
    "RECORD_PREFIX",
    "REVOKED_PREFIX",
    "REVOKED_TTL",
    "USER_PREFIX",
    "decode_record",
    "encode_record",
    "session_ref",
    "user_id_text",
    "user_index_key",
]

RECORD_PREFIX = "tornadopy.session:"
REVOKED_PREFIX = "tornadopy.session.revoked:"
USER_PREFIX = "tornadopy.session.user:"
#: How long a revocation marker lives: longer than any request that may still hold the session.
REVOKED_TTL = 24 * 60 * 60
#: Longest user id accepted by ``set_user`` (it is stored in every record of the user).
MAX_USER_ID = 256
#: Longest User-Agent kept in a bound session's metadata.
MAX_USER_AGENT = 200

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def encode_record(
    data: dict[str, Any],
    ip: str | None,
    expires: int,
    user: str | None = None,
    meta: dict[str, Any] | None = None,
) -> str:
    """The JSON text stored for a session (``user``/``meta`` only for a bound session)."""
    # the key order is part of the format: a record starts with '{"e":<digits>,"ip":<ip>,' and
    # an unbound one goes on with '"d":' -- the Redis store's load script reads the lifetime
    # (and the address) from that prefix to refresh the expiry in the same round trip
    if user is None:
        record: dict[str, Any] = {"e": expires, "ip": ip, "d": data}
    else:
        record = {"e": expires, "ip": ip, "u": user, "m": meta or {}, "d": data}
    return _dumps(record)


def decode_record(raw: Any) -> dict[str, Any] | None:
    """The record of a stored JSON text, or None when it is not one of ours."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("d"), dict):
        return None
    return record


def user_id_text(user_id: object) -> str:
    """The canonical text of a user id (``42`` and ``'42'`` are the same user).

    Raises TypeError for anything but a non-bool ``int`` or a ``str``, ValueError for an empty or
    over-long one.
    """
    if isinstance(user_id, bool) or not isinstance(user_id, int | str):
        raise TypeError(f"user ids are str or int, got {type(user_id).__name__}")
    text = str(user_id)
    if not text or len(text) > MAX_USER_ID:
        raise ValueError(f"user ids must have 1 to {MAX_USER_ID} characters, got {len(text)}")
    return text


def user_index_key(user: str) -> str:
    """The store key (before the cache's prefix) of the index of ``user`` (canonical text)."""
    return USER_PREFIX + hashlib.sha256(user.encode("utf-8")).hexdigest()


def session_ref(rand: str) -> str:
    """The public handle of a stored session: names it in listings, is never a credential.

    A hash of the random part (itself only a store key, never a usable cookie), so pages that
    list a user's sessions show nothing that can be replayed.
    """
    return hashlib.sha256(b"tornadopy.session.ref|" + rand.encode("ascii")).hexdigest()[:24]
