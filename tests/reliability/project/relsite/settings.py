"""Settings of the reliability test project (see the package docstring for the variables)."""

import json
import os

_env = os.environ.get

DEBUG = _env("RELSITE_DEBUG", "") == "1"
INSTALLED_APPS = ("relsite",)
XHEADERS = True
TRUSTED_PROXIES = ("127.0.0.1",)
EVENT_LOOP = _env("RELSITE_LOOP", "uvloop")

TORNADO_CONF = {
    "cookie_secret": "relsite-cookie-secret-0123456789abcdef",
    "xsrf_cookies": True,
    "static_path": None,
    "template_path": None,
}

HTTP_SERVER = json.loads(_env("RELSITE_HTTP_SERVER", "{}"))
THREADS_NUM = int(_env("RELSITE_THREADS", "4"))
SHUTDOWN_TIMEOUT = float(_env("RELSITE_SHUTDOWN_TIMEOUT", "20"))

LOGGING = (
    {"name": "tornado", "level": "WARNING", "log_to_stderr": True},
    {"name": "tornadopy", "level": "WARNING", "log_to_stderr": True},
)

_REDIS = _env("RELSITE_REDIS", "")
_PREFIX = _env("RELSITE_PREFIX", "relsite")
_REDIS_DB = int(_env("RELSITE_REDIS_DB", "12"))


def _redis(kind: str) -> dict:
    return {
        "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
        "LOCATION": _REDIS,
        "KEY_PREFIX": f"{_PREFIX}{kind}",
        "OPTIONS": {"DB": _REDIS_DB},
    }


CACHES = {
    "default": {
        "BACKEND": "tornadopy.cache.backends.localcache.LocMemCache",
        "LOCATION": "relsite",
    },
}
MIDDLEWARE_CLASSES = [
    "tornadopy.middleware.requestid.RequestIdMiddleware",
    "tornadopy.middleware.session.SessionMiddleware",
]
if _REDIS:
    CACHES["sessions"] = _redis("s")
    CACHES["tokens"] = _redis("t")
    MIDDLEWARE_CLASSES.append("tornadopy.middleware.token.TokenMiddleware")
else:
    CACHES["sessions"] = {
        "BACKEND": "tornadopy.cache.backends.localcache.LocMemCache",
        "LOCATION": f"relsite-sessions-{_PREFIX}",
        "OPTIONS": {"MAX_ENTRIES": 1_000_000},
    }
if _env("RELSITE_ACCESS_LOG", "") == "1":
    MIDDLEWARE_CLASSES.insert(0, "tornadopy.middleware.accesslog.AccessLogMiddleware")
MIDDLEWARE_CLASSES.append("relsite.middleware.ShutdownProbe")

SESSION = {
    "session_cache_alias": "sessions",
    "session_name": "relsid",
    "secret_key": "relsite-session-secret-0123456789",
}
TOKEN = {
    "token_cache_alias": "tokens",
    "secret_key": "relsite-token-secret-0123456789",
}

if _env("RELSITE_DB", "") == "replica":
    _MASTER = int(_env("TORNADOPY_MARIADB_MASTER_PORT", "3307"))
    _REPLICA = int(_env("TORNADOPY_MARIADB_REPLICA_PORT", "3308"))

    def _mysql(port: int, role: str) -> dict:
        return {
            "ROLE": role,
            "DRIVER": "mysql+aiomysql",
            "UID": "root",
            "PASSWD": "",
            "HOST": "127.0.0.1",
            "PORT": port,
            "DATABASE": "test",
            "QUERY": {"charset": "utf8mb4"},
            "OPTIONS": {"connect_args": {"connect_timeout": 2}},
        }

    DATABASE_CONNECTION = {
        "default": {
            "connections": [_mysql(_MASTER, "master"), _mysql(_REPLICA, "slave")],
            "REPLICA_RETRY": 0.5,
        }
    }
    PING_DB = 0
    MIDDLEWARE_CLASSES.append("tornadopy.middleware.dbalchemy.DBAlchemyMiddleware")
