"""The servers the benchmarks compare, one registry of *servers* x *test types*.

Each server runs in its own process, started by :mod:`benchmarks.run`::

    python -m benchmarks.servers NAME [--loop asyncio|uvloop] [--cpu 0] [--processes N]
                                      [--profile FILE]

The process binds a free loopback port, prints ``READY <port>`` on stdout and serves until
SIGTERM/SIGINT or until its stdin closes (so it never outlives the runner).

How each kind of server (``ServerSpec.server``) runs:

- ``tornado``: ``tornado.httpserver.HTTPServer`` (limits of tornadopy's ``HTTP_SERVER``
  defaults) on this process's event loop;
- ``tornado-fork``: the same, in ``--processes`` children forked after the socket is bound
  (what ``tornadopy.webserver`` does with ``PROCESSES``); the parent only supervises;
- ``uvicorn``: ``uvicorn.Server`` on this process's event loop (httptools, no date/server
  header, no access log), on a socket bound here;
- ``granian``: ``granian.Granian(interface='asgi', workers=N)``: this process is granian's
  supervisor, each worker is a forked child that loads the application through a
  ``target_loader`` (and prints ``READY`` itself once built); the runner pins and accounts the
  whole process tree;
- ``aiohttp``: ``aiohttp.web.AppRunner`` + ``SockSite`` on this process's event loop.

Adding a test type (TechEmpower ``db``, ``queries``, ``fortunes``, ``updates``, or ``session``):

1. add a :class:`TestType` to :data:`TEST_TYPES` (path, expected content type, a ``check`` of the
   body, and ``requires`` naming what must exist for it to run);
2. write the handler for each server that can do it (raw Tornado doing the work by hand, and
   tornadopy using its own features) and add it to that server's ``handlers`` mapping;
3. if the test needs per-process set-up (a pool, a cache client), do it in the server's
   ``build`` (tornadopy: through settings and ``Application.startup``).

A server without a handler for a test type simply has no row for it.

The database types live in :mod:`benchmarks.dbtests`; the peers (Starlette, aiohttp, Django) in
:mod:`benchmarks.peers`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from benchmarks import dbtests
from tornadopy import global_settings
from tornadopy.handler import ApiHandler, WebHandler
from tornadopy.httpmodule import BaseHttpModule

HELLO = b"Hello, World!"
JSON_MESSAGE = {"message": "Hello, World!"}


# ---------------------------------------------------------------------- test types


@dataclass(frozen=True)
class TestType:
    """One kind of request every server answers the same way (a TechEmpower test type)."""

    name: str
    path: str
    content_type: str
    check: Callable[[bytes], bool]
    description: str
    #: Returns None when the test can run here, else the reason it cannot.
    requires: Callable[[], str | None] = lambda: None
    #: Test needs state made by one request first (a session): the runner sends one GET and
    #: replays the cookies it got on every benchmark request.
    uses_cookies: bool = False
    #: Called once by the runner before the servers start (create and fill tables).
    setup: Callable[[], None] | None = None
    #: Uses the database: the runner loads it with ``--db-connections`` connections (the
    #: MariaDB server is shared: Django opens one connection per concurrent request).
    database: bool = False

    @property
    def route(self) -> str:
        """The path without its query string (the route pattern)."""
        return self.path.split("?", 1)[0]


def _check_json(body: bytes) -> bool:
    try:
        return bool(json.loads(body) == JSON_MESSAGE)
    except ValueError:
        return False


def _check_session(body: bytes) -> bool:
    try:
        count = json.loads(body)["count"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(count, int) and count >= 1


def _service_up(host: str, port: int, name: str) -> Callable[[], str | None]:
    def check() -> str | None:
        try:
            with socket.create_connection((host, port), timeout=1):
                return None
        except OSError as exc:
            return f"{name} is not reachable on {host}:{port} ({exc})"

    return check


REDIS = ("127.0.0.1", 6379)
_db_up = _service_up(dbtests.DB_HOST, dbtests.DB_PORT, "MariaDB")

TEST_TYPES: dict[str, TestType] = {
    "plaintext": TestType(
        "plaintext",
        "/plaintext",
        "text/plain",
        lambda body: body == HELLO,
        "GET /plaintext -> 'Hello, World!' (text/plain)",
    ),
    "json": TestType(
        "json",
        "/json",
        "application/json",
        _check_json,
        'GET /json -> {"message": "Hello, World!"} serialised per request',
    ),
    "session": TestType(
        "session",
        "/session",
        "application/json",
        _check_session,
        "GET /session with a session cookie: read the session from Redis, increment 'count', "
        'write it back (one GET + one SET), answer {"count": n}',
        requires=_service_up(*REDIS, "Redis"),
        uses_cookies=True,
    ),
    "db": TestType(
        "db",
        "/db",
        "application/json",
        dbtests.check_world,
        "GET /db -> one random World row as JSON",
        requires=_db_up,
        setup=dbtests.setup,
        database=True,
    ),
    "queries": TestType(
        "queries",
        "/queries?queries=20",
        "application/json",
        dbtests.check_worlds(20),
        "GET /queries?queries=20 -> 20 random World rows, one query each",
        requires=_db_up,
        setup=dbtests.setup,
        database=True,
    ),
    "fortunes": TestType(
        "fortunes",
        "/fortunes",
        "text/html",
        dbtests.check_fortunes,
        "GET /fortunes -> every Fortune + one added, sorted, rendered by a template",
        requires=_db_up,
        setup=dbtests.setup,
        database=True,
    ),
    "updates": TestType(
        "updates",
        "/updates?queries=20",
        "application/json",
        dbtests.check_worlds(20),
        "GET /updates?queries=20 -> 20 random World rows read, changed and written back",
        requires=_db_up,
        setup=dbtests.setup,
        database=True,
    ),
}


# ---------------------------------------------------------------------- raw Tornado


class RawPlaintext(tornado.web.RequestHandler):
    """Plain ``tornado.web.RequestHandler`` hello-world."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write(HELLO)


