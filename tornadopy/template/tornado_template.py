"""Tornado's own template engine (``TEMPLATE_CONFIG['template_engine'] = None``), without the
reference cycle its ``Template.generate()`` leaves behind.

Tornado runs a template by executing its compiled module in a fresh namespace dict and calling
the ``_tt_execute`` function that module defined. That function's globals *are* the namespace,
and the namespace holds the function: a reference cycle, and the namespace also holds the
handler, the request and every render argument. So each ``render()`` left the whole request to
the cyclic garbage collector instead of freeing it at once; under load the collector's passes
over those objects cost a visible share of a templated request (``benchmarks/README.md``,
"Reference cycles"). :class:`Template` takes the function out of the namespace before calling
it, which breaks the cycle; everything else is Tornado's code path, unchanged.

``WebHandler.create_template_loader`` hands out :class:`Loader` (Tornado's file loader making
these templates) unless the application sets its own ``template_loader`` (Mako, Jinja2, or a
loader of the application's own). ``tests/test_templates.py`` pins that the output is the same
as Tornado's for the namespace helpers, ``{% extends %}``, ``{% include %}``, ``{% apply %}``,
``{% module %}`` and autoescaping.
"""

from __future__ import annotations

import datetime
import linecache
import os
from typing import Any

import tornado.template
from tornado import escape
from tornado.util import ObjectDict, exec_in

__all__ = ["Loader", "Template"]


class Template(tornado.template.Template):
    """A Tornado template whose :meth:`generate` leaves no reference cycle."""

    def generate(self, **kwargs: Any) -> bytes:
        """Generate this template with the given arguments (as Tornado's ``generate``)."""
        code = self.code
        namespace: dict[str, Any] = {
            "escape": escape.xhtml_escape,
            "xhtml_escape": escape.xhtml_escape,
            "url_escape": escape.url_escape,
            "json_encode": escape.json_encode,
            "squeeze": escape.squeeze,
            "linkify": escape.linkify,
            "datetime": datetime,
            "_tt_utf8": escape.utf8,
            "_tt_string_types": (str, bytes),
            # __name__ and __loader__ let tracebacks show the generated source
            "__name__": self.name.replace(".", "_"),
            "__loader__": ObjectDict(get_source=lambda name: code),
        }
        namespace.update(self.namespace)
        namespace.update(kwargs)
        exec_in(self.compiled, namespace)
        execute = namespace.pop("_tt_execute")  # the namespace no longer holds the function
        linecache.clearcache()
        return execute()  # type: ignore[no-any-return]


class Loader(tornado.template.Loader):
    """Tornado's file-system template loader, making :class:`Template` instances."""

    def _create_template(self, name: str) -> Template:
        path = os.path.join(self.root, name)
        with open(path, "rb") as f:
            return Template(f.read(), name=name, loader=self)
