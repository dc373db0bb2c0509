"""Server-side sessions (SPEC §12): ``handler.session`` with
:class:`~tornadopy.middleware.session.SessionMiddleware`.

- :mod:`tornadopy.session.session` -- :class:`Session`, the awaited per-request API;
- :mod:`tornadopy.session.store` -- records as JSON in a cache alias, revocation;
- :mod:`tornadopy.session.ids` -- signed random ids (shared with tokens);
- :mod:`tornadopy.session.config` -- the checked ``SESSION`` setting.
"""

from tornadopy.session.config import BROWSER_SESSION_TTL, SessionConfig
from tornadopy.session.ids import BadId, SignedIds
from tornadopy.session.session import Session, SessionManager
from tornadopy.session.store import SessionStore

__all__ = [
    "BROWSER_SESSION_TTL",
    "BadId",
    "Session",
    "SessionConfig",
    "SessionManager",
    "SessionStore",
    "SignedIds",
]
