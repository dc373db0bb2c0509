"""The web server: ``run()`` and :class:`Server` (SPEC §2).

::

    from tornadopy.webserver import run
    run()                       # parse the command line, load apps, serve until SIGTERM

    serv = Server()
    serv.parse_command()        # after your own define()s
    serv.load_urls()
    serv.load_application()     # or your Application subclass / instance
    serv.server_start(no_keep_alive=False)

Command-line options: ``--address``, ``--port``, ``--settings``, ``--processes`` (0 = one per
CPU), ``--logging_dir``, ``--log_port_prefix``, ``--disable_log``.

Shutdown (SIGTERM/SIGINT): stop accepting, let in-flight requests finish (up to
``SHUTDOWN_TIMEOUT``), close idle connections, run every ``process_shutdown``, close cache clients
and database pools, exit 0. With ``--processes N`` the sockets are bound once, then N children
are forked; each child builds its own clients and pools after the fork.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import tornado.options
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.options import define, options

from tornadopy.application import Application, load_app_urls
from tornadopy.conf import ENVIRONMENT_VARIABLE, check_settings, settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.metrics import mark_worker_dead, prepare_multiprocess
from tornadopy.urls import RouteSpec

__all__ = ["Server", "run"]


def _define(name: str, **kwargs: Any) -> None:
    if name not in options:
        define(name, **kwargs)


def define_options() -> None:
    """Define tornadopy's command-line options (idempotent)."""
    _define("address", default="127.0.0.1", type=str, help="address to listen on")
    _define("port", default=8000, type=int, help="port to listen on")
    _define("settings", default="", type=str, help="settings module, e.g. settings.setting")
    _define("processes", default=None, type=int, help="worker processes (0 = one per CPU)")
    _define("logging_dir", default="", type=str, help="log directory (overrides LOGGING_DIR)")
    _define("log_port_prefix", default=False, type=bool, help="put the port in log file names")
    _define(
        "disable_log", default=False, type=bool, help="use Tornado's logging instead of LOGGING"
    )
    _define("server", default="", type=str, help="tornado (default: SERVER), uvicorn or granian")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    if str(settings.EVENT_LOOP).lower() == "uvloop":
        try:
            import uvloop

            return uvloop.new_event_loop
        except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
            pass
    return asyncio.new_event_loop


