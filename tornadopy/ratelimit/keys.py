"""Who a request is counted against: built-in key functions for :class:`RateLimitModule`.

A key function takes the handler and returns a string (plain or ``async def``), or ``None`` when
it cannot tell (an anonymous client), in which case the module's ``anonymous`` fallback applies.

- ``'ip'``: ``handler.request.remote_ip`` (the client address; proxy headers count only from
  ``TRUSTED_PROXIES`` when ``XHEADERS`` is on);
- ``'user'``: ``handler.current_user`` (Tornado's ``get_current_user()``);
- ``'token'``: the user id of the request's token (``await handler.token.get_current_user()``;
  needs ``TokenMiddleware`` declared before ``HttpModuleMiddleware``);
- ``'session:<name>'``: a session value (``await handler.session.get('<name>')``; needs
  ``SessionMiddleware`` declared before ``HttpModuleMiddleware``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tornadopy.exception import ImproperlyConfigured
from tornadopy.importer import import_object

__all__ = ["KeyFunc", "by_ip", "by_session", "by_token_user", "by_user", "resolve_key"]

KeyFunc = Callable[[Any], "str | Awaitable[str | None] | None"]


def by_ip(handler: Any) -> str | None:
    """The client address."""
    ip = handler.request.remote_ip
    return f"ip:{ip}" if ip else None


def by_user(handler: Any) -> str | None:
    """Tornado's ``current_user`` (``None`` for an anonymous client)."""
    user = handler.current_user
    return None if user is None else f"user:{user}"


async def by_token_user(handler: Any) -> str | None:
    """The ``userID`` of the request's token (``None`` without a valid token)."""
    token = getattr(handler, "token", None)
    if token is None:
        return None
    user = await token.get_current_user()
    return None if user is None else f"user:{user}"


def by_session(name: str) -> KeyFunc:
    """A key function reading session value ``name`` (``None`` when absent)."""

    async def key(handler: Any) -> str | None:
        session = getattr(handler, "session", None)
        if session is None:
            return None
        value = await session.get(name)
        return None if value is None else f"user:{value}"

    key.__qualname__ = f"by_session({name!r})"
    return key


def resolve_key(value: Any, setting: str) -> KeyFunc:
    """Turn a ``key`` setting (a name above, a dotted path or a callable) into a function."""
    if callable(value):
        return value  # type: ignore[no-any-return]
    if not isinstance(value, str) or not value:
        raise ImproperlyConfigured(
            f"{setting} = {value!r}: use 'ip', 'user', 'token', 'session:<name>', a function "
            "or the dotted path of one"
        )
    if value == "ip":
        return by_ip
    if value == "user":
        return by_user
    if value == "token":
        return by_token_user
    if value.startswith("session:"):
        name = value.partition(":")[2]
        if not name:
            raise ImproperlyConfigured(f"{setting} = {value!r}: name the session key")
        return by_session(name)
    if "." not in value:
        raise ImproperlyConfigured(
            f"{setting} = {value!r} is not a known key ('ip', 'user', 'token', "
            "'session:<name>') nor a dotted path to a function"
        )
    func = import_object(value, setting=setting)
    if not callable(func):
        raise ImproperlyConfigured(f"{setting} = {value!r} does not name a callable")
    return func  # type: ignore[no-any-return]
