"""Settings of the rate-limit site run as real processes by ``test_processes.py``."""

import os

DEBUG = True
INSTALLED_APPS = ("rlsite",)
MIDDLEWARE_CLASSES = ("tornadopy.httpmodule.httpmodule.HttpModuleMiddleware",)
CACHES = {
    "default": {"BACKEND": "tornadopy.cache.backends.localcache.LocMemCache"},
    "rl": {
        "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
        "LOCATION": "127.0.0.1:6379",
        "KEY_PREFIX": os.environ["RLSITE_PREFIX"],
        "OPTIONS": {"DB": 11},
    },
}
ROUTE_MODULES = {"Hit": ["rlsite.urls.FivePerMinute"]}
LOGGING_DIR = "."
