"""``SessionMiddleware``: gives every ``WebHandler`` a ``handler.session`` (SPEC §12).

Enable it with ``MIDDLEWARE_CLASSES = [..., 'tornadopy.middleware.session.SessionMiddleware']``
and configure ``SESSION`` (the store is ``CACHES[SESSION['session_cache_alias']]``; use Redis or
memcached when several processes or hosts serve the site). The ``SESSION`` setting is read and
checked when the application is built: an unknown cache alias, a bad cookie name or ``expires``
raise :class:`~tornadopy.exception.ImproperlyConfigured` naming the key.

Hooks (both plain ``def``; neither creates a coroutine for a request that did not use the
session, neither ever stops a phase):

- ``process_request`` attaches a lazy :class:`~tornadopy.session.Session` -- no cookie parsing and
  no store call until the handler awaits one of its methods;
- ``process_response`` (before the headers go out) saves a changed session, or refreshes the
  lifetime of a session that was only read, sets or clears the cookie and adds ``Vary: Cookie``.
  Nothing is saved for a response with status >= 500.

Session control -- ``await handler.session.set_user(uid)`` at log-in, then
:func:`~tornadopy.session.sessions_of` / :func:`~tornadopy.session.revoke_user_sessions` to list
and log out a user's sessions -- needs nothing more here (Redis or local-memory store; see
:mod:`tornadopy.session.control` and ``docs/sessions.md``). Requests of unbound sessions pay
nothing for it.

``handler.session`` exists from ``process_request`` on: middlewares declared *after* this one
and the handler can use it. A request whose hooks were stopped before this middleware's
``process_request`` (or ``clear()``-ed) has no session.

``SignalMiddleware`` is importable from here too (the original manual named
``tornadopy.middleware.session.SignalMiddleware``); it lives in :mod:`tornadopy.middleware.signal`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from tornadopy.middleware.signal import SignalMiddleware
from tornadopy.session import Session, SessionConfig, SessionManager

__all__ = ["SessionMiddleware", "SignalMiddleware"]


class SessionMiddleware:
    """Lazy server-side sessions in a cache alias; see the module documentation."""

    def __init__(self) -> None:
        self.manager = SessionManager(SessionConfig.from_settings())

    def process_request(self, handler: Any, clear: Any) -> None:
        """Attach a not-yet-loaded session to the handler (no I/O)."""
        handler.session = self.manager.session(handler)

    def process_response(
        self, handler: Any, clear: Any, chunk: list[bytes]
    ) -> Awaitable[None] | None:
        """Save or touch the session the handler used; nothing for one it did not touch."""
        session = handler.__dict__.get("session")
        if not isinstance(session, Session) or not session.accessed:
            return None
        return session.on_response(handler.get_status())
