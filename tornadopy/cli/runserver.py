"""``runserver``: serve the project in the current directory, like its ``runserver.py``.

The options are those of :func:`tornadopy.webserver.run` (``--address``, ``--port``,
``--settings``, ``--processes``, ``--logging_dir``, ``--log_port_prefix``, ``--disable_log``, and
Tornado's own logging options); they are handed to ``run()`` as its command line. Without
``--settings`` and ``tornadopy_APP_SETTINGS``, a directory with ``settings/setting.py`` uses
``settings.setting``.

``--server=tornado`` (the default) serves with Tornado's HTTP server; ``uvicorn`` and ``granian``
are served by :func:`tornadopy.asgi.serve_with` (``--address``, ``--port``, ``--settings`` and
``--processes`` apply; logging is the application's own).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

import tornado.options

from tornadopy.cli.base import (
    CommandError,
    load_settings,
    no_settings_error,
    settings_name,
    use_project_dir,
)
from tornadopy.conf import (
    ENVIRONMENT_VARIABLE,
    ENVIRONMENT_VARIABLES,
    check_settings,
    settings,
    settings_module_name,
)
from tornadopy.exception import ImproperlyConfigured

SERVERS = ("tornado", "uvicorn", "granian")
#: options handed on to run() as ``--name=value`` (argparse accepts ``--name value`` too)
PASSED_ON = (
    "address",
    "port",
    "settings",
    "processes",
    "logging_dir",
    "log_port_prefix",
    "disable_log",
)


def add_runserver(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "runserver",
        help="serve the project in the current directory (= python runserver.py)",
        description="Serve the project in the current directory, with the options of "
        "runserver.py. Other --name=value options (Tornado's logging options) are passed on.",
    )
    p.add_argument("--address", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", help="port to listen on (default 8000)")
    p.add_argument(
        "--settings",
        help="settings module (default: tornadopy_APP_SETTINGS, else settings.setting)",
    )
    p.add_argument("--processes", help="worker processes (0 = one per CPU; default PROCESSES)")
    p.add_argument(
        "--logging_dir", "--logging-dir", dest="logging_dir", help="log directory (LOGGING_DIR)"
    )
    p.add_argument(
        "--log_port_prefix",
        "--log-port-prefix",
        dest="log_port_prefix",
        nargs="?",
        const="true",
        help="put the port in log file names",
    )
    p.add_argument(
        "--disable_log",
        "--disable-log",
        dest="disable_log",
        nargs="?",
        const="true",
        help="use Tornado's logging instead of LOGGING",
    )
    p.add_argument(
        "--server",
        choices=SERVERS,
        help="HTTP server: tornado (default), or uvicorn/granian through tornadopy.asgi",
    )
    p.set_defaults(func=runserver, passes_extra=True)


def command_line(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """run()'s command line (without the program name) from the parsed options."""
    stray = [a for a in extra if not a.startswith("--")]
    if stray:
        raise CommandError(
            f"runserver takes options only (--name=value), not {' '.join(stray)!r}", exit_code=2
        )
    argv = [f"--{name}={getattr(args, name)}" for name in PASSED_ON if getattr(args, name)]
    return argv + extra


def runserver(args: argparse.Namespace, extra: list[str]) -> int:
    argv = command_line(args, extra)
    use_project_dir()
    if not args.settings:
        name = settings_name(None)
        if name is None:
            raise no_settings_error("runserver")
        if settings_module_name() is None:  # the project's settings/setting.py
            os.environ[ENVIRONMENT_VARIABLE] = name
    server = args.server or "tornado"
    if server == "tornado":
        if args.server and _run_defines("server"):
            argv.append("--server=tornado")
        return serve_tornado(argv)
    return serve_asgi(server, args, extra)


def _run_defines(option: str) -> bool:
    """True when ``run()`` knows the command-line option ``option``."""
    from tornadopy.webserver import define_options

    define_options()
    return option in tornado.options.options


def serve_tornado(argv: list[str]) -> int:
    """Call :func:`tornadopy.webserver.run` with ``argv`` as its command line.

    ``sys.argv`` holds ``argv`` only while ``run()`` parses it, and is restored as soon as the
    options are parsed: Tornado's autoreload (DEBUG) re-executes ``sys.argv``, which must still
    be ``tornadopy runserver ...``.
    """
    from tornadopy.webserver import define_options, run

    define_options()
    for arg in argv:
        name = arg[2:].partition("=")[0].replace("-", "_")
        if name not in tornado.options.options:
            raise CommandError(f"unrecognized option --{name} (see tornadopy runserver --help)", 2)
    original = list(sys.argv)
    restored = False

    def restore() -> None:
        nonlocal restored
        if not restored:
            sys.argv[:] = original
            restored = True

    tornado.options.add_parse_callback(restore)
    sys.argv[:] = [original[0] if original else "tornadopy", *argv]
    try:
        run()
    except tornado.options.Error as exc:
        raise CommandError(str(exc), exit_code=2) from exc
    finally:
        restore()
    return 0  # run() exits itself; not reached


def serve_asgi(server: str, args: argparse.Namespace, extra: list[str]) -> int:
    """Serve with an ASGI server: ``tornadopy.asgi.serve_with(server, address=, port=,
    processes=)``, after loading and checking the settings as ``run()`` does."""
    serve_with: Any = None
    try:
        asgi = importlib.import_module("tornadopy.asgi")
    except ModuleNotFoundError as exc:
        if exc.name != "tornadopy.asgi":
            raise CommandError(
                f"--server={server}: tornadopy.asgi cannot be imported ({exc})"
            ) from exc
    else:
        serve_with = getattr(asgi, "serve_with", None)
    if serve_with is None:
        raise CommandError(
            f"--server={server} is not available yet (tornadopy.asgi has no serve_with()); "
            "use --server=tornado"
        )
    if extra:
        raise CommandError(
            f"--server={server} takes --address, --port, --settings and --processes only, "
            f"not {' '.join(extra)}",
            exit_code=2,
        )
    if args.settings:
        for var in ENVIRONMENT_VARIABLES:
            os.environ.pop(var, None)
        os.environ[ENVIRONMENT_VARIABLE] = args.settings
    settings.reset()
    try:
        load_settings()
        check_settings()
        return int(
            serve_with(
                server,
                address=args.address or "127.0.0.1",
                port=_int_option("port", args.port, 8000),
                processes=_int_option("processes", args.processes, None),
            )
            or 0
        )
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from exc


def _int_option(name: str, value: str | None, default: int | None) -> int | None:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise CommandError(f"--{name} must be a number, not {value!r}", exit_code=2) from None
