"""``FlashMessageMixIn``: one-time messages that survive a redirect (like Flask's ``flash``).

::

    class Login(FlashMessageMixIn, WebHandler):
        async def post(self):
            self.flash('Welcome back', 'success')
            await self.redirect('/')

    {% for category, msg in handler.get_flashed_messages() %} ... {% end %}

Messages live in a signed cookie (``_flashes``, signed with ``TORNADO_CONF['cookie_secret']``)
until they are read; reading empties them (the list is kept for the rest of that request, so a
template may ask twice). A tampered or malformed cookie reads as no messages.
"""

from __future__ import annotations

import json

FLASH_COOKIE = "_flashes"
_MAX_MESSAGES = 20


class FlashMessageMixIn:
    """Adds :meth:`flash` and :meth:`get_flashed_messages` to a handler."""

    _flash_pending: list[list[str]] | None = None
    _flash_read: list[tuple[str, str]] | None = None

    def _flash_load(self) -> list[list[str]]:
        if self._flash_pending is None:
            raw = self.get_signed_cookie(FLASH_COOKIE, max_age_days=1)  # type: ignore[attr-defined]
            messages: list[list[str]] = []
            if raw:
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = []
                if isinstance(data, list):
                    messages = [
                        [str(m[0]), str(m[1])] for m in data if isinstance(m, list) and len(m) == 2
                    ]
            self._flash_pending = messages
        return self._flash_pending

    def flash(self, message: str, category: str = "message") -> None:
        """Queue ``message`` (under ``category``) for the next page that reads messages."""
        messages = self._flash_load()
        messages.append([category, message])
        del messages[:-_MAX_MESSAGES]
        self.set_signed_cookie(  # type: ignore[attr-defined]
            FLASH_COOKIE,
            json.dumps(messages),
            expires_days=None,
            httponly=True,
            samesite="Lax",
        )

    def get_flashed_messages(self) -> list[tuple[str, str]]:
        """The queued messages as ``(category, message)`` pairs; they are gone once read."""
        if self._flash_read is not None and not self._flash_pending:
            return self._flash_read
        messages = self._flash_load()
        read = [(c, m) for c, m in messages]
        self._flash_read = (self._flash_read or []) + read
        self._flash_pending = []
        if self.get_cookie(FLASH_COOKIE) is not None or read:  # type: ignore[attr-defined]
            self.clear_cookie(FLASH_COOKIE)  # type: ignore[attr-defined]
        return self._flash_read
