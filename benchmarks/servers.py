"""The servers the benchmarks compare, one registry of *servers* x *test types*.

Each server runs in its own process, started by :mod:`benchmarks.run`::

    python -m benchmarks.servers NAME [--loop asyncio|uvloop] [--cpu 0] [--profile FILE]

The process binds a free loopback port chosen by the OS, prints ``READY <port>`` on stdout and
serves until SIGTERM/SIGINT or until its stdin closes (so it never outlives the runner).

Every server answers the same test types on the same paths (``/plaintext``, ``/json``) behind
the same ``tornado.httpserver.HTTPServer`` (limits of tornadopy's ``HTTP_SERVER`` defaults) on
the same event loop, so the rows differ only in the application and handler code.

Adding a test type (TechEmpower ``db``, ``queries``, ``fortunes``, ``updates``, or ``session``):

1. add a :class:`TestType` to :data:`TEST_TYPES` (path, expected content type, a ``check`` of the
   body, and ``requires`` naming what must exist for it to run);
2. write the handler for each server that can do it (raw Tornado doing the work by hand, and
   tornadopy using its own features) and add it to that server's ``handlers`` mapping;
3. if the test needs per-process set-up (a pool, a cache client), do it in the server's
   ``build`` (tornadopy: through settings and ``Application.startup``).

A server without a handler for a test type simply has no row for it.

The database types live in :mod:`benchmarks.dbtests`; ``session`` and the database types run on
the ``tornado`` and ``tornadopy-app`` servers.

TODO (SPEC §16, issue 6): tornadopy under uvicorn/granian (``tornadopy.asgi``) and the peers of
the ``bench`` extra (Starlette on uvicorn, aiohttp, Django on uvicorn): servers of this registry
whose process runs another server than Tornado's ``HTTPServer`` (``serve`` would dispatch on it).
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
    ),
    "queries": TestType(
        "queries",
        "/queries?queries=20",
        "application/json",
        dbtests.check_worlds(20),
        "GET /queries?queries=20 -> 20 random World rows, one query each",
        requires=_db_up,
        setup=dbtests.setup,
    ),
    "fortunes": TestType(
        "fortunes",
        "/fortunes",
        "text/html",
        dbtests.check_fortunes,
        "GET /fortunes -> every Fortune + one added, sorted, rendered by a template",
        requires=_db_up,
        setup=dbtests.setup,
    ),
    "updates": TestType(
        "updates",
        "/updates?queries=20",
        "application/json",
        dbtests.check_worlds(20),
        "GET /updates?queries=20 -> 20 random World rows read, changed and written back",
        requires=_db_up,
        setup=dbtests.setup,
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


def build_raw(handlers: dict[str, type]) -> tornado.web.Application:
    """A plain ``tornado.web.Application`` with one route per test type."""
    return tornado.web.Application(
        [(TEST_TYPES[t].route, h) for t, h in handlers.items()],
        cookie_secret="benchmark-" + "y" * 32,
        template_path=dbtests.TEMPLATE_PATH,
    )


def build_tornadopy(handlers: dict[str, type], **setting_values: Any) -> tornado.web.Application:
    """A tornadopy ``Application`` (settings = defaults + ``setting_values``), named routes."""
    from tornadopy.application import Application
    from tornadopy.conf import settings
    from tornadopy.urls import Url, route

    settings.configure(**setting_values)
    u = Url()
    return Application(
        urls=route(*(u(TEST_TYPES[t].route, h, name=t) for t, h in handlers.items()))
    )


@dataclass(frozen=True)
class ServerSpec:
    """One server of the comparison: its handlers per test type and how to build its app."""

    name: str
    description: str
    handlers: dict[str, type]
    build: Callable[[dict[str, type]], tornado.web.Application]
    #: The server whose figure is 1.00 in the "x raw" column.
    baseline: str = "tornado"
    requires: Callable[[], str | None] = field(default=lambda: None)
    #: In the default selection of ``benchmarks.run`` (others need ``--only``).
    default: bool = True
    #: The HTTP server the application runs on: ``tornado`` (``HTTPServer``) or ``uvicorn``.
    server: str = "tornado"

    def make_app(self) -> tornado.web.Application:
        return self.build(self.handlers)


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
            lambda h: build_tornadopy(h),
            requires=lambda: _importable("uvicorn"),
            server="uvicorn",
        ),
        ServerSpec(
            "tornadopy-app",
            "tornadopy with AccessLogMiddleware + SessionMiddleware (Redis cache alias) + "
            "DBAlchemyMiddleware: the test types that need a service",
            {"session": TpSession, **dbtests.TP_HANDLERS},
            lambda h: build_tornadopy(h, **APP_SETTINGS),
        ),
    )
}


# ---------------------------------------------------------------------- the server process


def _importable(module: str) -> str | None:
    import importlib.util

    return None if importlib.util.find_spec(module) else f"{module} is not installed"


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


async def serve_uvicorn(spec: ServerSpec, host: str, port: int) -> None:
    """The application behind ``tornadopy.asgi`` on uvicorn, on this process's event loop."""
    import uvicorn

    from tornadopy.asgi import ASGIApplication

    app = spec.make_app()
    sockets = bind_sockets(port, host, family=socket.AF_INET)
    config = uvicorn.Config(
        ASGIApplication(app),
        lifespan="on",
        http="httptools" if _importable("httptools") is None else "h11",
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
    print(f"READY {sockets[0].getsockname()[1]}", flush=True)
    await server.serve(sockets=sockets)  # uvicorn handles SIGTERM/SIGINT itself


async def serve(spec: ServerSpec, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve ``spec`` until SIGTERM/SIGINT or EOF on stdin; print ``READY <port>`` when up."""
    if spec.server == "uvicorn":
        await serve_uvicorn(spec, host, port)
        return
    loop = asyncio.get_running_loop()
    app = spec.make_app()
    startup = getattr(app, "startup", None)
    if startup is not None:
        await startup()
    sockets = bind_sockets(port, host, family=socket.AF_INET)
    server = HTTPServer(app, **global_settings.HTTP_SERVER)
    server.add_sockets(sockets)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    _on_stdin_eof(loop, stop.set)
    print(f"READY {sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.stop()
    try:
        await asyncio.wait_for(server.close_all_connections(), 2)
    except TimeoutError:
        pass
    shutdown = getattr(app, "shutdown", None)
    if shutdown is not None:
        await shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run one benchmark server.")
    parser.add_argument("name", choices=sorted(SERVERS))
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port from the OS")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the process, stats to FILE")
    args = parser.parse_args(argv)
    _die_with_parent()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    spec = SERVERS[args.name]
    reason = spec.requires()
    if reason:
        raise SystemExit(f"{spec.name}: cannot run: {reason}")
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