class RawJson(tornado.web.RequestHandler):
    """Plain ``tornado.web.RequestHandler`` JSON, serialised per request."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps(JSON_MESSAGE))


_raw_redis: dict[Any, Any] = {}


def raw_redis() -> Any:
    """One ``redis.asyncio`` client per event loop (what a hand-written Tornado app keeps)."""
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    client = _raw_redis.get(loop)
    if client is None:
        client = _raw_redis[loop] = aioredis.Redis(host=REDIS[0], port=REDIS[1])
    return client


class RawSession(tornado.web.RequestHandler):
    """A session by hand: signed id cookie, JSON record in Redis (GET, then SET with expiry)."""

    async def get(self) -> None:
        redis = raw_redis()
        sid = self.get_signed_cookie("rawsid")
        data: dict[str, Any] | None = None
        if sid:
            raw = await redis.get(b"rawbench:session:" + sid)
            data = json.loads(raw) if raw else None
        if data is None or sid is None:
            sid = secrets.token_urlsafe(24).encode()
            data = {}
            self.set_signed_cookie("rawsid", sid, httponly=True)
        data["count"] = data.get("count", 0) + 1
        await redis.set(b"rawbench:session:" + sid, json.dumps(data), ex=86400)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps({"count": data["count"]}))


# ---------------------------------------------------------------------- tornadopy


class TpPlaintext(WebHandler):
    """tornadopy ``WebHandler`` hello-world (same body as :class:`RawPlaintext`)."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write(HELLO)


class TpJson(ApiHandler):
    """tornadopy ``ApiHandler.write_api`` JSON."""

    def get(self) -> None:
        self.write_api(JSON_MESSAGE)


class TpSession(WebHandler):
    """tornadopy session (``SessionMiddleware`` on a Redis cache alias)."""

    session: Any  # set by SessionMiddleware.process_request

    async def get(self) -> None:
        count = (await self.session.get("count", 0)) + 1
        await self.session.set("count", count)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps({"count": count}))


