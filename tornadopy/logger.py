"""Logging: ``syslogger``, the ``LOGGING`` setting and a multi-process-safe rotating file.

::

    from tornadopy.logger import syslogger
    syslogger.error("this is an error.")

:func:`configure_logging` (called by the web server after the command line is parsed) reads the
``LOGGING`` setting, a list of dicts, one per logger::

    LOGGING = (
        {
            'name': 'tornado',          # logger name (required)
            'level': 'INFO',            # level name or number (default 'INFO')
            'log_to_stderr': True,      # also write to stderr (default False)
            'when': 'midnight',         # rotation unit, as TimedRotatingFileHandler (default)
            'interval': 1,              # rotate every `interval` units (default 1)
            'filename': 'tornado.log',  # file under LOGGING_DIR; omit/None for no file
            'formatter': None,          # optional logging format string
            'backups': 30,              # rotated files kept (default 30)
            'handler': None,            # optional file handler class or dotted path
        },
    )

Files go under ``LOGGING_DIR`` -- or the ``--logging_dir`` option, which wins -- and the
directory is created. With ``--log_port_prefix=true`` the port goes into every file name
*before its extension*: ``tornado.log`` becomes ``tornado.8000.log`` (a name without an
extension gets ``.8000`` appended), so rotated files are ``tornado.8000.log.2024-05-01`` and each
port keeps its own set. Every configured logger stops propagating to its parents (as in the
seed), so a line goes to the files of the logger that emitted it, not twice.

``--disable_log`` means: do not install tornadopy's logging at all and use Tornado's default
(:func:`tornado.log.enable_pretty_logging`: the root logger writes to stderr, controlled by
Tornado's own ``--logging``/``--log_file_prefix`` options).

:func:`configure_logging` is idempotent: calling it again first removes (and closes) every
handler it installed before and restores the loggers' levels and ``propagate`` flags, then
applies the current settings. :func:`reset_logging` does only the first half.

:class:`ProcessLogTimedFileHandler` is the default file handler: time-based rotation that is safe
when several processes (``--processes N``, or several servers) write the same file. It builds on
``concurrent-log-handler``: every write and every rollover happens under an exclusive ``flock``
on a lock file next to the log (``.__tornado.lock`` for ``tornado.log``), and the next rollover
time is kept in that lock file so all processes agree when to rotate. A process that finds the
file rotated under it reopens the new one, so across a rotation no line is lost, duplicated or
interleaved with another.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from concurrent_log_handler import ConcurrentTimedRotatingFileHandler
from tornado.log import LogFormatter, enable_pretty_logging

from tornadopy.exception import ImproperlyConfigured
from tornadopy.importer import import_object
from tornadopy.requestid import RequestIdFilter

__all__ = [
    "ACCESS_LOG_NAME",
    "DEFAULT_BACKUPS",
    "DEFAULT_FORMAT",
    "ProcessLogTimedFileHandler",
    "access_logger",
    "configure_logging",
    "log_filename",
    "reset_logging",
    "syslogger",
]

#: The framework's logger (the seed's ``syslogger``).
syslogger = logging.getLogger("tornadopy")

#: Name of the logger the access-log middleware writes to (one line per request).
ACCESS_LOG_NAME = "tornadopy.accesslog"
access_logger = logging.getLogger(ACCESS_LOG_NAME)

#: Format of file and stderr lines when a ``LOGGING`` entry gives no ``formatter``. The process
#: id tells apart the workers of ``--processes N`` writing the same file.
DEFAULT_FORMAT = (
    "%(color)s[%(levelname)1.1s %(asctime)s %(process)d %(module)s:%(lineno)d "
    "%(request_id)s]%(end_color)s %(message)s"
)
DEFAULT_DATEFMT = "%Y-%m-%d %H:%M:%S"
#: Rotated files kept when a ``LOGGING`` entry gives no ``backups``.
DEFAULT_BACKUPS = 30

_KEYS = frozenset(
    {"name", "level", "log_to_stderr", "when", "interval", "filename", "formatter", "backups"}
    | {"handler"}
)
# Attribute set on every handler configure_logging installs, so it can remove exactly those.
_MARK = "_tornadopy_managed"
# Logger name -> (level, propagate) before configure_logging first touched it.
_saved: dict[str, tuple[int, bool]] = {}


class ProcessLogTimedFileHandler(ConcurrentTimedRotatingFileHandler):
    """Time-rotating file handler that several processes can share.

    The constructor takes the arguments of :class:`logging.handlers.TimedRotatingFileHandler`
    (``filename, when='h', interval=1, backupCount=20, encoding, delay, utc, atTime``) plus the
    keyword options of ``concurrent_log_handler.ConcurrentTimedRotatingFileHandler`` (e.g.
    ``use_gzip``, ``lock_file_directory``). ``delay`` is accepted for compatibility; the file is
    always opened on the first write. The directory of ``filename`` is created if missing.

    Rotated files are named ``<filename>.<time suffix>`` (``.1``, ``.2``... appended if that name
    is taken) and at most ``backupCount`` of them are kept (0 keeps all).
    """

    def __init__(
        self,
        filename: str | os.PathLike[str],
        when: str = "h",
        interval: int = 1,
        backupCount: int = 20,
        encoding: str | None = "utf-8",
        delay: bool = False,
        utc: bool = False,
        atTime: dt.time | None = None,
        **kwargs: Any,
    ) -> None:
        directory = os.path.dirname(os.path.abspath(os.fspath(filename)))
        os.makedirs(directory, exist_ok=True)
        super().__init__(
            os.fspath(filename),
            when=when,
            interval=interval,
            backupCount=backupCount,
            encoding=encoding,
            delay=delay,
            utc=utc,
            atTime=atTime,
            **kwargs,
        )


def log_filename(filename: str, port: int | str | None) -> str:
    """``filename`` with the port put before its extension (``tornado.log`` -> ``tornado.8000.log``).

    Without a port the name is returned unchanged.
    """
    if port is None or port == "":
        return filename
    root, ext = os.path.splitext(filename)
    return f"{root}.{port}{ext}"


def configure_logging(
    settings: Any = None,
    logging_dir: str | None = None,
    port: int | str | None = None,
    log_port_prefix: bool = False,
    disable_log: bool = False,
) -> list[logging.Logger]:
    """Set up the loggers of the ``LOGGING`` setting; return them.

    :param settings: the settings to read (default: :data:`tornadopy.settings`).
    :param logging_dir: directory for the files, overriding ``LOGGING_DIR`` (``--logging_dir``).
    :param port: the server's port, put into file names when ``log_port_prefix`` is true.
    :param log_port_prefix: name files ``<name>.<port><ext>`` (``--log_port_prefix``).
    :param disable_log: install nothing of tornadopy's and use Tornado's default logging
        (``--disable_log``); returns an empty list.

    Idempotent: handlers installed by an earlier call are removed and closed first.
    Raises :class:`ImproperlyConfigured` naming the ``LOGGING`` entry and key that is wrong.
    """
    if settings is None:
        from tornadopy.conf import settings as current

        settings = current
    reset_logging()
    if disable_log:
        _enable_tornado_logging()
        return []
    if log_port_prefix and (port is None or port == ""):
        raise ImproperlyConfigured("log_port_prefix is set but no port was given to name files")
    entries = [_check_entry(i, e) for i, e in enumerate(_entries(settings))]
    directory = os.path.abspath(logging_dir or getattr(settings, "LOGGING_DIR", None) or "logs")
    loggers = []
    for entry in entries:
        loggers.append(_configure_one(entry, directory, port if log_port_prefix else None))
    return loggers


def reset_logging() -> None:
    """Undo :func:`configure_logging`: remove and close its handlers, restore levels/propagate."""
    for name in dict.fromkeys([*_saved, ""]):  # "" is the root logger
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if getattr(handler, _MARK, False):
                logger.removeHandler(handler)
                handler.close()
    for name, (level, propagate) in _saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.propagate = propagate
    _saved.clear()


# ---------------------------------------------------------------- internals


def _entries(settings: Any) -> list[Mapping[str, Any]]:
    value = getattr(settings, "LOGGING", None)
    if value is None:
        return []
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise ImproperlyConfigured(
            f"LOGGING must be a list of dicts (one per logger), got {type(value).__name__}"
        )
    return list(value)


def _check_entry(index: int, entry: Any) -> dict[str, Any]:
    where = f"LOGGING[{index}]"
    if not isinstance(entry, Mapping):
        raise ImproperlyConfigured(f"{where} must be a dict, got {type(entry).__name__}")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ImproperlyConfigured(
            f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}"
        )
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ImproperlyConfigured(f"{where}['name'] must be a logger name such as 'tornado'")
    where = f"LOGGING[{index}] ({name!r})"
    level = entry.get("level", "INFO")
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if not isinstance(number, int):
            raise ImproperlyConfigured(
                f"{where}['level'] is {level!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL"
            )
        level = number
    elif not isinstance(level, int) or isinstance(level, bool):
        raise ImproperlyConfigured(f"{where}['level'] must be a level name or number")
    for key, minimum in (("interval", 1), ("backups", 0)):
        value = entry.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < minimum
        ):
            raise ImproperlyConfigured(
                f"{where}[{key!r}] must be a whole number >= {minimum}, got {value!r}"
            )
    filename = entry.get("filename")
    if filename is not None and (not isinstance(filename, str) or not filename):
        raise ImproperlyConfigured(f"{where}['filename'] must be a file name or None")
    fmt = entry.get("formatter")
    if fmt is not None and not isinstance(fmt, str):
        raise ImproperlyConfigured(f"{where}['formatter'] must be a logging format string")
    handler = entry.get("handler") or ProcessLogTimedFileHandler
    if isinstance(handler, str):
        handler = import_object(handler, f"{where}['handler']")
    if not (isinstance(handler, type) and issubclass(handler, logging.Handler)):
        raise ImproperlyConfigured(f"{where}['handler'] must name a logging.Handler subclass")
    return {
        "where": where,
        "name": name,
        "level": level,
        "log_to_stderr": bool(entry.get("log_to_stderr", False)),
        "when": entry.get("when") or "midnight",
        "interval": entry.get("interval") or 1,
        "filename": filename,
        "formatter": fmt,
        "backups": DEFAULT_BACKUPS if entry.get("backups") is None else entry["backups"],
        "handler": handler,
    }


def _configure_one(entry: dict[str, Any], directory: str, port: int | str | None) -> logging.Logger:
    logger = logging.getLogger(entry["name"])
    handlers: list[logging.Handler] = []
    fmt = entry["formatter"] or DEFAULT_FORMAT
    if entry["filename"]:
        path = os.path.join(directory, log_filename(entry["filename"], port))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            file_handler = entry["handler"](
                path,
                when=entry["when"],
                interval=entry["interval"],
                backupCount=entry["backups"],
                encoding="utf-8",
            )
        except ValueError as exc:  # e.g. an unknown 'when'
            raise ImproperlyConfigured(f"{entry['where']}: {exc}") from exc
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{entry['where']}: cannot write the log file {path!r} ({exc}); check "
                "LOGGING_DIR / --logging_dir"
            ) from exc
        file_handler.setFormatter(LogFormatter(fmt=fmt, datefmt=DEFAULT_DATEFMT, color=False))
        handlers.append(file_handler)
    if entry["log_to_stderr"]:
        stream_handler = logging.StreamHandler()
        stream_handler.setFormatter(LogFormatter(fmt=fmt, datefmt=DEFAULT_DATEFMT))
        handlers.append(stream_handler)
    if entry["name"] not in _saved:
        _saved[entry["name"]] = (logger.level, logger.propagate)
    logger.setLevel(entry["level"])
    logger.propagate = False
    for handler in handlers:
        setattr(handler, _MARK, True)
        handler.addFilter(RequestIdFilter())  # %(request_id)s: the request being served, or -
        logger.addHandler(handler)
    return logger


def _enable_tornado_logging() -> None:
    """Tornado's default logging on the root logger, installed at most once."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, LogFormatter) for h in root.handlers):
        return  # tornado.options.parse_command_line (or an earlier call) already did it
    before = set(root.handlers)
    _saved.setdefault("", (root.level, root.propagate))
    enable_pretty_logging(logger=root)
    for handler in root.handlers:
        if handler not in before:
            setattr(handler, _MARK, True)
