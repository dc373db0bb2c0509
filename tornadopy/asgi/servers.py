"""Run the site under an ASGI server: ``serve_with('uvicorn' | 'granian', ...)`` (SPEC §2b).

``tornadopy runserver --server=uvicorn`` and ``run()`` with ``SERVER = 'granian'`` end up here;
``'tornado'`` (the default) is Tornado's own server, run by :mod:`tornadopy.webserver`.

Each server is started with the application factory ``tornadopy.asgi:get_asgi_application``
in every worker process (settings from ``tornadopy_APP_SETTINGS``, set here from the current
settings module) and told to leave ``Date``/``Server`` headers to Tornado, to write no access log
of its own (``AccessLogMiddleware`` does), to use the ``EVENT_LOOP`` setting, to wait
``SHUTDOWN_TIMEOUT`` seconds for requests on shutdown, and to keep idle connections
``HTTP_SERVER['idle_connection_timeout']`` seconds.

Proxy headers: uvicorn applies ``X-Forwarded-For``/``X-Forwarded-Proto`` itself, here only with
``XHEADERS = True`` and only from ``TRUSTED_PROXIES`` (so the settings mean what they mean under
Tornado's server); granian has no proxy-header support, and tornadopy's own ``XHEADERS``
handling applies. Run by hand (``uvicorn asgi:application``), uvicorn's own options decide
(``--forwarded-allow-ips``, default 127.0.0.1).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tornadopy.asgi.application import LOGGING_ENV
from tornadopy.conf import ENVIRONMENT_VARIABLE, ENVIRONMENT_VARIABLES, settings
from tornadopy.exception import ImproperlyConfigured

__all__ = ["ASGI_SERVERS", "SERVERS", "check_server", "serve_with"]

#: the values the ``SERVER`` setting and ``--server`` accept
SERVERS = ("tornado", "uvicorn", "granian")
#: the ones served through :mod:`tornadopy.asgi`
ASGI_SERVERS = ("uvicorn", "granian")
#: the import string handed to the servers (built in each worker)
FACTORY = "tornadopy.asgi:get_asgi_application"


def check_server(name: str, setting: str = "SERVER") -> str:
    """``name`` normalised, or :class:`ImproperlyConfigured` naming the setting (or option)
    when it is unknown or its package is not installed."""
    server = str(name or "tornado").strip().lower()
    if server not in SERVERS:
        raise ImproperlyConfigured(f"{setting} is {name!r}; choose one of {', '.join(SERVERS)}")
    if server in ASGI_SERVERS and importlib.util.find_spec(server) is None:
        raise ImproperlyConfigured(
            f"{setting} is {server!r} but {server} is not installed: "
            f"pip install {'uvicorn[standard]' if server == 'uvicorn' else server} "
            "(or pip install 'tornadopy[bench]')"
        )
    return server


def _export_settings_module() -> None:
    """Make the worker processes load the settings this process uses."""
    module = settings.SETTINGS_MODULE
    if module:
        for var in ENVIRONMENT_VARIABLES:
            os.environ.pop(var, None)
        os.environ[ENVIRONMENT_VARIABLE] = module


def _workers(processes: int | None) -> int:
    if processes is None:
        processes = int(settings.PROCESSES)
    return processes if processes > 0 else os.cpu_count() or 1


def _loop() -> str:
    if str(settings.EVENT_LOOP).lower() == "uvloop" and importlib.util.find_spec("uvloop"):
        return "uvloop"
    return "asyncio"


def uvicorn_config(address: str, port: int, workers: int) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` (exposed for tests and custom launchers)."""
    http_conf = dict(settings.HTTP_SERVER) if "HTTP_SERVER" in settings else {}
    return {
        "host": address,
        "port": port,
        "workers": workers,
        "factory": True,
        "lifespan": "on",
        "loop": _loop(),
        "server_header": False,
        "date_header": False,
        "access_log": False,
        # XHEADERS/TRUSTED_PROXIES mean what they mean under Tornado's server
        "proxy_headers": bool(settings.XHEADERS),
        "forwarded_allow_ips": ",".join(settings.TRUSTED_PROXIES) or "127.0.0.1",
        "timeout_keep_alive": int(http_conf.get("idle_connection_timeout") or 5),
        "timeout_graceful_shutdown": int(settings.SHUTDOWN_TIMEOUT),
        "backlog": int(http_conf.get("backlog") or 2048),
    }