class NoopMiddleware:
    """A middleware defining call/request/response/endcall as ``async def`` no-ops."""

    async def process_call(self, request: Any, clear: Any) -> None:
        return None

    async def process_request(self, handler: Any, clear: Any) -> None:
        return None

    async def process_response(self, handler: Any, clear: Any, chunk: list[bytes]) -> None:
        return None

    async def process_endcall(self, handler: Any, clear: Any) -> None:
        return None


class NoopMiddleware1(NoopMiddleware):
    pass


class NoopMiddleware2(NoopMiddleware):
    pass


class NoopMiddleware3(NoopMiddleware):
    pass


class NoopMiddleware4(NoopMiddleware):
    pass


class NoopMiddleware5(NoopMiddleware):
    pass


class NoopModule(BaseHttpModule):
    """An HTTP module defining every hook as an ``async def`` no-op."""

    async def begin_request(self, handler: Any, clear: Any) -> None:
        return None

    async def begin_render(self, handler: Any, clear: Any, template_name: str, **kw: Any) -> None:
        return None

    async def begin_response(self, handler: Any, clear: Any, chunk: list[bytes]) -> None:
        return None

    async def complete_response(self, handler: Any, clear: Any) -> None:
        return None


class NoopModule1(NoopModule):
    pass


class NoopModule2(NoopModule):
    pass


#: The issue-3 stack: five no-op middlewares, HTTP modules (two no-op common modules), signals
#: without receivers.
STACK_SETTINGS: dict[str, Any] = {
    "MIDDLEWARE_CLASSES": (
        *(f"benchmarks.servers.NoopMiddleware{i}" for i in range(1, 6)),
        "tornadopy.httpmodule.httpmodule.HttpModuleMiddleware",
        "tornadopy.middleware.signal.SignalMiddleware",
    ),
    "COMMON_MODULES": ("benchmarks.servers.NoopModule1", "benchmarks.servers.NoopModule2"),
}


#: tornadopy as an application using its services would be configured: default middleware plus
#: sessions on Redis (the test types that need a service run here).
APP_SETTINGS: dict[str, Any] = {
    "MIDDLEWARE_CLASSES": (
        "tornadopy.middleware.accesslog.AccessLogMiddleware",
        "tornadopy.middleware.session.SessionMiddleware",
    ),
    "CACHES": {
        "bench_session": {
            "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
            "LOCATION": f"{REDIS[0]}:{REDIS[1]}",
            "KEY_PREFIX": "tpbench",
        },
    },
    "SESSION": {"session_cache_alias": "bench_session", "secret_key": "benchmark-" + "x" * 32},
    "TORNADO_CONF": {"template_path": dbtests.TEMPLATE_PATH},
    **dbtests.TP_SETTINGS,
}
APP_SETTINGS["MIDDLEWARE_CLASSES"] += ("tornadopy.middleware.dbalchemy.DBAlchemyMiddleware",)


# ---------------------------------------------------------------------- servers


def build_raw(handlers: dict[str, Any]) -> tornado.web.Application:
    """A plain ``tornado.web.Application`` with one route per test type."""
    return tornado.web.Application(
        [(TEST_TYPES[t].route, h) for t, h in handlers.items()],
        cookie_secret="benchmark-" + "y" * 32,
        template_path=dbtests.TEMPLATE_PATH,
    )


def build_tornadopy(handlers: dict[str, Any], **setting_values: Any) -> tornado.web.Application:
    """A tornadopy ``Application`` (settings = defaults + ``setting_values``), named routes."""
    from tornadopy.application import Application
    from tornadopy.conf import settings
    from tornadopy.urls import Url, route

    settings.configure(**setting_values)
    u = Url()
    return Application(
        urls=route(*(u(TEST_TYPES[t].route, h, name=t) for t, h in handlers.items()))
    )


def build_tornadopy_asgi(handlers: dict[str, Any], **setting_values: Any) -> Any:
    """:func:`build_tornadopy`'s application behind ``tornadopy.asgi.ASGIApplication``."""
    from tornadopy.asgi import ASGIApplication

    return ASGIApplication(build_tornadopy(handlers, **setting_values))


