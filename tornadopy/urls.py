"""URL declarations: ``Url``, ``route`` and ``include``.

::

    u = Url('myapp.handlers', abc='abc')
    urls = route(
        u(name='Index', pattern=r'/?', handler='main_handler.Main'),
        u(r'/user/?', 'main_handler.User', kwargs={'abc': 'other'}),
        include('/blog', 'myapp.url_blog.URLS'),
    )

``Url`` kwargs and a route's ``kwargs`` reach the handler as ``self._url_kwargs`` (route kwargs
win); every handler instance gets its own copy. String handlers are resolved when the application
is built (:func:`resolve_urls`), never on the request path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tornadopy.exception import ImproperlyConfigured
from tornadopy.importer import import_object


@dataclass(frozen=True)
class RouteSpec:
    """One declared route, before its handler path is resolved."""

    pattern: str
    handler: str | type
    kwargs: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    prefix: str = ""

    def with_pattern(self, pattern: str) -> RouteSpec:
        return RouteSpec(pattern, self.handler, self.kwargs, self.name, self.prefix)

    @property
    def handler_path(self) -> str:
        if isinstance(self.handler, str):
            return f"{self.prefix}.{self.handler}" if self.prefix else self.handler
        return f"{self.handler.__module__}.{self.handler.__qualname__}"


class Url:
    """``Url(prefix='', **kwargs)``: a route factory for handlers under the module ``prefix``."""

    def __init__(self, prefix: str = "", **kwargs: Any) -> None:
        self.prefix = prefix.rstrip(".")
        self.kwargs = kwargs

    def __call__(
        self,
        pattern: str,
        handler: str | type,
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> RouteSpec:
        merged = dict(self.kwargs)
        if kwargs:
            merged.update(kwargs)
        return RouteSpec(pattern, handler, merged, name, self.prefix)


def route(*specs: RouteSpec | Sequence[RouteSpec]) -> list[RouteSpec]:
    """Collect route specs (and lists of them, e.g. from :func:`include`) into one list."""
    out: list[RouteSpec] = []
    for spec in specs:
        if isinstance(spec, RouteSpec):
            out.append(spec)
        elif isinstance(spec, (list, tuple)):
            out.extend(route(*spec))
        else:
            raise ImproperlyConfigured(f"route() got {spec!r}, which is not a Url(...) route")
    return out


def join_path(prefix: str, pattern: str) -> str:
    """Join a path prefix and a pattern with exactly one ``/`` (a leading ``^`` is kept)."""
    anchored = pattern.startswith("^")
    if anchored:
        pattern = pattern[1:]
    joined = prefix.rstrip("/") + "/" + pattern.lstrip("/")
    return ("^" + joined) if anchored else joined


def include(path_prefix: str, urls: str | Iterable[RouteSpec]) -> list[RouteSpec]:
    """Mount a list of routes (or a dotted path to one) under ``path_prefix``."""
    if isinstance(urls, str):
        urls = import_object(urls, setting=f"include({path_prefix!r})")
    return [spec.with_pattern(join_path(path_prefix, spec.pattern)) for spec in route(*urls)]


def _normalise_pattern(pattern: str) -> str:
    if pattern.startswith("^"):
        pattern = pattern[1:]
    if not pattern.startswith("/"):
        pattern = "/" + pattern
    return pattern


def resolve_urls(
    specs: Iterable[RouteSpec], source: str = "urls"
) -> list[tuple[str, type, dict[str, Any], str | None, str]]:
    """Resolve handler paths; check names are unique. Returns (pattern, class, kwargs, name, path)."""
    seen: dict[str, str] = {}
    out = []
    for spec in specs:
        handler: Callable[..., Any] | type
        if isinstance(spec.handler, str):
            handler = import_object(
                spec.handler_path, setting=f"{source} (handler of {spec.pattern!r})"
            )
        else:
            handler = spec.handler
        if not isinstance(handler, type):
            raise ImproperlyConfigured(f"{source}: handler {spec.handler_path!r} is not a class")
        if spec.name is not None:
            if spec.name in seen:
                raise ImproperlyConfigured(
                    f"{source}: route name {spec.name!r} is used twice "
                    f"({seen[spec.name]!r} and {spec.pattern!r}); route names must be unique."
                )
            seen[spec.name] = spec.pattern
        out.append(
            (
                _normalise_pattern(spec.pattern),
                handler,
                dict(spec.kwargs),
                spec.name,
                spec.handler_path,
            )
        )
    return out
