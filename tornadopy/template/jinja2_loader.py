"""Jinja2 templates for ``self.render()``: ``TEMPLATE_CONFIG['template_engine'] =
'tornadopy.template.jinja2_loader.Jinja2TemplateLoader'`` (options: see :mod:`tornadopy.template`).

Add filters, tests or globals on the loader's :attr:`~Jinja2TemplateLoader.environment` at
start-up.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
from tornado.template import BaseLoader

from tornadopy.template import (
    TemplateNotFound,
    bool_option,
    cache_directory_option,
    engine_error,
    html_safe_namespace,
    int_option,
    option_error,
    passthrough_options,
)

__all__ = ["Jinja2Template", "Jinja2TemplateLoader"]

ENGINE = "jinja2.Environment"
_ACCEPTED = frozenset(inspect.signature(jinja2.Environment.__init__).parameters) - {"self"}
_OWNED = {
    "loader": "templates are read from TORNADO_CONF['template_path'] "
    "(subclass Jinja2TemplateLoader to load them otherwise)."
}


class Jinja2Template:
    """A compiled Jinja2 template as Tornado's ``render_string`` uses it (``generate``)."""

    __slots__ = ("name", "template")

    def __init__(self, template: jinja2.Template, name: str) -> None:
        self.template = template
        self.name = name

    def generate(self, **kwargs: Any) -> bytes:
        """Render with ``kwargs`` (Tornado's handler namespace plus the render arguments)."""
        return self.template.render(**html_safe_namespace(kwargs)).encode("utf-8")


def _autoescape(options: Mapping[str, Any]) -> bool | Callable[[str | None], bool]:
    value = options.get("autoescape", False)
    if isinstance(value, bool) or callable(value):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return jinja2.select_autoescape(enabled_extensions=tuple(value), default_for_string=True)
    raise option_error(
        "autoescape",
        value,
        "True, False, a list of file extensions such as ['html', 'xml'], or a callable "
        "(template_name) -> bool",
    )


class Jinja2TemplateLoader(BaseLoader):
    """Loads Jinja2 templates from ``root_directory`` through one :class:`jinja2.Environment`.

    ``options`` is ``TEMPLATE_CONFIG`` without ``template_engine``. :meth:`reset` (called by
    Tornado before every request when ``compiled_template_cache`` is off, e.g. ``DEBUG``) empties
    the environment's template cache.
    """

    def __init__(self, root_directory: str, **options: Any) -> None:
        super().__init__(autoescape=None)
        self.root = os.path.abspath(root_directory)
        env_options: dict[str, Any] = {
            "loader": jinja2.FileSystemLoader(self.root, encoding="utf-8"),
            "auto_reload": bool_option(options, "filesystem_checks", True),
            "cache_size": int_option(options, "cache_size", 400),
            "autoescape": _autoescape(options),
        }
        self._extra = extra = passthrough_options(options, _ACCEPTED, _OWNED, ENGINE)
        if "bytecode_cache" not in extra:
            directory = cache_directory_option(options, self.root)
            if directory is not None:
                env_options["bytecode_cache"] = jinja2.FileSystemBytecodeCache(directory)
        env_options.update(extra)
        try:
            self.environment = jinja2.Environment(**env_options)
        except (TypeError, ValueError, ImportError) as exc:
            raise engine_error(ENGINE, exc, self._extra) from exc

    def reset(self) -> None:
        """Forget every compiled template held in memory (the bytecode cache is kept)."""
        with self.lock:
            cache = self.environment.cache
            if cache is not None:
                cache.clear()

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        """``name`` unchanged: Jinja2 resolves names against the template directory itself."""
        return name

    def load(self, name: str, parent_path: str | None = None) -> Jinja2Template:  # type: ignore[override]
        """The template ``name`` (relative to the template directory), compiled and cached."""
        try:
            template = self.environment.get_template(name)
        except jinja2.TemplateNotFound as exc:
            raise TemplateNotFound(name, self.root, "jinja2") from exc
        return Jinja2Template(template, name)