def _importable(*modules: str) -> Callable[[], str | None]:
    """A ``requires`` check: the reason when one of ``modules`` is not installed, else None."""

    def check() -> str | None:
        import importlib.util

        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        return (
            f"{', '.join(missing)} not installed (pip install 'tornadopy[bench]')"
            if missing
            else None
        )

    return check


def _all(*checks: Callable[[], str | None]) -> Callable[[], str | None]:
    def check() -> str | None:
        for c in checks:
            reason = c()
            if reason:
                return reason
        return None

    return check


def _peer(module: str, attr: str) -> Any:
    """``benchmarks.peers.<module>.<attr>``, or None when its package is not installed."""
    import importlib

    try:
        return getattr(importlib.import_module(f"benchmarks.peers.{module}"), attr)
    except ImportError:
        return None


def _peer_handlers(module: str) -> dict[str, Any]:
    return _peer(module, "HANDLERS") or {"plaintext": None, "json": None}


def _peer_build(module: str) -> Callable[[dict[str, Any]], Any]:
    def build(handlers: dict[str, Any]) -> Any:
        return _peer(module, "build")(handlers)

    return build


#: how a server process serves, per ``ServerSpec.server``
SERVER_KINDS = ("tornado", "tornado-fork", "uvicorn", "granian", "aiohttp")


@dataclass(frozen=True)
class ServerSpec:
    """One server of the comparison: its handlers per test type and how to build its app."""

    name: str
    description: str
    #: test type -> handler (what ``build`` routes); the keys are the tests this server answers
    handlers: dict[str, Any]
    #: the application to serve: a ``tornado.web.Application`` for ``tornado``/``tornado-fork``,
    #: an ASGI callable for ``uvicorn``/``granian``, an ``aiohttp.web.Application`` for aiohttp
    build: Callable[[dict[str, Any]], Any]
    #: The server whose figure is 1.00 in the "x raw" column.
    baseline: str = "tornado"
    requires: Callable[[], str | None] = field(default=lambda: None)
    #: In the default selection of ``benchmarks.run`` (others need ``--only``).
    default: bool = True
    #: The HTTP server the application runs on (one of :data:`SERVER_KINDS`).
    server: str = "tornado"
    #: Server processes (``tornado-fork``) or workers (``granian``); > 1 is not pinned to one CPU.
    processes: int = 1
    #: For a multi-process row: the one-process row it is compared with.
    single: str | None = None
    #: Django & co.: a peer of the ``bench`` extra rather than tornadopy or raw Tornado
    peer: bool = False

    def make_app(self) -> Any:
        return self.build(self.handlers)


_uvicorn = _importable("uvicorn")
_granian = _importable("granian")

