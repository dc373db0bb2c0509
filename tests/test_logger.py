"""tornadopy.logger: the LOGGING setting, port-prefixed names, disable_log, and L1 of
RELIABILITY.md (several processes writing one file across time rotations lose nothing)."""

import logging
import multiprocessing
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tornado.log import LogFormatter

from tornadopy.conf import Settings, override_settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.logger import (
    ProcessLogTimedFileHandler,
    access_logger,
    configure_logging,
    log_filename,
    reset_logging,
    syslogger,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_logging():
    reset_logging()
    yield
    reset_logging()


def entry(name, filename, **extra):
    return {
        "name": name,
        "level": "INFO",
        "when": "midnight",
        "interval": 1,
        "filename": filename,
        **extra,
    }


def file_handlers(logger):
    return [h for h in logger.handlers if isinstance(h, ProcessLogTimedFileHandler)]


def log_files(directory, base):
    """The current file and every rotated one (``base``, ``base.<time>[.<n>]``)."""
    return sorted(p for p in Path(directory).iterdir() if p.name.startswith(base))


def run_python(code, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("tornadopy_APP_SETTINGS", None)
    env.pop("TORNADOPY_APP_SETTINGS", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# ---------------------------------------------------------------- public names


def test_syslogger_is_the_tornadopy_logger():
    assert syslogger is logging.getLogger("tornadopy")
    assert access_logger is logging.getLogger("tornadopy.accesslog")


def test_default_logging_setting_names_the_access_log():
    from tornadopy import global_settings

    names = [e["name"] for e in global_settings.LOGGING]
    assert "tornadopy.accesslog" in names and "tornadopy" in names and "tornado" in names


# ---------------------------------------------------------------- configure_logging


def test_default_logging_writes_each_logger_to_its_own_file(tmp_path):
    configure_logging(logging_dir=str(tmp_path))
    syslogger.warning("framework line")
    access_logger.info("GET / 200")
    logging.getLogger("tornado.application").error("tornado line")

    tornadopy_log = (tmp_path / "tornadopy.log").read_text()
    access_log = (tmp_path / "access.log").read_text()
    tornado_log = (tmp_path / "tornado.log").read_text()
    assert "framework line" in tornadopy_log
    assert "GET / 200" in access_log
    assert "tornado line" in tornado_log
    # no propagation between the configured loggers: each line in exactly one file
    assert "GET / 200" not in tornadopy_log
    assert "framework line" not in access_log and "framework line" not in tornado_log


def test_files_go_to_logging_dir_argument_which_overrides_the_setting(tmp_path):
    setting_dir = tmp_path / "from_setting"
    option_dir = tmp_path / "from_option" / "nested"  # does not exist yet
    with override_settings(LOGGING=[entry("t.one", "one.log")], LOGGING_DIR=str(setting_dir)):
        configure_logging(logging_dir=str(option_dir))
    logging.getLogger("t.one").info("hello one")
    assert "hello one" in (option_dir / "one.log").read_text()
    assert not setting_dir.exists()


def test_logging_dir_setting_is_used_without_the_argument(tmp_path):
    with override_settings(LOGGING=[entry("t.two", "two.log")], LOGGING_DIR=str(tmp_path / "d")):
        configure_logging()
    logging.getLogger("t.two").info("hello two")
    assert "hello two" in (tmp_path / "d" / "two.log").read_text()


def test_settings_object_can_be_passed(tmp_path):
    s = Settings(None, LOGGING=[entry("t.obj", "obj.log")], LOGGING_DIR=str(tmp_path))
    [logger] = configure_logging(s)
    assert logger is logging.getLogger("t.obj")
    logger.info("from a Settings object")
    assert "from a Settings object" in (tmp_path / "obj.log").read_text()


def test_default_line_format_has_level_time_pid_and_message(tmp_path):
    with override_settings(LOGGING=[entry("t.fmt", "fmt.log")]):
        configure_logging(logging_dir=str(tmp_path))
    logging.getLogger("t.fmt").error("boom %s", 42)
    [line] = (tmp_path / "fmt.log").read_text().splitlines()
    pattern = rf"^\[E \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d {os.getpid()} test_logger:\d+ -\] boom 42$"
    assert re.match(pattern, line), line


def test_formatter_key_sets_the_format(tmp_path):
    with override_settings(
        LOGGING=[entry("t.f2", "f2.log", formatter="%(levelname)s|%(message)s")]
    ):
        configure_logging(logging_dir=str(tmp_path))
    logging.getLogger("t.f2").warning("custom")
    assert (tmp_path / "f2.log").read_text() == "WARNING|custom\n"


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("tornado.log", "tornado.8000.log"),
        ("access", "access.8000"),
        ("sub/app.err.log", "sub/app.err.8000.log"),
    ],
)
def test_log_filename_puts_the_port_before_the_extension(filename, expected):
    assert log_filename(filename, 8000) == expected
    assert log_filename(filename, None) == filename


def test_log_port_prefix_names_files_with_the_port(tmp_path):
    with override_settings(LOGGING=[entry("t.port", "web.log"), entry("t.port2", "plain")]):
        configure_logging(logging_dir=str(tmp_path), port=8123, log_port_prefix=True)
    logging.getLogger("t.port").info("on 8123")
    logging.getLogger("t.port2").info("plain on 8123")
    assert "on 8123" in (tmp_path / "web.8123.log").read_text()
    assert "plain on 8123" in (tmp_path / "plain.8123").read_text()
    assert not (tmp_path / "web.log").exists()


def test_port_is_ignored_without_log_port_prefix(tmp_path):
    with override_settings(LOGGING=[entry("t.noport", "web.log")]):
        configure_logging(logging_dir=str(tmp_path), port=8123)
    logging.getLogger("t.noport").info("x")
    assert (tmp_path / "web.log").exists()
    assert not (tmp_path / "web.8123.log").exists()


def test_log_port_prefix_without_port_is_a_configuration_error(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="port"):
        configure_logging(logging_dir=str(tmp_path), log_port_prefix=True)


def test_level_is_applied(tmp_path):
    with override_settings(LOGGING=[entry("t.lvl", "lvl.log", level="warning")]):
        [logger] = configure_logging(logging_dir=str(tmp_path))
    assert logger.level == logging.WARNING
    logger.info("too quiet")
    logger.warning("loud enough")
    text = (tmp_path / "lvl.log").read_text()
    assert "loud enough" in text and "too quiet" not in text


def test_backups_when_and_interval_reach_the_handler(tmp_path):
    with override_settings(
        LOGGING=[entry("t.rot", "rot.log", when="S", interval=5, backups=7), entry("t.d", "d.log")]
    ):
        configure_logging(logging_dir=str(tmp_path))
    [rot] = file_handlers(logging.getLogger("t.rot"))
    assert (rot.when, rot.interval, rot.backupCount) == ("S", 5, 7)
    [default] = file_handlers(logging.getLogger("t.d"))
    assert (default.when, default.interval, default.backupCount) == ("MIDNIGHT", 86400, 30)


def test_configure_logging_is_idempotent(tmp_path):
    with override_settings(LOGGING=[entry("t.idem", "idem.log", log_to_stderr=True)]):
        for _ in range(3):
            configure_logging(logging_dir=str(tmp_path))
    logger = logging.getLogger("t.idem")
    assert len(file_handlers(logger)) == 1
    assert len(logger.handlers) == 2  # one file, one stderr
    logger.info("once")
    assert (tmp_path / "idem.log").read_text().count("once") == 1


def test_reconfiguring_drops_loggers_no_longer_listed(tmp_path):
    with override_settings(LOGGING=[entry("t.old", "old.log")]):
        configure_logging(logging_dir=str(tmp_path))
    with override_settings(LOGGING=[entry("t.new", "new.log")]):
        configure_logging(logging_dir=str(tmp_path))
    old = logging.getLogger("t.old")
    assert old.handlers == [] and old.propagate is True
    assert len(file_handlers(logging.getLogger("t.new"))) == 1


def test_reset_logging_restores_loggers_and_closes_files(tmp_path):
    logger = logging.getLogger("t.reset")
    logger.setLevel(logging.ERROR)
    with override_settings(LOGGING=[entry("t.reset", "reset.log", level="DEBUG")]):
        configure_logging(logging_dir=str(tmp_path))
    [handler] = file_handlers(logger)
    logger.debug("opened")
    assert handler.clh.stream is not None
    assert (logger.level, logger.propagate) == (logging.DEBUG, False)
    reset_logging()
    assert (logger.level, logger.propagate, logger.handlers) == (logging.ERROR, True, [])
    assert handler.clh.stream is None
    logger.setLevel(logging.NOTSET)


def test_disable_log_installs_no_file_handler(tmp_path):
    configure_logging(logging_dir=str(tmp_path))
    assert file_handlers(logging.getLogger("tornado"))
    assert configure_logging(logging_dir=str(tmp_path / "off"), disable_log=True) == []
    for name in ("tornado", "tornadopy", "tornadopy.accesslog"):
        assert file_handlers(logging.getLogger(name)) == []
        assert logging.getLogger(name).propagate is True
    assert not (tmp_path / "off").exists()


def test_disable_log_uses_tornados_default_logging(tmp_path):
    result = run_python(
        f"""
        import logging
        from tornado.log import LogFormatter
        from tornadopy.logger import configure_logging
        configure_logging(logging_dir={str(tmp_path / "logs")!r}, disable_log=True)
        configure_logging(logging_dir={str(tmp_path / "logs")!r}, disable_log=True)
        root = logging.getLogger()
        assert len(root.handlers) == 1, root.handlers
        assert isinstance(root.handlers[0].formatter, LogFormatter)
        assert logging.getLogger("tornado").handlers == []
        logging.getLogger("tornadopy").error("via tornado's root handler")
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("via tornado's root handler") == 1
    assert not (tmp_path / "logs").exists()


def test_log_to_stderr_writes_to_stderr_only_where_asked(tmp_path):
    result = run_python(
        f"""
        import logging
        from tornadopy.logger import configure_logging
        configure_logging(logging_dir={str(tmp_path)!r})
        logging.getLogger("tornadopy").error("to stderr and file")
        logging.getLogger("tornadopy.accesslog").info("access to file only")
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("to stderr and file") == 1
    assert "access to file only" not in result.stderr
    assert "access to file only" in (tmp_path / "access.log").read_text()
    assert "to stderr and file" in (tmp_path / "tornadopy.log").read_text()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"name": "x", "filename": "x.log", "level": "LOUD"}, r"LOGGING\[0\] \('x'\)\['level'\]"),
        ({"name": "x", "filename": "x.log", "colour": 1}, "unknown keys"),
        ({"filename": "x.log"}, r"LOGGING\[0\]\['name'\]"),
        ({"name": "x", "filename": "x.log", "when": "fortnightly"}, r"LOGGING\[0\] \('x'\)"),
        ({"name": "x", "filename": "x.log", "interval": 0}, "interval"),
        ({"name": "x", "filename": "x.log", "backups": -1}, "backups"),
        ({"name": "x", "filename": "x.log", "handler": "no.such.Handler"}, "no.such.Handler"),
    ],
)
def test_bad_entries_are_configuration_errors_naming_them(tmp_path, bad, message):
    with override_settings(LOGGING=[bad]), pytest.raises(ImproperlyConfigured, match=message):
        configure_logging(logging_dir=str(tmp_path))


