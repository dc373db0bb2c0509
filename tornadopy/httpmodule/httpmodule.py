"""``HttpModuleMiddleware``: runs ``COMMON_MODULES`` and ``ROUTE_MODULES`` (SPEC §8).

Each route's module chain is computed once: per route name at start-up, and per combination of
matching path regexes on first use (memoised). Per request, every regex key is searched in the
request path exactly once (in ``process_request``); the other phases reuse the chain found then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import CoroutineType
from typing import Any

from tornadopy.conf import settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.httpmodule import BaseHttpModule
from tornadopy.importer import import_object

_HOOKS = ("begin_request", "begin_render", "begin_response", "complete_response")
_UNSET = object()


@dataclass(frozen=True)
class _Rule:
    """One ROUTE_MODULES entry."""

    key: str
    add: tuple[BaseHttpModule, ...]
    remove: frozenset[type]
    remove_all: bool


@dataclass(frozen=True)
class Chain:
    """The modules that apply to a request, one tuple of bound hooks per phase."""

    modules: tuple[BaseHttpModule, ...]
    begin_request: tuple[Any, ...]
    begin_render: tuple[Any, ...]
    begin_response: tuple[Any, ...]
    complete_response: tuple[Any, ...]

    @classmethod
    def of(cls, modules: list[BaseHttpModule]) -> Chain:
        hooks = {
            name: tuple(h for h in (getattr(m, name, None) for m in modules) if h is not None)
            for name in _HOOKS
        }
        return cls(tuple(modules), **hooks)


def _module(path: Any, setting: str) -> BaseHttpModule:
    cls = import_object(path, setting=setting) if isinstance(path, str) else path
    if not (isinstance(cls, type) and issubclass(cls, BaseHttpModule)):
        raise ImproperlyConfigured(
            f"{setting}: {path!r} is not a subclass of tornadopy.httpmodule.BaseHttpModule"
        )
    return cls()


class HttpModuleMiddleware:
    """Runs HTTP modules at its place in ``MIDDLEWARE_CLASSES``."""

    def __init__(self) -> None:
        common_paths = list(settings.COMMON_MODULES)
        self.common = [_module(p, "COMMON_MODULES") for p in common_paths]
        by_path = {
            p if isinstance(p, str) else f"{p.__module__}.{p.__qualname__}": type(m)
            for p, m in zip(common_paths, self.common, strict=True)
        }
        self.rules: list[_Rule] = []
        for key, entries in dict(settings.ROUTE_MODULES).items():
            setting = f"ROUTE_MODULES[{key!r}]"
            add: list[BaseHttpModule] = []
            remove: set[type] = set()
            remove_all = False
            for entry in entries:
                if isinstance(entry, str) and entry.startswith("!"):
                    target = entry[1:]
                    if target == "all":
                        remove_all = True
                    elif target in by_path:
                        remove.add(by_path[target])
                    else:
                        raise ImproperlyConfigured(
                            f"{setting}: {entry!r} switches off {target!r}, which is not in "
                            "COMMON_MODULES"
                        )
                else:
                    add.append(_module(entry, setting))
            self.rules.append(_Rule(key, tuple(add), frozenset(remove), remove_all))
        self._name_rules: dict[str, list[int]] = {}
        self._regex_rules: list[tuple[int, re.Pattern[str]]] = []
        self._chains: dict[tuple[str | None, tuple[int, ...]], Chain] = {}
        self._classified = False
        self._classify(set())
        # phases no module implements cost nothing
        every = self.common + [m for r in self.rules for m in r.add]
        if not any(getattr(m, "begin_render", None) for m in every):
            self.process_render = None  # type: ignore[assignment]
        if not any(getattr(m, "begin_response", None) for m in every):
            self.process_response = None  # type: ignore[assignment]
        if not any(getattr(m, "complete_response", None) for m in every):
            self.process_endcall = None  # type: ignore[assignment]

    def _classify(self, route_names: set[str]) -> None:
        """A key naming a route is a name rule; any other key is a regex searched in the path."""
        self._name_rules = {}
        self._regex_rules = []
        for index, rule in enumerate(self.rules):
            if rule.key in route_names:
                self._name_rules.setdefault(rule.key, []).append(index)
            else:
                try:
                    self._regex_rules.append((index, re.compile(rule.key)))
                except re.error as exc:
                    raise ImproperlyConfigured(
                        f"ROUTE_MODULES: key {rule.key!r} is neither a route name nor a valid "
                        f"regular expression ({exc})"
                    ) from None
        self._chains = {}

    def process_init(self, application: Any) -> None:
        names = {r["name"] for r in getattr(application, "route_table", ()) if r["name"]}
        self._classify(names)

    def _rule_indexes(self, route_name: str | None, matched: tuple[int, ...]) -> list[int]:
        if not route_name:
            return list(matched)
        return sorted(set(self._name_rules.get(route_name, [])) | set(matched))

    def rules_for(self, route_name: str | None, path: str) -> list[_Rule]:
        """The ``ROUTE_MODULES`` rules that apply to a request for ``path`` on ``route_name``."""
        matched = tuple(i for i, rx in self._regex_rules if rx.search(path))
        return [self.rules[i] for i in self._rule_indexes(route_name, matched)]

    def chain_for(self, route_name: str | None, path: str) -> Chain:
        """The modules for a request (memoised per route name and set of matching regexes)."""
        matched = tuple(i for i, rx in self._regex_rules if rx.search(path))
        key = (route_name, matched)
        chain = self._chains.get(key)
        if chain is None:
            rules = [self.rules[i] for i in self._rule_indexes(route_name, matched)]
            if any(r.remove_all for r in rules):
                modules: list[BaseHttpModule] = []
            else:
                removed = set().union(*(r.remove for r in rules)) if rules else set()
                modules = [m for m in self.common if type(m) not in removed]
            for r in rules:
                modules.extend(m for m in r.add if m not in modules)
            chain = self._chains[key] = Chain.of(modules)
        return chain

    # ------------------------------------------------------------------ middleware hooks
    def _chain(self, handler: Any) -> Chain | None:
        """The request's chain: found once (normally in process_request), then reused."""
        chain = handler.__dict__.get("_http_modules", _UNSET)
        if chain is not _UNSET:
            return chain  # type: ignore[no-any-return]
        chain = None
        if getattr(handler, "http_modules_apply", False):
            chain = self.chain_for(handler.route_name, handler.request.path)
        handler._http_modules = chain
        return chain

    # plain ``def`` hooks: they return an awaitable only when a module has something to run
    def process_request(self, handler: Any, clear: Any) -> Any:
        chain = self._chain(handler)
        if chain is not None and chain.begin_request:
            return _run_handler_modules(chain.begin_request, clear, handler)
        return None

    def process_render(self, handler: Any, clear: Any, template_name: str, **kwargs: Any) -> Any:
        chain = self._chain(handler)
        if chain is not None and chain.begin_render:
            return _run_modules(chain.begin_render, clear, handler, clear, template_name, **kwargs)
        return None

    def process_response(self, handler: Any, clear: Any, chunk: list[bytes]) -> Any:
        chain = self._chain(handler)
        if chain is not None and chain.begin_response:
            return _run_response_modules(chain.begin_response, clear, handler, chunk)
        return None

    def process_endcall(self, handler: Any, clear: Any) -> Any:
        chain = self._chain(handler)
        if chain is not None and chain.complete_response:
            return _run_handler_modules(chain.complete_response, clear, handler)
        return None


# A truthy return from a module stops only the remaining *modules* of that phase: the
# middleware itself returns None, so later middlewares of the phase still run. The two
# fixed-arity copies serve the per-request phases (request/endcall, response) without the
# ``*args, **kwargs`` call of the generic one.


async def _run_modules(hooks: Any, clear: Any, *args: Any, **kwargs: Any) -> None:
    for hook in hooks:
        if clear.cleared:
            return
        result = hook(*args, **kwargs)
        if result is not None:
            if result.__class__ is CoroutineType or hasattr(result, "__await__"):
                result = await result
            if result:
                return


async def _run_handler_modules(hooks: Any, clear: Any, handler: Any) -> None:
    for hook in hooks:
        if clear.cleared:
            return
        result = hook(handler, clear)
        if result is not None:
            if result.__class__ is CoroutineType or hasattr(result, "__await__"):
                result = await result
            if result:
                return


async def _run_response_modules(hooks: Any, clear: Any, handler: Any, chunk: Any) -> None:
    for hook in hooks:
        if clear.cleared:
            return
        result = hook(handler, clear, chunk)
        if result is not None:
            if result.__class__ is CoroutineType or hasattr(result, "__await__"):
                result = await result
            if result:
                return
