"""Lazy settings: ``from tornadopy import settings``.

The settings module is chosen, in this order, by :meth:`LazySettings.configure`, by
``--settings=package.module`` (:class:`tornadopy.webserver.Server` sets it), or by the
environment variable ``tornadopy_APP_SETTINGS`` (``TORNADOPY_APP_SETTINGS`` is accepted too).
Without any of them only :mod:`tornadopy.global_settings` is used.

Dict-valued settings allow attribute access (``settings.SESSION.session_name``) and are merged one
level deep over the default dict.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import inspect
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from tornadopy import global_settings
from tornadopy.exception import ImproperlyConfigured, SettingMissing

ENVIRONMENT_VARIABLE = "tornadopy_APP_SETTINGS"
ENVIRONMENT_VARIABLES = (ENVIRONMENT_VARIABLE, "TORNADOPY_APP_SETTINGS")


class AttrDict(dict):
    """A dict whose keys can also be read as attributes (``d.key``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"no key {name!r} in this setting (keys: {sorted(self)})"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __deepcopy__(self, memo: dict) -> AttrDict:
        return AttrDict({k: copy.deepcopy(v, memo) for k, v in self.items()})


def _wrap(value: Any) -> Any:
    if isinstance(value, dict) and not isinstance(value, AttrDict):
        return AttrDict({k: _wrap(v) for k, v in value.items()})
    return value


def settings_module_name() -> str | None:
    """The settings module named by the environment, if any."""
    for var in ENVIRONMENT_VARIABLES:
        name = os.environ.get(var)
        if name:
            return name
    return None


def _import_settings_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise ImproperlyConfigured(
                f"settings module {name!r} (from --settings or {ENVIRONMENT_VARIABLE}) was not "
                "found; check the dotted path and that the project directory is on sys.path."
            ) from exc
        raise ImproperlyConfigured(
            f"settings module {name!r} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:
        raise ImproperlyConfigured(
            f"settings module {name!r} failed to import: {type(exc).__name__}: {exc}"
        ) from exc


class Settings:
    """The defaults of :mod:`tornadopy.global_settings` with one settings module layered on top."""

    def __init__(self, module: str | ModuleType | None = None, **overrides: Any) -> None:
        values: dict[str, Any] = {}
        for name in dir(global_settings):
            if name.isupper():
                values[name] = copy.deepcopy(getattr(global_settings, name))
        self.SETTINGS_MODULE: str | None = None
        if module is not None:
            if isinstance(module, str):
                self.SETTINGS_MODULE = module
                module = _import_settings_module(module)
            else:
                self.SETTINGS_MODULE = module.__name__
            for name in dir(module):
                if name.isupper():
                    _merge(values, name, getattr(module, name))
        for name, value in overrides.items():
            _merge(values, name, value)
        self._values = {k: _wrap(v) for k, v in values.items()}
        self._explicit = set(overrides) | (
            {n for n in dir(module) if n.isupper()} if isinstance(module, ModuleType) else set()
        )

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise SettingMissing(
                f"setting {name!r} is not defined in {self.SETTINGS_MODULE or 'the settings'} "
                "nor in tornadopy.global_settings"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def is_overridden(self, name: str) -> bool:
        """True when the user's settings (not the defaults) define ``name``."""
        return name in self._explicit

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def _merge(values: dict[str, Any], name: str, value: Any) -> None:
    default = values.get(name)
    if isinstance(default, dict) and isinstance(value, dict):
        merged = dict(default)
        merged.update(value)
        values[name] = merged
    else:
        values[name] = value


class LazySettings:
    """Proxy to the active :class:`Settings`, built on first attribute access."""

    def __init__(self) -> None:
        self.__dict__["_wrapped"] = None

    def _setup(self) -> Settings:
        wrapped = Settings(settings_module_name())
        self.__dict__["_wrapped"] = wrapped
        return wrapped

    @property
    def configured(self) -> bool:
        return self.__dict__["_wrapped"] is not None

    def configure(self, module: str | ModuleType | None = None, **overrides: Any) -> Settings:
        """Choose the settings module (and extra values) explicitly; replaces any earlier choice."""
        wrapped = Settings(module, **overrides)
        self.__dict__["_wrapped"] = wrapped
        return wrapped

    def reset(self) -> None:
        """Forget the current settings; the next access reads the environment again."""
        self.__dict__["_wrapped"] = None

    def __getattr__(self, name: str) -> Any:
        wrapped = self.__dict__["_wrapped"] or self._setup()
        return getattr(wrapped, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("settings are read-only; use override_settings() in tests")

    def __contains__(self, name: object) -> bool:
        wrapped = self.__dict__["_wrapped"] or self._setup()
        return name in wrapped

    def __dir__(self) -> list[str]:
        wrapped = self.__dict__["_wrapped"] or self._setup()
        return sorted(wrapped._values)

    def is_overridden(self, name: str) -> bool:
        wrapped = self.__dict__["_wrapped"] or self._setup()
        return wrapped.is_overridden(name)


settings = LazySettings()


class override_settings(contextlib.ContextDecorator):
    """Change settings for a block, a test function or a coroutine test::

        with override_settings(DEBUG=True, SESSION={'expires': 60}):
            ...

    Dict values are merged one level deep over the *current* value, like a settings module.
    """

    def __init__(self, **values: Any) -> None:
        self.values = values
        self._saved: list[Settings | None] = []

    def __enter__(self) -> Settings:
        current = settings.__dict__["_wrapped"] or settings._setup()
        self._saved.append(current)
        values = dict(current._values)
        for name, value in self.values.items():
            _merge(values, name, value)
        new = Settings.__new__(Settings)
        new.SETTINGS_MODULE = current.SETTINGS_MODULE
        new._values = {k: _wrap(v) for k, v in values.items()}
        new._explicit = current._explicit | set(self.values)
        settings.__dict__["_wrapped"] = new
        return new

    def __exit__(self, *exc: object) -> None:
        settings.__dict__["_wrapped"] = self._saved.pop()

    def __call__(self, func: Any) -> Any:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def inner(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)

            return inner
        return super().__call__(func)


# ---------------------------------------------------------------- start-up checks

#: (setting, key, shipped default) triples that must not be used with DEBUG = False.
SHIPPED_SECRETS = (
    ("SESSION", "secret_key", global_settings.SESSION["secret_key"]),
    ("TOKEN", "secret_key", global_settings.TOKEN["secret_key"]),
    ("TORNADO_CONF", "cookie_secret", global_settings.TORNADO_CONF["cookie_secret"]),
)


def check_settings(current: Settings | LazySettings | None = None) -> None:
    """Refuse unsafe settings at start-up with one :class:`ImproperlyConfigured` naming them."""
    s = current if current is not None else settings
    if s.DEBUG:
        return
    problems = []
    for name, key, shipped in SHIPPED_SECRETS:
        value = getattr(s, name, {}).get(key) if name in s else None
        if not value:
            problems.append(f"{name}[{key!r}] is empty")
        elif value == shipped:
            problems.append(f"{name}[{key!r}] is still the shipped default")
    if problems:
        raise ImproperlyConfigured(
            "refusing to start with DEBUG = False: "
            + "; ".join(problems)
            + ". Set a long random value in your settings module, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'."
        )


@contextlib.contextmanager
def environment(name: str | None) -> Iterator[None]:
    """Temporarily point ``tornadopy_APP_SETTINGS`` at ``name`` (used by tests and the CLI)."""
    saved = {v: os.environ.get(v) for v in ENVIRONMENT_VARIABLES}
    for v in ENVIRONMENT_VARIABLES:
        os.environ.pop(v, None)
    if name:
        os.environ[ENVIRONMENT_VARIABLE] = name
    try:
        yield
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
