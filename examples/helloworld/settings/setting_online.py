"""Production settings of the helloworld example: DEBUG off, secrets from the environment.

tornadopy refuses to start with DEBUG = False while a secret is empty or a shipped default, so
set TORNADOPY_SESSION_SECRET, TORNADOPY_TOKEN_SECRET and TORNADOPY_COOKIE_SECRET first.

Sessions are kept in Redis (``TORNADOPY_REDIS``, default 127.0.0.1:6379): a local-memory cache
belongs to one process, so with ``--processes`` or several hosts a user would be logged out
whenever another worker answered.
"""

import os

from settings.setting import *  # noqa: F403

DEBUG = False

TORNADO_CONF = {
    "static_path": os.path.join(PROJECT_PATH, "static"),  # noqa: F405
    "template_path": os.path.join(PROJECT_PATH, "templates"),  # noqa: F405
    "xsrf_cookies": True,
    "login_url": "/login",
    "cookie_secret": os.environ.get("TORNADOPY_COOKIE_SECRET", ""),
}
CACHES = {
    "sessions": {
        "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
        "LOCATION": os.environ.get("TORNADOPY_REDIS", "127.0.0.1:6379"),
    },
}
SESSION = {
    "session_cache_alias": "sessions",
    "secret_key": os.environ.get("TORNADOPY_SESSION_SECRET", ""),
    "secure": True,  # HTTPS only: put the site behind a TLS-terminating proxy
}
TOKEN = {"secret_key": os.environ.get("TORNADOPY_TOKEN_SECRET", "")}
