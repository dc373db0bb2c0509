"""Server-side sessions (SPEC §12): ``handler.session`` with
:class:`~tornadopy.middleware.session.SessionMiddleware`.

- :mod:`tornadopy.session.session` -- :class:`Session`, the awaited per-request API;
- :mod:`tornadopy.session.store` -- records as JSON in a cache alias, revocation;
- :mod:`tornadopy.session.records` -- the record format and store keys;
- :mod:`tornadopy.session.index` -- per-user indexes of bound sessions (Redis, local memory);
- :mod:`tornadopy.session.control` -- :func:`sessions_of`, :func:`revoke_user_sessions`,
  :func:`revoke_session` ("log out everywhere");
- :mod:`tornadopy.session.ids` -- signed random ids (shared with tokens);
- :mod:`tornadopy.session.config` -- the checked ``SESSION`` setting.
"""

from tornadopy.session.config import BROWSER_SESSION_TTL, SessionConfig
from tornadopy.session.control import (
    UserSession,
    revoke_session,
    revoke_user_sessions,
    sessions_of,
)
from tornadopy.session.ids import BadId, SignedIds
from tornadopy.session.index import SessionControlUnsupported
from tornadopy.session.session import Session, SessionManager
from tornadopy.session.store import SessionStore

__all__ = [
    "BROWSER_SESSION_TTL",
    "BadId",
    "Session",
    "SessionConfig",
    "SessionControlUnsupported",
    "SessionManager",
    "SessionStore",
    "SignedIds",
    "UserSession",
    "revoke_session",
    "revoke_user_sessions",
    "sessions_of",
]