SERVERS: dict[str, ServerSpec] = {
    s.name: s
    for s in (
        ServerSpec(
            "tornado",
            "raw tornado.web.Application + RequestHandler",
            {
                "plaintext": RawPlaintext,
                "json": RawJson,
                "session": RawSession,
                **dbtests.RAW_HANDLERS,
            },
            build_raw,
        ),
        ServerSpec(
            "tornadopy",
            "tornadopy Application, WebHandler / ApiHandler.write_api, no middleware",
            {"plaintext": TpPlaintext, "json": TpJson},
            lambda h: build_tornadopy(h, MIDDLEWARE_CLASSES=()),
        ),
        ServerSpec(
            "tornadopy-stack",
            "tornadopy + 5 no-op async middlewares + HttpModuleMiddleware (2 no-op common "
            "modules) + SignalMiddleware (no receivers)",
            {"plaintext": TpPlaintext, "json": TpJson},
            lambda h: build_tornadopy(h, **STACK_SETTINGS),
        ),
        ServerSpec(
            "tornadopy-default",
            "tornadopy with the default settings (MIDDLEWARE_CLASSES = AccessLogMiddleware; "
            "logging not configured, so no line is written)",
            {"plaintext": TpPlaintext, "json": TpJson},
            lambda h: build_tornadopy(h),
        ),
        ServerSpec(
            "tornadopy-uvicorn",
            "tornadopy-default's application under uvicorn (httptools, same event loop) through "
            "tornadopy.asgi",
            {"plaintext": TpPlaintext, "json": TpJson},
            lambda h: build_tornadopy_asgi(h),
            requires=_uvicorn,
            server="uvicorn",
        ),
        ServerSpec(
            "tornadopy-granian",
            "tornadopy-default's application under granian (1 worker process, asgi interface, "
            "same event loop kind) through tornadopy.asgi",
            {"plaintext": TpPlaintext, "json": TpJson},
            lambda h: build_tornadopy_asgi(h),
            requires=_granian,
            server="granian",
        ),
        ServerSpec(
            "tornadopy-app",
            "tornadopy with AccessLogMiddleware + SessionMiddleware (Redis cache alias) + "
            "DBAlchemyMiddleware: the test types that need a service",
            {"session": TpSession, **dbtests.TP_HANDLERS},
            lambda h: build_tornadopy(h, **APP_SETTINGS),
        ),
        ServerSpec(
            "tornadopy-app-basedb",
            "tornadopy-app with the database types written with tornadopy's basedb (web.py's "
            "API, a DB made from the URL) instead of Model.Q/Model.session",
            dict(dbtests.TP_BASEDB_HANDLERS),
            lambda h: build_tornadopy(h, **APP_SETTINGS),
        ),
        ServerSpec(
            "tornadopy-app-uvicorn",
            "tornadopy-app's application under uvicorn through tornadopy.asgi",
            {"session": TpSession, **dbtests.TP_HANDLERS},
            lambda h: build_tornadopy_asgi(h, **APP_SETTINGS),
            requires=_uvicorn,
            server="uvicorn",
        ),
        ServerSpec(
            "tornadopy-app-granian",
            "tornadopy-app's application under granian (1 worker) through tornadopy.asgi",
            {"session": TpSession, **dbtests.TP_HANDLERS},
            lambda h: build_tornadopy_asgi(h, **APP_SETTINGS),
            requires=_granian,
            server="granian",
        ),
        ServerSpec(
            "starlette-uvicorn",
            "peer: Starlette (async endpoints, PlainTextResponse/JSONResponse) on uvicorn "
            "(httptools, same event loop)",
            _peer_handlers("starlette_app"),
            _peer_build("starlette_app"),
            requires=_importable("starlette", "uvicorn"),
            server="uvicorn",
            peer=True,
        ),
        ServerSpec(
            "aiohttp",
            "peer: aiohttp's own server (web.Response/web.json_response, no access log)",
            _peer_handlers("aiohttp_app"),
            _peer_build("aiohttp_app"),
            requires=_importable("aiohttp"),
            server="aiohttp",
            peer=True,
        ),
        ServerSpec(
            "django-uvicorn",
            "peer: Django's ASGI handler on uvicorn; sync views, SessionMiddleware (cache "
            "sessions on RedisCache), ORM on MariaDB (CONN_MAX_AGE=600), Django templates",
            _peer_handlers("django_bench"),
            _peer_build("django_bench"),
            requires=_importable("django", "uvicorn"),
            server="uvicorn",
            peer=True,
        ),
        ServerSpec(
            "tornadopy-default-p2",
            "tornadopy-default on Tornado's HTTPServer in 2 processes forked after binding "
            "(--processes; not pinned: shares the cores with the load generator)",
            {"plaintext": TpPlaintext, "json": TpJson},
            lambda h: build_tornadopy(h),
            server="tornado-fork",
            processes=2,
            single="tornadopy-default",
        ),
        ServerSpec(
            "tornadopy-granian-p2",
            "tornadopy-granian with 2 granian workers (--processes; not pinned: shares the "
            "cores with the load generator)",
            {"plaintext": TpPlaintext, "json": TpJson},
            lambda h: build_tornadopy_asgi(h),
            requires=_granian,
            server="granian",
            processes=2,
            single="tornadopy-granian",
        ),
    )
}


