"""Development settings of the helloworld example: embedded defaults, nothing to install.

Local-memory cache (which also stores the sessions), Tornado templates.
"""

import os

PROJECT_PATH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEBUG = True

TORNADO_CONF = {
    "static_path": os.path.join(PROJECT_PATH, "static"),
    "template_path": os.path.join(PROJECT_PATH, "templates"),
    "xsrf_cookies": True,
    "login_url": "/login",
}

INSTALLED_APPS = ("main",)

MIDDLEWARE_CLASSES = (
    "tornadopy.middleware.accesslog.AccessLogMiddleware",
    "tornadopy.middleware.session.SessionMiddleware",  # handler.session, stored in CACHES
    "tornadopy.middleware.signal.SignalMiddleware",
    "tornadopy.httpmodule.httpmodule.HttpModuleMiddleware",
)

COMMON_MODULES = ("main.modules.PoweredBy",)
ROUTE_MODULES = {"^/api/": ["!main.modules.PoweredBy"]}

LOGGING_DIR = os.path.join(PROJECT_PATH, "logs")

TEMPLATE_CONFIG = {"template_engine": None}

# Sessions live in CACHES['default'] (a local-memory cache: one process, lost on restart). Keep the
# defaults for everything else; setting_online.py gives the production secret.
SESSION = {"session_cache_alias": "default"}
