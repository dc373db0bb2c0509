"""``routes``: the URL table -- pattern, name, handler and the HTTP modules that apply.

Routes are listed in the order Tornado tries them (the static-file routes Tornado adds for
``static_path`` come first). The modules of a route are the ones
:class:`~tornadopy.httpmodule.httpmodule.HttpModuleMiddleware` runs for it (its own
``chain_for``): ``COMMON_MODULES`` minus the ones switched off, plus ``ROUTE_MODULES`` matches.
A module added by a ``ROUTE_MODULES`` key, or a common module switched off by one (``!path``),
names that key. Regex keys are searched in sample paths of the route
(:func:`~tornadopy.cli.samples.sample_paths`), as they are in the request path; when they
give different modules for ``/blog/`` and ``/blog``, both are shown.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from tornadopy.cli.base import CommandError, load_settings, project_settings, reason
from tornadopy.cli.samples import sample_paths
from tornadopy.exception import ImproperlyConfigured


@dataclass
class Modules:
    """The HTTP modules that run for one request path of a route."""

    path: str
    #: [{"module": dotted path, "source": "COMMON_MODULES" | "ROUTE_MODULES", "key": the
    #: ROUTE_MODULES key that added it (or None), "kind": "name" | "regex" | None}]
    modules: list[dict[str, Any]] = field(default_factory=list)
    #: common modules switched off (``!path``, ``!all``), each with the key that did it
    off: list[dict[str, Any]] = field(default_factory=list)

    def same_as(self, other: Modules) -> bool:
        return (self.modules, self.off) == (other.modules, other.off)


@dataclass
class Row:
    """One route of the table."""

    pattern: str
    name: str | None
    handler: str
    #: False when modules never run for this route (not a WebHandler, or no
    #: HttpModuleMiddleware in MIDDLEWARE_CLASSES)
    modules_apply: bool
    #: the modules for a sample path of the route; more than one entry when regex keys
    #: make them differ between its sample paths (e.g. ``/blog`` and ``/blog/``)
    paths: list[Modules] = field(default_factory=list)


def add_routes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "routes",
        help="print every URL: pattern, name, handler and the HTTP modules that apply",
        description="Print the URL table of the project in the current directory.",
    )
    p.add_argument("--settings", help="settings module (default: as runserver)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=routes)


def routes(args: argparse.Namespace) -> int:
    with project_settings("routes", args.settings):
        load_settings()
        try:
            rows = route_rows()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:  # e.g. a handler module that raises while importing
            raise CommandError(f"the application does not build: {reason(exc)}") from exc
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        print(format_table(rows))
    return 0


def _dotted(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _strip_end(pattern: str) -> str:
    return pattern[:-1] if pattern.endswith("$") and not pattern.endswith("\\$") else pattern


def route_rows() -> list[Row]:
    """Build the application from the current settings and describe each of its routes."""
    from tornadopy.application import Application, StaticMatcher
    from tornadopy.httpmodule.httpmodule import HttpModuleMiddleware

    app = Application()
    mw = app.middleware.find(HttpModuleMiddleware)
    if mw is not None:
        mw.process_init(app)  # classifies ROUTE_MODULES keys into route names and regexes
    declared = {id(r["spec"]): r for r in app.route_table}
    rows = []
    listed: list[tuple[Any, str]] = []
    for rule in app.wildcard_router.rules:
        if isinstance(rule.matcher, StaticMatcher):  # one matcher for Tornado's three routes
            listed.extend((rule, pattern) for pattern in rule.matcher.patterns)
            continue
        regex = getattr(rule.matcher, "regex", None)
        listed.append(
            (rule, _strip_end(regex.pattern) if regex is not None else repr(rule.matcher))
        )
    for rule, pattern in listed:
        entry = declared.get(id(rule))
        handler = rule.target
        name = entry["name"] if entry else getattr(rule, "name", None)
        path = entry["path"] if entry and not entry["path"].startswith("<") else _dotted(handler)
        applies = bool(getattr(handler, "http_modules_apply", False)) and mw is not None
        row = Row(pattern, name, path, applies)
        if applies:
            for sample in sample_paths(pattern) or [pattern]:
                found = describe_modules(mw, name, sample)
                if not any(found.same_as(p) for p in row.paths):
                    row.paths.append(found)
        rows.append(row)
    return rows


def _rules_for(mw: Any, route_name: str | None, path: str) -> list[Any]:
    """The ``ROUTE_MODULES`` entries that apply to a request, in the dict's order."""
    return list(mw.rules_for(route_name, path))


def describe_modules(mw: Any, route_name: str | None, path: str) -> Modules:
    """The modules ``mw`` runs for a request to ``path`` routed to ``route_name`` (its own
    ``chain_for``), each with where it comes from."""
    chain = mw.chain_for(route_name, path)
    rules = _rules_for(mw, route_name, path)
    result = Modules(path)

    def origin(rule: Any) -> dict[str, Any]:
        kind = "name" if rule.key == route_name else "regex"
        return {"source": "ROUTE_MODULES", "key": rule.key, "kind": kind}

    off_by = {id(m): [r for r in rules if r.remove_all or type(m) in r.remove] for m in mw.common}
    for module in chain.modules:
        entry: dict[str, Any] = {"module": _dotted(module)}
        if any(module is m for m in mw.common) and not off_by[id(module)]:
            entry.update(source="COMMON_MODULES", key=None, kind=None)
        else:
            adder = next((r for r in rules if any(module is m for m in r.add)), None)
            entry.update(origin(adder) if adder is not None else {"source": "?"})
        result.modules.append(entry)
    for module in mw.common:
        if not any(module is m for m in chain.modules):
            for rule in off_by[id(module)][:1]:
                result.off.append({"module": _dotted(module), **origin(rule)})
    return result


def _describe(found: Modules) -> str:
    parts = [
        m["module"] if m["key"] is None else f"{m['module']} (+ {m['kind']} {m['key']!r})"
        for m in found.modules
    ]
    parts += [f"!{m['module']} ({m['kind']} {m['key']!r})" for m in found.off]
    return ", ".join(parts) or "-"


def _modules_cell(row: Row) -> str:
    if not row.modules_apply:
        return "n/a"
    if len(row.paths) == 1:
        return _describe(row.paths[0])
    return "  |  ".join(f"{p.path}: {_describe(p)}" for p in row.paths)


def format_table(rows: list[Row]) -> str:
    """An aligned table: PATTERN, NAME, HANDLER, MODULES (``!path`` = switched off)."""
    table = [("PATTERN", "NAME", "HANDLER", "MODULES")]
    table += [(r.pattern, r.name or "-", r.handler, _modules_cell(r)) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line[:3], widths, strict=True)) + "  " + line[3]
        for line in table
    )