class Server:
    """Builds and runs the HTTP server; each step can be called on its own (seed API)."""

    def __init__(self) -> None:
        self.application: Application | None = None
        self.httpserver: HTTPServer | None = None
        self.urls: list[RouteSpec] = []
        self.sockets: list[socket.socket] = []
        self.httpserver_kwargs: dict[str, Any] = {}
        self.exit_code = 0
        self._stop: asyncio.Event | None = None
        self._parsed = False
        #: 0..N-1 in a worker forked by --processes, else None
        self.task_id: int | None = None

    # ------------------------------------------------------------------ seed API
    def parse_command(self, args: list[str] | None = None, final: bool = True) -> None:
        """Parse the command line (like ``tornado.options.parse_command_line``), choose the
        settings module, check settings and set up logging. Call it after your ``define()``s."""
        define_options()
        tornado.options.parse_command_line(args, final=final)
        if options.settings:
            os.environ[ENVIRONMENT_VARIABLE] = options.settings
            os.environ.pop("TORNADOPY_APP_SETTINGS", None)
        settings.reset()
        settings.DEBUG  # noqa: B018 - import the settings module now: errors surface at start
        check_settings()
        self._setup_logging()
        self._parsed = True

    def _setup_logging(self) -> None:
        try:
            from tornadopy.logger import configure_logging
        except ImportError:  # pragma: no cover
            return
        configure_logging(
            logging_dir=options.logging_dir or None,
            port=options.port,
            log_port_prefix=options.log_port_prefix,
            disable_log=options.disable_log,
        )

    def load_urls(self) -> list[RouteSpec]:
        """Load the routes of every ``INSTALLED_APPS`` entry."""
        self.urls = load_app_urls(settings.INSTALLED_APPS)
        return self.urls

    def load_application(self, application: Any = None) -> Application:
        """Build the application: an :class:`Application` subclass, an instance, or None."""
        if application is None:
            application = Application
        if isinstance(application, type):
            if not issubclass(application, Application):
                raise ImproperlyConfigured(
                    f"load_application() needs tornadopy.application.Application or a subclass, "
                    f"got {application.__module__}.{application.__qualname__}"
                )
            self.application = application(urls=self.urls or None)
        elif isinstance(application, Application):
            self.application = application
        else:
            raise ImproperlyConfigured(
                f"load_application() needs an Application instance or subclass, got {application!r}"
            )
        return self.application

    def load_httpserver(
        self, sockets: list[socket.socket] | None = None, **httpserver_kwargs: Any
    ) -> HTTPServer:
        """Create the HTTP server (limits from ``HTTP_SERVER``) and bind its sockets."""
        if self.application is None:
            self.load_application()
        kwargs: dict[str, Any] = dict(settings.HTTP_SERVER)
        # XHEADERS is applied by the Application, and only for TRUSTED_PROXIES (tornadopy.proxy);
        # Tornado's own xheaders would believe any client.
        kwargs["xheaders"] = False
        kwargs.update(httpserver_kwargs)
        backlog = kwargs.pop("backlog", 1024)  # the seed passed it here; it belongs to listen()
        self.httpserver_kwargs = kwargs
        self.httpserver = HTTPServer(self.application, **kwargs)
        if sockets is None:
            family = socket.AF_INET if settings.IPV4_ONLY else socket.AF_UNSPEC
            sockets = bind_sockets(options.port, options.address, family=family, backlog=backlog)
        self.sockets = list(sockets)
        return self.httpserver

    def server_start(self, sockets: list[socket.socket] | None = None, **kwargs: Any) -> int:
        """Create the HTTP server and serve until shutdown (= ``load_httpserver`` + ``start``)."""
        self.load_httpserver(sockets, **kwargs)
        return self.start()

    def load_all(
        self, application: Any = None, sockets: list[socket.socket] | None = None, **kwargs: Any
    ) -> None:
        """``parse_command`` + ``load_urls`` + ``load_application`` + ``load_httpserver``."""
        if not self._parsed:
            self.parse_command()
        self.load_urls()
        self.load_application(application)
        self.load_httpserver(sockets, **kwargs)

    # ------------------------------------------------------------------ running
    def start(self) -> int:
        """Serve until SIGTERM/SIGINT, then shut down gracefully; returns the exit code."""
        if self.httpserver is None:
            self.load_httpserver()
        processes = options.processes if options.processes is not None else settings.PROCESSES
        if processes != 1:
            prepare_multiprocess()  # before the fork: the workers share their metrics
            self._fork(processes)
        # a signal that arrives before the loop runs still means "shut down gracefully"
        early: list[int] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: early.append(signum))
        self._early_signals = early
        if settings.DEBUG:
            self._print_summary()
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(self._serve())
        return self.exit_code

    def _fork(self, processes: int) -> None:
        """Fork ``processes`` workers (0 = one per CPU) sharing the bound sockets.

        Returns in each child. The parent never returns: it forwards SIGTERM/SIGINT to its
        children, restarts a child that dies abnormally, and exits 0 once all exited normally.
        """
        count = processes or os.cpu_count() or 1
        children: dict[int, int] = {}
        stopping = False

        def forward(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True
            for pid in list(children):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

        def spawn(task_id: int) -> bool:
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                self.task_id = task_id
                return True
            children[pid] = task_id
            return False

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        for task_id in range(count):
            if spawn(task_id):
                return
        print(f"tornadopy: started {count} worker processes (parent pid {os.getpid()})", flush=True)
        restarts = 0
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if pid not in children:
                continue
            task_id = children.pop(pid)
            mark_worker_dead(pid)  # its live gauges stop counting
            code = os.waitstatus_to_exitcode(status)
            if code != 0 and not stopping and restarts < 100:
                restarts += 1
                print(
                    f"tornadopy: worker {task_id} (pid {pid}) exited with {code}; restarting",
                    file=sys.stderr,
                    flush=True,
                )
                if spawn(task_id):
                    return
            elif code != 0:
                self.exit_code = self.exit_code or 1
        for sock in self.sockets:
            sock.close()
        sys.exit(self.exit_code)

    def _print_summary(self) -> None:
        app = self.application
        engine = settings.TEMPLATE_CONFIG.get("template_engine") or "tornado"
        lines = [
            "tornadopy is running (DEBUG)",
            f"  settings: {settings.SETTINGS_MODULE or '(defaults)'}",
            f"  apps: {', '.join(settings.INSTALLED_APPS) or '(none)'}",
            f"  template engine: {engine}",
            f"  routes: {len(app.route_table) if app else 0}",
        ]
        for sock in self.sockets:
            host, port = sock.getsockname()[:2]
            lines.append(
                f"  listening on http://{host if ':' not in host else '[' + host + ']'}:{port}/"
            )
        print("\n".join(lines), flush=True)

    async def _serve(self) -> None:
        assert self.httpserver is not None and self.application is not None
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        if getattr(self, "_early_signals", None):
            self._stop.set()
        await self.application.startup()
        self.httpserver.add_sockets(self.sockets)
        if self.application.autoreload:
            if self.task_id is None:
                from tornado import autoreload

                autoreload.start()
            else:
                print("tornadopy: autoreload is off with --processes", file=sys.stderr, flush=True)
        if not settings.DEBUG:
            for sock in self.sockets:
                host, port = sock.getsockname()[:2]
                print(
                    f"tornadopy listening on http://{host}:{port}/ (pid {os.getpid()})", flush=True
                )
        await self._stop.wait()
        await self.shutdown()

    def stop(self) -> None:
        """Ask a running server to shut down gracefully (as SIGTERM does)."""
        if self._stop is not None:
            self._stop.set()

    async def shutdown(self) -> None:
        """Stop accepting, drain in-flight requests, close connections, clients and pools."""
        assert self.httpserver is not None and self.application is not None
        app = self.application
        app.accepting = False  # /readyz answers 503 from now on
        grace = float(settings.SHUTDOWN_GRACE)
        if grace > 0:
            await asyncio.sleep(grace)
        self.httpserver.stop()
        timeout = float(settings.SHUTDOWN_TIMEOUT)
        await app.drain(timeout)
        try:
            await asyncio.wait_for(self.httpserver.close_all_connections(), 5)
        except TimeoutError:
            pass
        await app.shutdown()


def run(application: Any = None, sockets: list[socket.socket] | None = None, **kwargs: Any) -> None:
    """Parse the command line, load everything and serve; exit with the server's code.

    The HTTP server is Tornado's unless ``--server`` (or the ``SERVER`` setting) names
    ``uvicorn`` or ``granian``, which serve the same site through :mod:`tornadopy.asgi`.

    A configuration error is printed as one line naming the culprit (no traceback unless DEBUG)
    and the process exits with status 1.
    """
    server = Server()
    try:
        server.parse_command()
        from tornadopy.asgi import check_server, serve_with

        name = check_server(
            options.server or settings.SERVER or "tornado",
            setting="--server" if options.server else "SERVER",
        )
        if name != "tornado":
            log_options = {
                "logging_dir": options.logging_dir or None,
                "log_port_prefix": options.log_port_prefix,
                "disable_log": options.disable_log,
            }
            sys.exit(
                serve_with(
                    name,
                    address=options.address,
                    port=options.port,
                    processes=options.processes,
                    application=application,
                    log_options=log_options,
                )
            )
        server.load_all(application, sockets, **kwargs)
    except ImproperlyConfigured as exc:
        _fail(exc)
    except OSError as exc:
        _fail(exc, prefix="cannot listen")
    sys.exit(server.start())


def _fail(exc: BaseException, prefix: str = "improperly configured") -> None:
    debug = False
    try:
        debug = bool(settings.DEBUG)
    except Exception:
        pass
    if debug:
        import traceback

        traceback.print_exception(exc)
    print(f"tornadopy: {prefix}: {exc}", file=sys.stderr)
    sys.exit(1)
