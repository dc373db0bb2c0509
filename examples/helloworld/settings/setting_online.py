"""Production settings of the helloworld example: DEBUG off, secrets from the environment.

tornadopy refuses to start with DEBUG = False while a secret is empty or a shipped default, so
set TORNADOPY_SESSION_SECRET, TORNADOPY_TOKEN_SECRET and TORNADOPY_COOKIE_SECRET first.
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
SESSION = {"secret_key": os.environ.get("TORNADOPY_SESSION_SECRET", ""), "secure": True}
TOKEN = {"secret_key": os.environ.get("TORNADOPY_TOKEN_SECRET", "")}
