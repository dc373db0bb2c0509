"""Redis-backed API tokens (SPEC §13): ``handler.token`` with
:class:`~tornadopy.middleware.token.TokenMiddleware`.

- :mod:`tornadopy.token.token` -- :class:`Token`, the awaited per-request API;
- :mod:`tornadopy.token.store` -- records as JSON in Redis;
- :mod:`tornadopy.token.config` -- the checked ``TOKEN`` setting.
"""

from tornadopy.token.config import TokenConfig
from tornadopy.token.store import TokenStore
from tornadopy.token.token import Token, TokenManager, request_token

__all__ = ["Token", "TokenConfig", "TokenManager", "TokenStore", "request_token"]
