"""HTTP modules (SPEC §8): route-level hooks enabled by ``HttpModuleMiddleware``.

A module subclasses :class:`BaseHttpModule` and defines any of::

    async def begin_request(self, handler, clear): ...
    async def begin_render(self, handler, clear, template_name, **kwargs): ...
    async def begin_response(self, handler, clear, chunk): ...
    async def complete_response(self, handler, clear): ...

``COMMON_MODULES`` run for every routed request, in declaration order in every phase, before the
route modules. ``ROUTE_MODULES`` maps a route name or a path regex to a list of modules;
``'!dotted.path'`` switches a common module off for those requests, ``'!all'`` all of them.
"""

from __future__ import annotations

from typing import Any


class BaseHttpModule:
    """Base class of HTTP modules; one instance per class (a singleton)."""

    _instances: dict[type, BaseHttpModule] = {}

    def __new__(cls, *args: Any, **kwargs: Any) -> BaseHttpModule:
        instance = BaseHttpModule._instances.get(cls)
        if instance is None:
            instance = super().__new__(cls)
            BaseHttpModule._instances[cls] = instance
        return instance


__all__ = ["BaseHttpModule"]