def test_entry_without_filename_logs_to_stderr_only(tmp_path):
    with override_settings(LOGGING=[{"name": "t.nofile", "log_to_stderr": True}]):
        [logger] = configure_logging(logging_dir=str(tmp_path))
    assert file_handlers(logger) == []
    assert [type(h) for h in logger.handlers] == [logging.StreamHandler]
    assert isinstance(logger.handlers[0].formatter, LogFormatter)
    assert list(tmp_path.iterdir()) == []


def test_handler_key_chooses_the_file_handler_class(tmp_path):
    path = "logging.handlers.TimedRotatingFileHandler"
    with override_settings(LOGGING=[entry("t.cls", "cls.log", handler=path)]):
        [logger] = configure_logging(logging_dir=str(tmp_path))
    [handler] = logger.handlers
    assert type(handler) is logging.handlers.TimedRotatingFileHandler


# ---------------------------------------------------------------- RELIABILITY.md L1

WRITERS = 4
LINES = 3000
SPREAD = 2.5  # seconds each writer spends writing, so that several rotations happen
PAD = "x" * 150
LINE = re.compile(rf"^P[0-{WRITERS - 1}]-\d{{6}}-{PAD}-END$")
L1_ENTRY = {
    "name": "l1",
    "level": "INFO",
    "when": "S",
    "interval": 1,
    "filename": "l1.log",
    "formatter": "%(message)s",
    "backups": 1000,  # nothing may be deleted during the test
}


