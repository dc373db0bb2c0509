"""``SessionConfig``: the ``SESSION`` setting, read and checked once when the middleware is built."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tornadopy.conf import settings
from tornadopy.exception import ImproperlyConfigured

__all__ = ["BROWSER_SESSION_TTL", "SessionConfig"]

#: How long the store keeps a browser-session (``expires = 0``) session after its last use.
BROWSER_SESSION_TTL = 24 * 60 * 60

_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}


def _err(key: str, message: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"SESSION[{key!r}] {message}")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """The checked ``SESSION`` setting (see SPEC §12 for each key's meaning)."""

    cache_alias: str
    cookie_name: str
    cookie_domain: str | None
    cookie_path: str
    expires: int
    ignore_change_ip: bool
    httponly: bool
    secure: bool
    samesite: str | None
    secret_key: str
    version: str

    @property
    def cookie_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``set_cookie``/``clear_cookie`` (flags, path, domain)."""
        kwargs: dict[str, Any] = {
            "path": self.cookie_path,
            "httponly": self.httponly,
            "secure": self.secure,
        }
        if self.cookie_domain:
            kwargs["domain"] = self.cookie_domain
        if self.samesite:
            kwargs["samesite"] = self.samesite
        return kwargs

    def store_ttl(self, expires: int) -> int:
        """Seconds the store keeps a session whose cookie lives ``expires`` seconds (0: browser)."""
        return expires if expires > 0 else BROWSER_SESSION_TTL

    @classmethod
    def from_settings(cls, session: Any = None) -> SessionConfig:
        """Read ``settings.SESSION`` (or the mapping given); raise ImproperlyConfigured naming the
        offending ``SESSION[...]`` key."""
        s = dict(settings.SESSION if session is None else session)
        alias = s.get("session_cache_alias")
        caches = settings.CACHES
        if not isinstance(alias, str) or alias not in caches:
            raise _err(
                "session_cache_alias",
                f"= {alias!r} names no cache alias of CACHES "
                f"(defined: {', '.join(map(repr, caches)) or 'none'}); add it to CACHES "
                "or pick one of those.",
            )
        name = s.get("session_name")
        if not isinstance(name, str) or not _COOKIE_NAME.fullmatch(name):
            raise _err(
                "session_name",
                f"= {name!r} is not a valid cookie name (letters, digits "
                "and !#$%&'*+-.^_`|~ only).",
            )
        expires = s.get("expires", 0)
        if isinstance(expires, bool) or not isinstance(expires, int | float) or expires < 0:
            raise _err(
                "expires",
                f"= {expires!r} must be a number of seconds >= 0 (0 = until the browser closes).",
            )
        samesite = s.get("samesite", "Lax")
        if samesite:
            canonical = _SAMESITE.get(str(samesite).lower())
            if canonical is None:
                raise _err("samesite", f"= {samesite!r} must be 'Lax', 'Strict', 'None' or None.")
            samesite = canonical
        secure = bool(s.get("secure", False))
        if samesite == "None" and not secure:
            raise _err(
                "samesite",
                "= 'None' needs SESSION['secure'] = True (browsers drop "
                "SameSite=None cookies that are not Secure).",
            )
        secret = s.get("secret_key")
        if not secret or not isinstance(secret, str | bytes):
            raise _err(
                "secret_key",
                "must be a non-empty string; generate one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
            )
        if isinstance(secret, bytes):
            secret = secret.decode("latin-1")
        path = s.get("cookie_path") or "/"
        return cls(
            cache_alias=alias,
            cookie_name=name,
            cookie_domain=s.get("cookie_domain") or None,
            cookie_path=str(path),
            expires=int(expires),
            ignore_change_ip=bool(s.get("ignore_change_ip", False)),
            httponly=bool(s.get("httponly", True)),
            secure=secure,
            samesite=samesite or None,
            secret_key=secret,
            version=str(s.get("session_version") or ""),
        )
