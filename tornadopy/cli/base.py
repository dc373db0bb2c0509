"""What every ``tornadopy`` command shares: one-line errors and finding the project's settings."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

from tornadopy.conf import environment, settings, settings_module_name
from tornadopy.exception import ImproperlyConfigured, TornadopyError

#: the settings module of a project made by ``tornadopy startproject``
DEFAULT_SETTINGS = "settings.setting"


class CommandError(Exception):
    """A problem the user must fix; printed as one line, then exit with :attr:`exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (``tornadopy: error: ...``), exit 2.

    Options are never abbreviated (``--logging=debug`` is Tornado's option for ``runserver``,
    not a prefix of ``--logging_dir``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def use_project_dir() -> str:
    """Put the current directory first on ``sys.path`` (a project's apps and settings import
    from there, as with ``python runserver.py``); return it."""
    cwd = os.getcwd()
    if not sys.path or os.path.abspath(sys.path[0] or ".") != cwd:
        sys.path.insert(0, cwd)
    return cwd


def settings_name(explicit: str | None) -> str | None:
    """The settings module to use: ``--settings``, else ``tornadopy_APP_SETTINGS``, else
    ``settings.setting`` when ``settings/setting.py`` is in the current directory."""
    if explicit:
        return explicit
    named = settings_module_name()
    if named:
        return named
    if os.path.isfile(os.path.join("settings", "setting.py")):
        return DEFAULT_SETTINGS
    return None


def no_settings_error(command: str) -> CommandError:
    return CommandError(
        f"no settings module: run `tornadopy {command}` in a project directory (one with "
        "settings/setting.py), or pass --settings=package.module, or set tornadopy_APP_SETTINGS"
    )


@contextlib.contextmanager
def project_settings(command: str, explicit: str | None) -> Iterator[str]:
    """Point ``tornadopy.settings`` at the project's settings module for the block; yield its
    name. The module is imported on first use (see :func:`load_settings`)."""
    use_project_dir()
    name = settings_name(explicit)
    if name is None:
        raise no_settings_error(command)
    with environment(name):
        settings.reset()
        try:
            yield name
        finally:
            settings.reset()


def load_settings() -> None:
    """Import the settings module now; :class:`CommandError` if it does not import."""
    try:
        settings.DEBUG  # noqa: B018 - the first access imports the module
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from exc


def reason(exc: BaseException) -> str:
    """One line saying why ``exc`` happened (tornadopy's own errors already say what failed)."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if isinstance(exc, TornadopyError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
