"""``TokenMiddleware``: gives every ``WebHandler`` a ``handler.token`` (SPEC §13).

Enable it with ``MIDDLEWARE_CLASSES = [..., 'tornadopy.middleware.token.TokenMiddleware']`` and
configure ``TOKEN``; ``TOKEN['token_cache_alias']`` must name a Redis entry of ``CACHES``
(``RedisCache`` or ``RedisClient``) -- anything else stops the application from being built with
:class:`~tornadopy.exception.ImproperlyConfigured` naming ``TOKEN['token_cache_alias']``.

``process_request`` (a plain ``def``, no I/O) attaches a lazy :class:`~tornadopy.token.Token`;
Redis is only asked when the handler awaits one of its accessors. There is no response hook:
tokens are written only by ``save``/``expire``, at once.
"""

from __future__ import annotations

from typing import Any

from tornadopy.token import TokenConfig, TokenManager

__all__ = ["TokenMiddleware"]


class TokenMiddleware:
    """Lazy Redis-backed tokens; see the module documentation."""

    def __init__(self) -> None:
        self.manager = TokenManager(TokenConfig.from_settings())

    def process_request(self, handler: Any, clear: Any) -> None:
        """Attach a not-yet-loaded token object to the handler (no I/O)."""
        handler.token = self.manager.token(handler)
