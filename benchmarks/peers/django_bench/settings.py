"""Django settings of the benchmark peer (see the package docstring)."""

from __future__ import annotations

from pathlib import Path

try:
    import MySQLdb  # noqa: F401  (mysqlclient)

    _DRIVER_OPTIONS: dict[str, object] = {}
except ImportError:  # PyMySQL stands in for it
    import pymysql

    pymysql.install_as_MySQLdb()
    # PyMySQL >= 1.2 prefers TLS: it builds a default SSL context (loading the system CA
    # bundle, ~40 ms of CPU) on every connect. Plain TCP on loopback, like aiomysql's default
    # on the other rows.
    _DRIVER_OPTIONS = {"ssl_disabled": True}

from benchmarks import dbtests

DEBUG = False
SECRET_KEY = "benchmark-" + "z" * 40
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "benchmarks.peers.django_bench.urls"
INSTALLED_APPS = ["benchmarks.peers.django_bench"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
USE_TZ = True
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": "test",
        "USER": "root",
        "PASSWORD": "",
        "HOST": dbtests.DB_HOST,
        "PORT": str(dbtests.DB_PORT),
        "OPTIONS": {"charset": "utf8mb4", **_DRIVER_OPTIONS},
        # Django's documentation: "When using ASGI, persistent connections should be disabled"
        # (each request runs its sync code in a thread of its own, and a persistent connection
        # per thread would leak); its built-in pool is PostgreSQL-only. So: one connection per
        # request, closed at the end of it.
        "CONN_MAX_AGE": 0,
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/0",
        "KEY_PREFIX": "djbench",
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [str(Path(__file__).with_name("templates"))],
        "APP_DIRS": False,
    }
]
LOGGING_CONFIG = None
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