def granian_config(address: str, port: int, workers: int) -> dict[str, Any]:
    """Keyword arguments for ``granian.Granian`` (exposed for tests and custom launchers)."""
    from granian.constants import Interfaces, Loops

    http_conf = dict(settings.HTTP_SERVER) if "HTTP_SERVER" in settings else {}
    return {
        "address": address,
        "port": port,
        "interface": Interfaces.ASGI,
        "workers": workers,
        "factory": True,
        "loop": Loops.uvloop if _loop() == "uvloop" else Loops.asyncio,
        "log_access": False,
        "backlog": max(128, int(http_conf.get("backlog") or 1024)),
        "workers_kill_timeout": max(1, int(settings.SHUTDOWN_TIMEOUT)),
        "respawn_failed_workers": True,
        "working_dir": Path.cwd(),
    }


class _Stopped(Exception):
    """A stop signal arrived after (or before) the server's own graceful shutdown."""


def _stop(signum: int, frame: Any) -> None:
    raise _Stopped(signum)


def _asgi_application(application: Any) -> Any:
    """An :class:`ASGIApplication` around an ``Application`` subclass or instance."""
    from tornadopy.application import Application
    from tornadopy.asgi.application import ASGIApplication

    if isinstance(application, type) and issubclass(application, Application):
        application = application()
    if not isinstance(application, Application):
        raise ImproperlyConfigured(
            "serve_with(application=...) needs tornadopy.application.Application or a subclass, "
            f"got {application!r}"
        )
    return ASGIApplication(application, configure_logging=True)


def serve_with(
    server: str,
    address: str = "127.0.0.1",
    port: int = 8000,
    processes: int | None = None,
    application: Any = None,
    log_options: Mapping[str, Any] | None = None,
) -> int:
    """Serve the site with ``server`` (``'uvicorn'`` or ``'granian'``) until it is stopped.

    ``processes`` is the number of worker processes (0 = one per CPU; None = the ``PROCESSES``
    setting). ``application`` is None (each worker builds the application from the settings) or
    an ``Application`` subclass or instance, built here before the workers start (granian forks
    its workers from this process; uvicorn needs an import string for several workers, so it
    serves a given application with one process only). Each worker runs ``process_init`` at
    its own start. ``log_options`` are the command line's logging options (``logging_dir``,
    ``log_port_prefix``, ``disable_log``), applied in every worker with ``port``. Blocks;
    returns the exit code (0 after a clean SIGTERM/SIGINT shutdown).
    """
    name = check_server(server, setting="server")
    if name == "tornado":
        raise ValueError("serve_with() runs ASGI servers; 'tornado' is tornadopy.webserver.run()")
    _export_settings_module()
    os.environ[LOGGING_ENV] = json.dumps({**dict(log_options or {}), "port": port})
    workers = _workers(processes)
    if name == "uvicorn" and application is not None and workers != 1:
        raise ImproperlyConfigured(
            f"uvicorn cannot serve a given Application with {workers} processes (it needs an "
            "import string for several): use one process, SERVER = 'granian', or let each "
            "worker build the application from the settings (no application argument)"
        )
    target = _asgi_application(application) if application is not None else None
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    print(
        f"tornadopy ({name}, {workers} worker{'s' if workers != 1 else ''}) listening on "
        f"http://{address}:{port}/ (pid {os.getpid()})",
        flush=True,
    )
    if name == "uvicorn":
        import uvicorn

        config = uvicorn_config(address, port, workers)
        if target is not None:
            config["factory"] = False
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal with the
        # handlers it found: make that a clean exit (status 0, as tornadopy's own server).
        saved = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            uvicorn.run(target if target is not None else FACTORY, **config)
        except _Stopped:
            pass
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)
        return 0
    from granian import Granian

    granian = Granian(FACTORY, **granian_config(address, port, workers))
    if target is None:
        granian.serve()
    else:
        granian.serve(target_loader=lambda _target: target)
    return 0
