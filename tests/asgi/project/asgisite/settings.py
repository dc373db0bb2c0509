"""Settings of the ASGI test site. Files go to ``TP_ASGI_DIR`` (a per-test temporary folder)."""

import os

_DIR = os.environ.get("TP_ASGI_DIR") or os.path.join(os.getcwd(), "asgisite-tmp")

DEBUG = False
INSTALLED_APPS = ("asgisite",)
MIDDLEWARE_CLASSES = (
    "tornadopy.middleware.accesslog.AccessLogMiddleware",
    "asgisite.middleware.RecordingMiddleware",
)
TORNADO_CONF = {
    "xsrf_cookies": False,
    "cookie_secret": "asgi-tests-cookie-secret-0123456789abcdef",
    "static_path": os.path.join(_DIR, "static"),
    "template_path": os.path.join(_DIR, "templates"),
}
SESSION = {"secret_key": "asgi-tests-session-secret-0123456789"}
TOKEN = {"secret_key": "asgi-tests-token-secret-0123456789ab"}
# small, so the size-limit tests stay quick (the streaming upload raises its own limit)
HTTP_SERVER = {"max_body_size": 64 * 1024}
LOGGING_DIR = os.path.join(_DIR, "logs")
SHUTDOWN_TIMEOUT = 5
PROCESSES = 1