# ---------------------------------------------------------------------- the server process


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop factory for ``--loop`` (``asyncio`` or ``uvloop``)."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if name != "asyncio":
        raise SystemExit(f"unknown event loop {name!r} (asyncio or uvloop)")
    return asyncio.new_event_loop


def _die_with_parent() -> None:
    """Linux: get SIGTERM when the parent (the runner) dies, whatever the way."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _on_stdin_eof(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Call ``callback`` when stdin closes (the runner is gone)."""
    if os.isatty(0):
        return

    def on_stdin() -> None:
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
            callback()

    loop.add_reader(0, on_stdin)


def _stdin_eof_thread(callback: Callable[[], None]) -> None:
    """Call ``callback`` from a daemon thread when stdin closes (no event loop here)."""
    if os.isatty(0):
        return

    def watch() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        callback()

    threading.Thread(target=watch, name="stdin-eof", daemon=True).start()


def _bind(port: int, host: str = "127.0.0.1") -> list[socket.socket]:
    return bind_sockets(port, host, family=socket.AF_INET)


def _ready(port: int) -> None:
    print(f"READY {port}", flush=True)


async def _wait_for_stop(watch_stdin: bool = True) -> None:
    """Until SIGTERM/SIGINT (or EOF on stdin when ``watch_stdin``)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if watch_stdin:
        _on_stdin_eof(loop, stop.set)
    await stop.wait()


async def serve_uvicorn(spec: ServerSpec, sockets: list[socket.socket]) -> None:
    """The ASGI application ``spec`` builds, on uvicorn, on this process's event loop."""
    import uvicorn

    config = uvicorn.Config(
        spec.make_app(),
        lifespan="auto",  # Django has no lifespan support
        http="httptools" if _importable("httptools")() is None else "h11",
        server_header=False,
        date_header=False,
        access_log=False,
        log_level="warning",
        timeout_keep_alive=60,
    )
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    _on_stdin_eof(asyncio.get_running_loop(), stop)
    _ready(sockets[0].getsockname()[1])
    await server.serve(sockets=sockets)  # uvicorn handles SIGTERM/SIGINT itself


async def serve_aiohttp(spec: ServerSpec, sockets: list[socket.socket]) -> None:
    """aiohttp's own server for the ``aiohttp.web.Application`` ``spec`` builds."""
    from aiohttp import web

    runner = web.AppRunner(spec.make_app(), access_log=None, handle_signals=False)
    await runner.setup()
    for sock in sockets:
        await web.SockSite(runner, sock).start()
    _ready(sockets[0].getsockname()[1])
    try:
        await _wait_for_stop()
    finally:
        await runner.cleanup()


async def serve_tornado(
    spec: ServerSpec,
    sockets: list[socket.socket],
    watch_stdin: bool = True,
    on_ready: Callable[[int], None] = _ready,
) -> None:
    """``spec``'s Tornado application on ``HTTPServer`` until SIGTERM/SIGINT (or stdin EOF)."""
    app = spec.make_app()
    startup = getattr(app, "startup", None)
    if startup is not None:
        await startup()
    server = HTTPServer(app, **global_settings.HTTP_SERVER)
    server.add_sockets(sockets)
    on_ready(sockets[0].getsockname()[1])
    await _wait_for_stop(watch_stdin)
    server.stop()
    try:
        await asyncio.wait_for(server.close_all_connections(), 2)
    except TimeoutError:
        pass
    shutdown = getattr(app, "shutdown", None)
    if shutdown is not None:
        await shutdown()