def _write_lines(writer, logging_dir, configure):
    if configure:  # a separate program: sets up its own handler from the settings
        configure_logging(Settings(None, LOGGING=[L1_ENTRY]), logging_dir=logging_dir)
    logger = logging.getLogger("l1")
    start = time.monotonic()
    for i in range(LINES):
        delay = start + i * SPREAD / LINES - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        logger.info("P%d-%06d-%s-END", writer, i, PAD)
    reset_logging()


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_processes_sharing_a_file_across_rotations_lose_no_line(tmp_path, start_method):
    """4 processes x 3,000 lines, rotation every second: none lost, duplicated or torn.

    spawn: each process builds its own handler. fork: the handler is built before the fork and
    has already written (like a server logging before ``--processes`` forks its workers).
    """
    ctx = multiprocessing.get_context(start_method)
    forked = start_method == "fork"
    if forked:
        configure_logging(Settings(None, LOGGING=[L1_ENTRY]), logging_dir=str(tmp_path))
        logging.getLogger("l1").info("parent before fork")
    writers = [
        ctx.Process(target=_write_lines, args=(w, str(tmp_path), not forked))
        for w in range(WRITERS)
    ]
    for p in writers:
        p.start()
    for p in writers:
        p.join(timeout=60)
    assert [p.exitcode for p in writers] == [0] * WRITERS

    files = log_files(tmp_path, "l1.log")
    rotated = [f for f in files if f.name != "l1.log"]
    assert len(rotated) >= 2, f"expected rotations during the test, got {files}"
    lines = [line for f in files for line in f.read_text().splitlines()]
    if forked:
        lines.remove("parent before fork")
    torn = [line for line in lines if not LINE.match(line)]
    assert torn == []
    assert len(lines) == WRITERS * LINES
    assert len(set(lines)) == WRITERS * LINES


# ---------------------------------------------------------------- through the request pipeline


async def test_access_log_middleware_writes_to_the_configured_access_file(tmp_path):
    from tornadopy.application import Application
    from tornadopy.handler import WebHandler
    from tornadopy.testing import serve

    class Hello(WebHandler):
        def get(self):
            syslogger.info("handler ran")
            self.write("hi")

    configure_logging(logging_dir=str(tmp_path), port=8765, log_port_prefix=True)
    with override_settings(
        MIDDLEWARE_CLASSES=("tornadopy.middleware.accesslog.AccessLogMiddleware",)
    ):
        async with serve(Application(urls=[(r"/hello", Hello)])) as client:
            assert (await client.get("/hello?x=1")).code == 200
            assert (await client.get("/missing")).code == 404
    access = (tmp_path / "access.8765.log").read_text().splitlines()
    assert len(access) == 2
    assert '"GET /hello?x=1 HTTP/1.1" 200' in access[0]
    assert '"GET /missing HTTP/1.1" 404' in access[1]
    assert "handler ran" in (tmp_path / "tornadopy.8765.log").read_text()
    assert "/hello" not in (tmp_path / "tornadopy.8765.log").read_text()
