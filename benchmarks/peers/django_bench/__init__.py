"""Django on uvicorn (``django.core.asgi.get_asgi_application``), every test type.

What a Django user would deploy for these requests:

- **sync views** (``def``). Django's ORM and its cache-backed session are synchronous. Under
  ASGI, Django runs each request in an ``asgiref`` ``ThreadSensitiveContext``: the (all-sync)
  middleware chain and the sync view run in one ``sync_to_async(thread_sensitive=True)`` call,
  on a thread of that request's own (a new one-thread executor per request). ``async def``
  views calling ``aget()``/``asave()`` hop to that same thread once per query instead, and
  ``SessionMiddleware`` hops there anyway, so sync views are the cheaper deployment here.
- ``DEBUG = False``, ``MIDDLEWARE = [SessionMiddleware]`` (sessions need it; nothing else:
  TechEmpower's Django runs without middleware), ``SESSION_ENGINE`` =
  ``django.contrib.sessions.backends.cache`` on ``django.core.cache.backends.redis.RedisCache``
  (the same Redis as the other rows), JSON serializer (Django's default).
- MySQL backend on MariaDB ``test`` (tables ``tpbench_world``/``tpbench_fortune`` of
  :mod:`benchmarks.dbtests`, unmanaged models). ``CONN_MAX_AGE = 0``: Django's documentation
  says "When using ASGI, persistent connections should be disabled" (a connection lives in
  the request's thread, so persistent ones leak), and its built-in pool is PostgreSQL-only;
  so every database request connects and disconnects, as a production Django on ASGI with
  MySQL does. Django's backend needs ``MySQLdb``: mysqlclient when installed, else PyMySQL
  standing in for it through ``pymysql.install_as_MySQLdb()`` (:func:`driver` says which).
- ``queries``/``updates``: one ``get()`` per row; ``updates`` writes the rows with one
  ``bulk_update`` inside ``transaction.atomic()`` (TechEmpower's Django does the same).
"""

from __future__ import annotations

import os
from typing import Any

SETTINGS_MODULE = "benchmarks.peers.django_bench.settings"

#: the test types it answers (the views are in :mod:`.views`, imported after ``django.setup()``)
HANDLERS: dict[str, Any] = {
    t: t for t in ("plaintext", "json", "session", "db", "queries", "fortunes", "updates")
}


def driver() -> str:
    """The DB-API module behind Django's MySQL backend here: mysqlclient or PyMySQL."""
    import importlib.util

    if importlib.util.find_spec("MySQLdb") is not None:
        return "mysqlclient"
    if importlib.util.find_spec("pymysql") is not None:
        return "PyMySQL through pymysql.install_as_MySQLdb() (mysqlclient is not installed)"
    return "none (install mysqlclient or PyMySQL)"


def build(handlers: dict[str, Any]) -> Any:
    """Django's ASGI application, settings from :mod:`.settings`."""
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    from django.core.asgi import get_asgi_application

    return get_asgi_application()
