"""Resolve dotted paths from settings into objects -- once, at start-up."""

from __future__ import annotations

import importlib
from typing import Any

from tornadopy.exception import ImproperlyConfigured


def import_object(path: str, setting: str | None = None) -> Any:
    """Import ``'package.module.Name'`` (or a module ``'package.module'``) and return it.

    ``setting`` names where the path came from (e.g. ``"MIDDLEWARE_CLASSES"``); a path that does
    not resolve raises :class:`ImproperlyConfigured` naming that setting and the bad path.
    """
    if not isinstance(path, str) or not path:
        where = f"{setting}: " if setting else ""
        raise ImproperlyConfigured(f"{where}expected a dotted path string, got {path!r}")
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name is None or not path.startswith(exc.name):
            raise _bad(path, setting, exc) from exc
    except ImportError as exc:
        raise _bad(path, setting, exc) from exc
    module_path, _, name = path.rpartition(".")
    if not module_path:
        raise _bad(path, setting, None)
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        raise _bad(path, setting, exc) from exc
    try:
        return getattr(module, name)
    except AttributeError:
        raise _bad(path, setting, f"module {module_path!r} has no attribute {name!r}") from None


def _bad(path: str, setting: str | None, cause: object) -> ImproperlyConfigured:
    where = f"{setting} names {path!r}" if setting else f"{path!r}"
    why = f" ({cause})" if cause else ""
    return ImproperlyConfigured(f"{where}, which cannot be imported{why}.")
