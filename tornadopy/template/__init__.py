"""Template engines for ``self.render()`` (SPEC §5, setting ``TEMPLATE_CONFIG``).

``TEMPLATE_CONFIG['template_engine']`` chooses the engine:

- ``None`` (default) -- Tornado's own templates; tornadopy installs no loader.
- ``'tornadopy.template.mako_loader.MakoTemplateLoader'`` -- Mako.
- ``'tornadopy.template.jinja2_loader.Jinja2TemplateLoader'`` -- Jinja2.

Both loaders are :class:`tornado.template.BaseLoader` subclasses that the application hands to
Tornado as its ``template_loader`` setting, so ``RequestHandler.render()``/``render_string()``
work unchanged and templates see Tornado's handler namespace (``handler``, ``request``,
``current_user``, ``locale``, ``_``, ``pgettext``, ``static_url``, ``xsrf_form_html``,
``reverse_url``) plus the render keyword arguments. Output is UTF-8 bytes.

The other ``TEMPLATE_CONFIG`` keys (the seed's options):

=====================  ======================================================================
``filesystem_checks``  both engines: reload a template whose file changed (mako
                       ``filesystem_checks``, jinja2 ``auto_reload``).
``cache_directory``    both engines: where compiled templates are written (mako
                       ``module_directory``; jinja2 a ``FileSystemBytecodeCache``). A relative
                       path is taken **relative to the template directory** (so the default
                       ``'../_tmpl_cache'`` is a sibling of ``templates/``); ``None`` disables.
``collection_size``    mako: templates kept in memory (``-1`` = all).
``cache_size``         jinja2: templates kept in memory (``-1`` = all, ``0`` = compile every time).
``format_exceptions``  mako: render an error page instead of raising.
``autoescape``         jinja2: ``True``/``False``, a list of file extensions to escape, or a
                       callable ``(template_name) -> bool``. (Mako escapes with
                       ``'default_filters': ['h']``.)
=====================  ======================================================================

Any other key that is an argument of ``mako.lookup.TemplateLookup`` / ``jinja2.Environment`` is
passed through (e.g. ``default_filters``, ``imports``, ``extensions``, ``trim_blocks``); an
engine's own argument name wins over the seed alias (``module_directory`` over
``cache_directory``). Keys meant for the other engine are ignored; keys no engine knows are
ignored with a warning in the log. A bad value raises :class:`ImproperlyConfigured` at start-up.

With either engine, ``xsrf_form_html()`` returns markup that auto-escaping leaves alone.
A template that does not exist raises :class:`TemplateNotFound`.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup
from tornado.template import BaseLoader

from tornadopy.exception import ImproperlyConfigured, TornadopyError
from tornadopy.importer import import_object

__all__ = ["SEED_OPTIONS", "TemplateNotFound", "create_loader"]

log = logging.getLogger(__name__)

SETTING = "TEMPLATE_CONFIG"

#: The keys of ``TEMPLATE_CONFIG`` defined by the seed (every engine tolerates all of them).
SEED_OPTIONS = frozenset(
    {
        "template_engine",
        "filesystem_checks",
        "cache_directory",
        "collection_size",
        "cache_size",
        "format_exceptions",
        "autoescape",
    }
)


class TemplateNotFound(TornadopyError, FileNotFoundError):
    """``render('name')`` named a template that is not in the template directory.

    A :class:`FileNotFoundError`, like the error Tornado's own loader raises, so handlers catch
    the same exception whatever the engine.
    """

    def __init__(self, template_name: str, directory: str, engine: str) -> None:
        super().__init__(
            f"template {template_name!r} was not found in {directory} ({engine}); check the "
            "name and TORNADO_CONF['template_path']."
        )
        self.errno = errno.ENOENT
        self.template_name = template_name
        self.directory = directory
        self.filename = os.path.join(directory, template_name.lstrip("/"))

    def __str__(self) -> str:
        return str(self.args[0])


def create_loader(template_path: str | None, config: Mapping[str, Any]) -> BaseLoader | None:
    """Build the template loader named by ``config['template_engine']`` (``TEMPLATE_CONFIG``).

    Returns ``None`` for Tornado's own engine (``template_engine`` is ``None``); otherwise an
    instance of the named :class:`~tornado.template.BaseLoader` subclass, constructed as
    ``cls(template_path, **options)`` with every other key of ``config``. Call once at start-up
    and pass the result as Tornado's ``template_loader`` setting.
    """
    engine = config.get("template_engine")
    if engine is None:
        return None
    setting = f"{SETTING}['template_engine']"
    cls = engine if isinstance(engine, type) else import_object(engine, setting=setting)
    if not (isinstance(cls, type) and issubclass(cls, BaseLoader)):
        raise ImproperlyConfigured(
            f"{setting} names {engine!r}, which is not a tornado.template.BaseLoader subclass; "
            "use 'tornadopy.template.mako_loader.MakoTemplateLoader', "
            "'tornadopy.template.jinja2_loader.Jinja2TemplateLoader' or None."
        )
    if not template_path:
        raise ImproperlyConfigured(
            f"{setting} = {engine!r} needs a template directory: set TORNADO_CONF['template_path']."
        )
    options = {k: v for k, v in config.items() if k != "template_engine"}
    return cls(template_path, **options)


# ---------------------------------------------------------------- helpers for the engine modules


def html_safe_namespace(namespace: dict[str, Any]) -> dict[str, Any]:
    """Make Tornado's HTML-producing namespace helpers return :class:`~markupsafe.Markup`.

    ``xsrf_form_html()`` returns an ``<input>`` tag; under auto-escaping it must not be escaped.
    """
    xsrf = namespace.get("xsrf_form_html")
    if xsrf is not None:
        namespace["xsrf_form_html"] = lambda: Markup(xsrf())
    return namespace


def option_error(key: str, value: Any, expected: str) -> ImproperlyConfigured:
    """The error for a bad ``TEMPLATE_CONFIG[key]``."""
    return ImproperlyConfigured(f"{SETTING}[{key!r}] = {value!r} is invalid: expected {expected}.")


def bool_option(options: Mapping[str, Any], key: str, default: bool) -> bool:
    """``options[key]`` checked to be a bool."""
    value = options.get(key, default)
    if not isinstance(value, bool):
        raise option_error(key, value, "True or False")
    return value


def int_option(options: Mapping[str, Any], key: str, default: int) -> int:
    """``options[key]`` checked to be an int >= -1 (``-1`` meaning unbounded)."""
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise option_error(key, value, "an integer >= -1 (-1 = unbounded)")
    return value


def cache_directory_option(options: Mapping[str, Any], root: str) -> str | None:
    """``options['cache_directory']`` as an absolute path (relative to ``root``), created; or None."""
    value = options.get("cache_directory")
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise option_error("cache_directory", value, "a directory path or None")
    path = os.path.normpath(os.path.join(root, os.fspath(value)))
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"{SETTING}['cache_directory'] = {value!r}: cannot create {path} ({exc}); choose a "
            "writable directory or None."
        ) from exc
    return path


def passthrough_options(
    options: Mapping[str, Any],
    accepted: Iterable[str],
    owned: Mapping[str, str],
    engine: str,
) -> dict[str, Any]:
    """The keys of ``options`` to hand to the engine verbatim.

    ``accepted`` are the engine's argument names; ``owned`` maps the ones the loader sets itself
    to the reason they cannot be set. Seed options are skipped (the loader maps them itself);
    other unknown keys are dropped with a warning.
    """
    accepted = frozenset(accepted)
    extra: dict[str, Any] = {}
    for key, value in options.items():
        if key in SEED_OPTIONS:
            continue
        if key in owned:
            raise ImproperlyConfigured(
                f"{SETTING}[{key!r}] cannot be set for {engine}: {owned[key]}"
            )
        if key in accepted:
            extra[key] = value
        elif key not in SEED_OPTIONS:
            log.warning("%s[%r] is ignored: not an argument of %s", SETTING, key, engine)
    return extra


def engine_error(engine: str, exc: Exception, passed: Mapping[str, Any]) -> ImproperlyConfigured:
    """The error for engine options the engine itself refused (``passed``: the pass-through keys)."""
    given = ", ".join(f"{SETTING}[{k!r}] = {v!r}" for k, v in passed.items()) or "none"
    return ImproperlyConfigured(
        f"{engine} refused its options: {type(exc).__name__}: {exc}. Options passed through "
        f"from {SETTING}: {given}."
    )


def normalize_name(name: str) -> str | None:
    """``name`` as a '/'-separated path inside the template directory, or None if it leaves it."""
    parts: list[str] = []
    for part in name.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            return None
        parts.append(part)
    return "/".join(parts) or None