async def serve(spec: ServerSpec, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve ``spec`` (one process) until SIGTERM/SIGINT or EOF on stdin; ``READY <port>``."""
    sockets = _bind(port, host)
    if spec.server == "uvicorn":
        await serve_uvicorn(spec, sockets)
    elif spec.server == "aiohttp":
        await serve_aiohttp(spec, sockets)
    elif spec.server == "tornado":
        await serve_tornado(spec, sockets)
    else:
        raise ValueError(f"{spec.name}: serve() cannot run a {spec.server!r} server")


def serve_forked(spec: ServerSpec, loop: str, processes: int, port: int = 0) -> None:
    """``spec`` on Tornado's ``HTTPServer`` in ``processes`` children forked after binding.

    The minimal equivalent of ``tornadopy.webserver`` with ``PROCESSES``: bind, fork, each child
    builds the application and serves the inherited socket (the kernel spreads the
    connections). The parent prints ``READY`` once every child listens, and on SIGTERM/SIGINT
    or stdin EOF sends SIGTERM to the children and reaps them. Children die with the parent
    (``PR_SET_PDEATHSIG``).
    """
    sockets = _bind(port)
    bound = sockets[0].getsockname()[1]
    ready_r, ready_w = os.pipe()
    children: list[int] = []
    sys.stdout.flush()
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                os.close(ready_r)
                _die_with_parent()

                def child_ready(_port: int) -> None:
                    os.write(ready_w, b"r")

                with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
                    runner.run(serve_tornado(spec, sockets, False, child_ready))
            except BaseException:  # report, then leave without the parent's atexit handlers
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)
    os.close(ready_w)
    for sock in sockets:
        sock.close()  # the children hold it
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    _stdin_eof_thread(stop.set)
    got = b""
    while len(got) < processes:
        chunk = os.read(ready_r, processes)
        if not chunk:
            break
        got += chunk
    os.close(ready_r)
    if len(got) == processes:
        _ready(bound)
        while not stop.wait(0.5):
            if any(os.waitpid(pid, os.WNOHANG)[0] for pid in children):
                break  # a child died: stop the others too
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _free_port(host: str = "127.0.0.1") -> int:
    """A free loopback port (granian binds it itself, so it cannot take a bound socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def serve_granian(spec: ServerSpec, loop: str, workers: int, port: int = 0) -> None:
    """``spec``'s ASGI application on granian with ``workers`` worker processes.

    This process is granian's supervisor (it binds the socket and forks the workers; SIGTERM or
    SIGINT make it stop the workers and return). Each worker builds the application through the
    ``target_loader`` (after the fork: pools and clients are per worker), asks for SIGTERM when
    the supervisor dies, and prints ``READY <port>`` itself (the first line wins; the runner
    ignores the others). EOF on stdin sends this process SIGTERM.
    """
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels

    port = port or _free_port()

    def target_loader(_target: str) -> Any:  # runs in each worker
        _die_with_parent()
        app = spec.make_app()
        _ready(port)
        return app

    server = Granian(
        f"benchmarks.servers:{spec.name}",  # informative only: the loader builds the app
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop if loop == "uvloop" else Loops.asyncio,
        http=HTTPModes.http1,
        websockets=False,
        log_access=False,
        log_level=LogLevels.warning,
        backlog=1024,
        workers_kill_timeout=30,
        respawn_failed_workers=False,
    )
    _stdin_eof_thread(lambda: os.kill(os.getpid(), signal.SIGTERM))
    sys.stdout.flush()
    server.serve(target_loader=target_loader)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run one benchmark server.")
    parser.add_argument("name", choices=sorted(SERVERS))
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port from the OS")
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="processes/workers of a multi-process server (default: the registry's, 2)",
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the process, stats to FILE")
    args = parser.parse_args(argv)
    _die_with_parent()
    # pinned before any fork: granian's workers and forked children inherit the affinity
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    spec = SERVERS[args.name]
    reason = spec.requires()
    if reason:
        raise SystemExit(f"{spec.name}: cannot run: {reason}")
    processes = spec.processes if args.processes is None or spec.processes == 1 else args.processes
    if spec.server == "granian":
        serve_granian(spec, args.loop, processes, args.port)
        return
    if spec.server == "tornado-fork":
        serve_forked(spec, args.loop, processes, args.port)
        return
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
            runner.run(serve(spec, port=args.port))
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
    sys.stdout.flush()


if __name__ == "__main__":
    # run the copy imported as ``benchmarks.servers`` (the one the dotted paths name)
    from benchmarks.servers import main as _main

    _main()
