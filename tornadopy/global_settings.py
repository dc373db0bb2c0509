"""tornadopy's default settings.

The user's settings module (``--settings=settings.setting`` or the environment variable
``tornadopy_APP_SETTINGS``) is layered over this module: any UPPERCASE name defined there wins;
a dict-valued setting is merged one level deep over the default dict below, so
``SESSION = {'secret_key': '...'}`` keeps every other ``SESSION`` default.

The secrets below are *shipped defaults*: with ``DEBUG = False`` the server refuses to start while
any of them is still in use (see :func:`tornadopy.conf.check_settings`).
"""

import os

# ---------------------------------------------------------------- core
DEBUG = False
XHEADERS = False
# Addresses (or CIDR networks) of reverse proxies whose X-Forwarded-*/X-Real-Ip headers are
# believed when XHEADERS is on. Empty: loopback only.
TRUSTED_PROXIES: tuple[str, ...] = ("127.0.0.1", "::1")
# Host names the site answers to ('example.com', '.example.com', '*'); empty = no check.
ALLOWED_HOSTS: tuple[str, ...] = ()
IPV4_ONLY = True
EVENT_LOOP = "uvloop"  # or 'asyncio'; uvloop falls back to asyncio where it does not import
PROCESSES = 1  # 0 = one per CPU
SHUTDOWN_TIMEOUT = 30  # seconds the server waits for in-flight requests on SIGTERM/SIGINT
# seconds between SIGTERM and closing the listening sockets, during which /readyz answers 503
# (so a load balancer takes the process out of rotation before it stops accepting)
SHUTDOWN_GRACE = 0
# health and readiness endpoints (tornadopy.health); None or {} turns them off
HEALTH_URLS = {"healthz": "/healthz", "readyz": "/readyz"}
HEALTH_TIMEOUT = 2  # seconds each service may take to answer a readiness probe
# Prometheus metrics (tornadopy.metrics; pip install 'tornadopy[metrics]'): {'path': '/metrics'}
# adds the scrape endpoint, MetricsMiddleware in MIDDLEWARE_CLASSES collects. Other keys and
# their defaults: docs/metrics.md
METRICS: dict = {}
THREADS_NUM = os.cpu_count() or 4
SERVER = "tornado"

# Keyword arguments for tornado.web.Application (settings of Tornado itself).
TORNADO_CONF = {
    "static_path": "static",
    "xsrf_cookies": True,  # POST/PUT/DELETE to a WebHandler need the _xsrf token (403 otherwise)
    "cookie_secret": "bXZ/gDAbQA+zaTxdqJwxKa8OZTbuZE/ok3doaow9N4Q=",
    "login_url": "/login",
    "template_path": "templates",
}

# Request limits passed explicitly to the HTTP server.
HTTP_SERVER = {
    "max_body_size": 10 * 1024 * 1024,
    "max_buffer_size": 10 * 1024 * 1024,
    "max_header_size": 64 * 1024,
    "idle_connection_timeout": 60,
    "body_timeout": 60,
}

# ---------------------------------------------------------------- apps and pipeline
INSTALLED_APPS: tuple[str, ...] = ()
MIDDLEWARE_CLASSES: tuple[str, ...] = ("tornadopy.middleware.accesslog.AccessLogMiddleware",)
COMMON_MODULES: tuple[str, ...] = ()
ROUTE_MODULES: dict[str, list[str]] = {}
WHITELIST: tuple[str, ...] = ("127.0.0.1", "::1")

# ---------------------------------------------------------------- i18n
TRANSLATIONS = False
TRANSLATIONS_CONF = {
    "translations_dir": os.path.join(os.getcwd(), "translations"),
    "locale_default": "en_US",
    "use_accept_language": True,
}

# ---------------------------------------------------------------- cache
CACHES = {
    "default": {
        "BACKEND": "tornadopy.cache.backends.localcache.LocMemCache",
        "LOCATION": "process_cache",
        "OPTIONS": {"MAX_ENTRIES": 10000, "CULL_FREQUENCY": 3},
    },
}

# ---------------------------------------------------------------- sessions and tokens
SESSION = {
    "session_cache_alias": "default",
    "session_name": "__TORNADOSSID",
    "cookie_domain": "",
    "cookie_path": "/",
    "expires": 0,  # 0 = until the browser closes (the store keeps it one day)
    "ignore_change_ip": False,
    "httponly": True,
    "secure": False,
    "samesite": "Lax",
    "secret_key": "fLjUfxqXtfNoIldA0A0J",
    "session_version": "EtdHjDO1",
}

TOKEN = {
    "token_cache_alias": "default_redis",
    "ignore_change_ip": False,
    "token_timeout": 2592000,
    "secret_key": "xxxxxxxxxxxxxxxxxxxx",
    "token_version": "",
}

# ---------------------------------------------------------------- logging
LOGGING_DIR = "logs/"
LOGGING = (
    {
        "name": "tornado",
        "level": "INFO",
        "log_to_stderr": True,
        "when": "midnight",
        "interval": 1,
        "filename": "tornado.log",
    },
    {
        "name": "tornadopy",
        "level": "INFO",
        "log_to_stderr": True,
        "when": "midnight",
        "interval": 1,
        "filename": "tornadopy.log",
    },
    {
        "name": "tornadopy.accesslog",
        "level": "INFO",
        "log_to_stderr": False,
        "when": "midnight",
        "interval": 1,
        "filename": "access.log",
        "formatter": "%(message)s",  # the access line carries its own timestamp
    },
)

# ---------------------------------------------------------------- templates
TEMPLATE_CONFIG = {
    "template_engine": None,
    "filesystem_checks": True,
    "cache_directory": "../_tmpl_cache",
    "collection_size": 50,
    "cache_size": 400,  # jinja2 templates kept compiled in memory (the seed's 0 recompiles each time)
    "format_exceptions": False,
    "autoescape": False,
}

# ---------------------------------------------------------------- database
DATABASE_CONNECTION: dict = {}
PING_DB = 300  # seconds between pool pings; 0 disables
PING_CONN_COUNT = 5
SQLALCHEMY_CONFIGURATION = {
    "sqlalchemy.echo": False,
    "sqlalchemy.pool_pre_ping": True,
    "sqlalchemy.pool_recycle": 3600,
}
