"""Run the site under an ASGI server: ``serve_with('uvicorn' | 'granian', ...)`` (SPEC §2b).

``tornadopy runserver --server=uvicorn`` and ``run()`` with ``SERVER = 'granian'`` end up here;
``'tornado'`` (the default) is Tornado's own server, run by :mod:`tornadopy.webserver`.

Each server is started with the application factory ``tornadopy.asgi:get_asgi_application``
in every worker process (settings from ``tornadopy_APP_SETTINGS``, set here from the current
settings module) and told to leave ``Date``/``Server`` headers to Tornado, to write no access log
of its own (``AccessLogMiddleware`` does), to use the ``EVENT_LOOP`` setting, to wait
``SHUTDOWN_TIMEOUT`` seconds for requests on shutdown, and to keep idle connections
``HTTP_SERVER['idle_connection_timeout']`` seconds. Proxy headers are the server's business:
uvicorn trusts ``X-Forwarded-*`` from ``--forwarded-allow-ips`` (default 127.0.0.1, or the
``FORWARDED_ALLOW_IPS`` environment variable).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from pathlib import Path
from typing import Any

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


def serve_with(
    server: str,
    address: str = "127.0.0.1",
    port: int = 8000,
    processes: int | None = None,
) -> int:
    """Serve the site with ``server`` (``'uvicorn'`` or ``'granian'``) until it is stopped.

    ``processes`` is the number of worker processes (0 = one per CPU; None = the ``PROCESSES``
    setting). Blocks; returns the exit code (0 after a clean SIGTERM/SIGINT shutdown).
    """
    name = check_server(server, setting="server")
    if name == "tornado":
        raise ValueError("serve_with() runs ASGI servers; 'tornado' is tornadopy.webserver.run()")
    _export_settings_module()
    workers = _workers(processes)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    print(
        f"tornadopy ({name}, {workers} worker{'s' if workers != 1 else ''}) listening on "
        f"http://{address}:{port}/ (pid {os.getpid()})",
        flush=True,
    )
    if name == "uvicorn":
        import uvicorn

        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal with the
        # handlers it found: make that a clean exit (status 0, as tornadopy's own server).
        saved = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            uvicorn.run(FACTORY, **uvicorn_config(address, port, workers))
        except _Stopped:
            pass
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)
        return 0
    from granian import Granian

    Granian(FACTORY, **granian_config(address, port, workers)).serve()
    return 0
