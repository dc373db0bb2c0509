"""Signed random identifiers for sessions and tokens.

An id is three dot-separated URL-safe base64 fields::

    <version tag> . <random part> . <HMAC-SHA256 signature>

- the random part comes from :mod:`secrets` (``random_bytes`` bytes: 24 = 192 bits for
  sessions, 32 = 256 bits for tokens);
- the version tag is the configured ``session_version``/``token_version`` (base64url, so any
  value is cookie-safe; an empty version gives an empty tag);
- the signature is ``HMAC-SHA256(secret_key, purpose | version | random part)``, so an id made
  for another purpose (a token offered as a session cookie), another version or with another key
  never verifies.

:meth:`SignedIds.verify` checks shape, length and version first and the signature last, in
constant time; it never touches a store. Only the random part is used as the store key, so a
leaked store key is not a usable cookie without ``secret_key``.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets

__all__ = ["BadId", "SignedIds"]

_SIG_BYTES = 32  # SHA-256
_ID = re.compile(r"([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64_len(n: int) -> int:
    """Length of the unpadded base64url text of ``n`` bytes."""
    return (4 * n + 2) // 3


class BadId(ValueError):
    """An id that did not verify; ``reason`` is a short text for the log (never for clients)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignedIds:
    """Makes and verifies signed ids for one purpose (``'session'`` or ``'token'``)."""

    __slots__ = (
        "_key",
        "_max_len",
        "_prefix",
        "_rand_len",
        "_sig_len",
        "_tag",
        "purpose",
        "random_bytes",
        "version",
    )

    def __init__(
        self, purpose: str, secret_key: str | bytes, version: str = "", random_bytes: int = 24
    ) -> None:
        if random_bytes < 16:
            raise ValueError("ids need at least 128 random bits (random_bytes >= 16)")
        if not secret_key:
            raise ValueError("secret_key must not be empty")
        self.purpose = purpose
        self.version = str(version or "")
        self.random_bytes = random_bytes
        self._key = secret_key.encode("utf-8") if isinstance(secret_key, str) else bytes(secret_key)
        self._tag = _b64(self.version.encode("utf-8"))
        self._prefix = f"tornadopy.{purpose}|{self.version}|".encode()
        self._rand_len = _b64_len(random_bytes)
        self._sig_len = _b64_len(_SIG_BYTES)
        self._max_len = len(self._tag) + self._rand_len + self._sig_len + 2

    @property
    def max_length(self) -> int:
        """Length of every id this signer makes."""
        return self._max_len

    def _sign(self, rand: str) -> str:
        return _b64(hmac.digest(self._key, self._prefix + rand.encode("ascii"), "sha256"))

    def new(self) -> tuple[str, str]:
        """A fresh ``(signed id, random part)``."""
        rand = _b64(secrets.token_bytes(self.random_bytes))
        return self.id_for(rand), rand

    def id_for(self, rand: str) -> str:
        """The signed id of a random part made by :meth:`new`."""
        return f"{self._tag}.{rand}.{self._sign(rand)}"

    def verify(self, value: object) -> str:
        """The random part of a valid id; :class:`BadId` (with a log reason) for anything else."""
        if not isinstance(value, str) or not value:
            raise BadId("empty")
        if len(value) > 2 * self._max_len:
            raise BadId(f"too long ({len(value)} characters)")
        match = _ID.fullmatch(value)
        if match is None:
            raise BadId("malformed")
        tag, rand, sig = match.groups()
        if tag != self._tag:
            raise BadId(f"foreign version (tag {tag[:16]!r})")
        if len(rand) != self._rand_len or len(sig) != self._sig_len:
            raise BadId("malformed (truncated or extended)")
        if not hmac.compare_digest(sig, self._sign(rand)):
            raise BadId("bad signature")
        return rand
