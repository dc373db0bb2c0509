"""Mako templates for ``self.render()``: ``TEMPLATE_CONFIG['template_engine'] =
'tornadopy.template.mako_loader.MakoTemplateLoader'`` (options: see :mod:`tornadopy.template`).

Mako does not escape by default; ``${value | h}`` escapes one value and
``'default_filters': ['h']`` in ``TEMPLATE_CONFIG`` escapes everything.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from mako.exceptions import TemplateLookupException
from mako.lookup import TemplateLookup
from mako.template import Template as _MakoTemplate
from tornado.template import BaseLoader

from tornadopy.template import (
    TemplateNotFound,
    bool_option,
    cache_directory_option,
    engine_error,
    html_safe_namespace,
    int_option,
    normalize_name,
    passthrough_options,
)

__all__ = ["MakoTemplate", "MakoTemplateLoader"]

ENGINE = "mako.lookup.TemplateLookup"
_ACCEPTED = frozenset(inspect.signature(TemplateLookup.__init__).parameters) - {"self"}
_OWNED = {"directories": "templates are read from TORNADO_CONF['template_path']."}


class MakoTemplate:
    """A compiled Mako template as Tornado's ``render_string`` uses it (``generate``)."""

    __slots__ = ("name", "template")

    def __init__(self, template: _MakoTemplate, name: str) -> None:
        self.template = template
        self.name = name

    def generate(self, **kwargs: Any) -> bytes:
        """Render with ``kwargs`` (Tornado's handler namespace plus the render arguments)."""
        text: str = self.template.render_unicode(**html_safe_namespace(kwargs))
        return text.encode("utf-8")


class MakoTemplateLoader(BaseLoader):
    """Loads Mako templates from ``root_directory`` through one :class:`mako.lookup.TemplateLookup`.

    ``options`` is ``TEMPLATE_CONFIG`` without ``template_engine``; the lookup (public as
    :attr:`lookup`, e.g. to inspect it) is rebuilt by :meth:`reset`, which Tornado calls before
    every request when ``compiled_template_cache`` is off (``DEBUG``).
    """

    def __init__(self, root_directory: str, **options: Any) -> None:
        super().__init__(autoescape=None)
        self.root = os.path.abspath(root_directory)
        self.lookup_options: dict[str, Any] = {
            "directories": [self.root],
            "filesystem_checks": bool_option(options, "filesystem_checks", True),
            "collection_size": int_option(options, "collection_size", -1),
            "format_exceptions": bool_option(options, "format_exceptions", False),
            "input_encoding": "utf-8",
        }
        self._extra = extra = passthrough_options(options, _ACCEPTED, _OWNED, ENGINE)
        if "module_directory" not in extra:
            self.lookup_options["module_directory"] = cache_directory_option(options, self.root)
        self.lookup_options.update(extra)
        self.lookup = self._make_lookup()

    def _make_lookup(self) -> TemplateLookup:
        try:
            return TemplateLookup(**self.lookup_options)
        except (TypeError, ValueError) as exc:
            raise engine_error(ENGINE, exc, self._extra) from exc

    def reset(self) -> None:
        """Forget every compiled template (module files in ``cache_directory`` are kept)."""
        with self.lock:
            self.lookup = self._make_lookup()

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        """The Mako URI of ``name`` (``'/dir/page.html'``), always inside the template directory."""
        path = normalize_name(name)
        if path is None:
            raise TemplateNotFound(name, self.root, "mako")
        return "/" + path

    def load(self, name: str, parent_path: str | None = None) -> MakoTemplate:  # type: ignore[override]
        """The template ``name`` (relative to the template directory), compiled and cached."""
        uri = self.resolve_path(name, parent_path)
        try:
            template = self.lookup.get_template(uri)
        except TemplateLookupException as exc:
            raise TemplateNotFound(name, self.root, "mako") from exc
        return MakoTemplate(template, uri)
