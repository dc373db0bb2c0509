"""``check``: settings problems, and whether each configured cache and database answers.

One line per item, ``OK`` or ``FAIL`` with the reason; exit status 1 when anything failed.

Settings: the module imports; the start-up refusals of :func:`tornadopy.conf.check_settings`;
every dotted path of ``MIDDLEWARE_CLASSES``, ``COMMON_MODULES``, ``ROUTE_MODULES``,
``CACHES[alias]['BACKEND']`` (and ``KEY_FUNCTION``) and ``TEMPLATE_CONFIG['template_engine']``
imports; every ``INSTALLED_APPS`` entry has its ``urls``, whose handlers import; route names are
unique; and, when all of that passed, the application builds.

Services, all at once, each within ``--timeout`` seconds (3 by default, so a dead server cannot
hang the command): each ``CACHES`` alias does a set/get/delete round trip on a fresh key (a
``RedisClient`` alias, which has no cache API, a PING); each ``DATABASE_CONNECTION`` runs
``SELECT 1`` on its master and on every replica.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import re
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from tornadopy.cli.base import project_settings, reason
from tornadopy.conf import check_settings, settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.importer import import_object

DEFAULT_TIMEOUT = 3.0


@dataclass
class Result:
    """One checked item."""

    ok: bool
    item: str
    detail: str = ""

    def line(self) -> str:
        text = f"{'OK' if self.ok else 'FAIL':<4} {self.item}"
        return f"{text}: {self.detail}" if self.detail else text


def add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="report settings problems and whether each cache and database answers",
        description="Check the settings of the project in the current directory, and whether "
        "each configured cache and database answers. Exit status 1 on any problem.",
    )
    p.add_argument("--settings", help="settings module (default: as runserver)")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds each cache or database may take to answer (default {DEFAULT_TIMEOUT:g})",
    )
    p.set_defaults(func=check)


def check(args: argparse.Namespace) -> int:
    failed = False
    with project_settings("check", args.settings) as name:
        for result in run_checks(name, args.timeout):
            print(result.line(), flush=True)
            failed = failed or not result.ok
    print("check: problems found" if failed else "check: no problems found")
    return 1 if failed else 0


def run_checks(settings_module: str, timeout: float = DEFAULT_TIMEOUT) -> list[Result]:
    """Every check, in order; the settings must point at ``settings_module`` already."""
    try:
        settings.DEBUG  # noqa: B018 - imports the module
    except ImproperlyConfigured as exc:
        return [Result(False, f"settings module {settings_module!r}", str(exc))]
    static = StaticChecks()
    results = [Result(True, f"settings module {settings_module!r}")]
    results += static.run()
    results += asyncio.run(service_checks(timeout, skip_caches=static.bad_caches))
    return results


# ---------------------------------------------------------------- settings


def _path_of(entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    return f"{getattr(entry, '__module__', '?')}.{getattr(entry, '__qualname__', repr(entry))}"


class StaticChecks:
    """The checks that read settings and import code (no network)."""

    def __init__(self) -> None:
        self.results: list[Result] = []
        self.bad_caches: set[str] = set()
        self.route_names: set[str] = set()

    def run(self) -> list[Result]:
        self.secrets()
        self.middleware()
        self.http_modules()
        self.caches()
        self.template_engine()
        self.apps()
        self.route_module_keys()
        self.application()
        return self.results

    def add(self, ok: bool, item: str, detail: str = "") -> bool:
        self.results.append(Result(ok, item, detail))
        return ok

    def importable(self, item: str, entry: Any, setting: str) -> Any:
        """Import ``entry`` (a dotted path or an object); record FAIL and return None if it
        does not import."""
        if not isinstance(entry, str):
            self.add(True, item)
            return entry
        try:
            obj = import_object(entry, setting=setting)
        except Exception as exc:  # a module that raises while importing, too
            self.add(False, item, reason(exc))
            return None
        self.add(True, item)
        return obj

    def secrets(self) -> None:
        try:
            check_settings()
        except ImproperlyConfigured as exc:
            self.add(False, "secrets", reason(exc))
            return
        self.add(True, "secrets", "not required while DEBUG is on" if settings.DEBUG else "")

    def middleware(self) -> None:
        for entry in settings.MIDDLEWARE_CLASSES:
            self.importable(f"MIDDLEWARE_CLASSES {_path_of(entry)!r}", entry, "MIDDLEWARE_CLASSES")

    def _http_module(self, item: str, entry: Any, setting: str) -> None:
        from tornadopy.httpmodule import BaseHttpModule

        obj = entry
        if isinstance(entry, str):
            try:
                obj = import_object(entry, setting=setting)
            except Exception as exc:
                self.add(False, item, reason(exc))
                return
        if not (isinstance(obj, type) and issubclass(obj, BaseHttpModule)):
            self.add(False, item, "not a subclass of tornadopy.httpmodule.BaseHttpModule")
            return
        self.add(True, item)

    def http_modules(self) -> None:
        common = [_path_of(e) for e in settings.COMMON_MODULES]
        for entry in settings.COMMON_MODULES:
            self._http_module(f"COMMON_MODULES {_path_of(entry)!r}", entry, "COMMON_MODULES")
        for key, entries in dict(settings.ROUTE_MODULES).items():
            setting = f"ROUTE_MODULES[{key!r}]"
            for entry in entries:
                item = f"{setting} {_path_of(entry)!r}"
                if isinstance(entry, str) and entry.startswith("!"):
                    target = entry[1:]
                    if target == "all" or target in common:
                        self.add(True, item)
                    else:
                        self.add(False, item, f"switches off {target!r}, not in COMMON_MODULES")
                else:
                    self._http_module(item, entry, setting)

    def caches(self) -> None:
        for alias, params in dict(settings.CACHES).items():
            item = f"CACHES[{alias!r}]"
            if not isinstance(params, dict) or "BACKEND" not in params:
                self.bad_caches.add(alias)
                self.add(False, item, "must be a dict with a 'BACKEND' dotted path")
                continue
            backend = self.importable(
                f"{item}['BACKEND'] {_path_of(params['BACKEND'])!r}",
                params["BACKEND"],
                f"{item}['BACKEND']",
            )
            key_function = params.get("KEY_FUNCTION")
            key_function_ok = True
            if isinstance(key_function, str):
                where = f"{item}['KEY_FUNCTION']"
                found = self.importable(f"{where} {key_function!r}", key_function, where)
                key_function_ok = found is not None
            if backend is None or not key_function_ok:
                self.bad_caches.add(alias)

    def template_engine(self) -> None:
        engine = dict(settings.TEMPLATE_CONFIG).get("template_engine")
        if engine:
            self.importable(
                f"TEMPLATE_CONFIG['template_engine'] {_path_of(engine)!r}",
                engine,
                "TEMPLATE_CONFIG['template_engine']",
            )

    def apps(self) -> None:
        from tornadopy.application import load_app_urls

        specs = []
        for app in settings.INSTALLED_APPS:
            try:
                app_specs = load_app_urls([app])
            except Exception as exc:
                self.add(False, f"INSTALLED_APPS {app!r}", reason(exc))
                continue
            bad = 0
            for spec in app_specs:
                if isinstance(spec.handler, str):
                    setting = f"{app}.urls (handler of {spec.pattern!r})"
                    try:
                        import_object(spec.handler_path, setting=setting)
                    except Exception as exc:
                        bad += 1
                        self.add(False, f"handler {spec.handler_path!r}", reason(exc))
            if not bad:
                self.add(True, f"INSTALLED_APPS {app!r}", f"{len(app_specs)} routes")
            specs.extend(app_specs)
        counts = Counter(s.name for s in specs if s.name is not None)
        duplicates = {name: n for name, n in counts.items() if n > 1}
        for name, n in duplicates.items():
            patterns = ", ".join(repr(s.pattern) for s in specs if s.name == name)
            self.add(False, f"route name {name!r}", f"used {n} times ({patterns})")
        if not duplicates:
            self.add(True, "route names", f"{len(counts)} named routes, all unique")
        self.route_names = set(counts)

    def route_module_keys(self) -> None:
        """A ``ROUTE_MODULES`` key is a route name or a regular expression."""
        for key in dict(settings.ROUTE_MODULES):
            if key in self.route_names:
                continue
            try:
                re.compile(key)
            except re.error as exc:
                self.add(
                    False,
                    f"ROUTE_MODULES key {key!r}",
                    f"neither a route name nor a valid regular expression ({exc})",
                )

    def application(self) -> None:
        from tornadopy.application import Application
        from tornadopy.httpmodule.httpmodule import HttpModuleMiddleware

        try:
            app = Application()
            mw = app.middleware.find(HttpModuleMiddleware)
            if mw is not None:
                mw.process_init(app)
        except Exception as exc:
            self.add(False, "application", f"does not build: {reason(exc)}")
            return
        self.add(True, "application", f"builds ({len(app.route_table)} routes)")


# ---------------------------------------------------------------- services


async def _bounded(item: str, timeout: float, probe: Callable[[], Awaitable[str]]) -> Result:
    try:
        async with asyncio.timeout(timeout):
            detail = await probe()
    except TimeoutError:
        return Result(False, item, f"no answer within {timeout:g} s")
    except Exception as exc:
        return Result(False, item, reason(exc))
    return Result(True, item, detail)


async def _close(closer: Callable[[], Awaitable[Any]], timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await closer()
    except Exception:  # closing a dead client must not hang nor fail the check
        pass


async def check_cache(alias: str, timeout: float) -> Result:
    """A set/get/delete round trip on a fresh key of ``caches[alias]`` (a PING for a raw
    ``RedisClient``), within ``timeout`` seconds."""
    from tornadopy.cache import caches
    from tornadopy.cache.backends.base import BaseCache
    from tornadopy.cache.backends.dummy import DummyCache

    params = dict(settings.CACHES[alias])
    backend = str(params.get("BACKEND", "?")).rpartition(".")[2]
    location = params.get("LOCATION")
    item = f"cache {alias!r} ({backend}" + (f" at {location}" if location else "") + ")"
    instance: Any = None

    async def probe() -> str:
        nonlocal instance
        instance = caches.create_connection(alias)
        if isinstance(instance, DummyCache):
            return "DummyCache stores nothing"
        if not isinstance(instance, BaseCache):
            if not await instance.ping():
                raise RuntimeError("PING was not answered")
            return "PING answered"
        key = f"tornadopy-check:{uuid.uuid4().hex}"
        value = f"check {uuid.uuid4().hex}"
        await instance.set(key, value, timeout=max(5, int(timeout) + 5))
        got = await instance.get(key)
        await instance.delete(key)
        if got != value:
            raise RuntimeError(f"read back {got!r} after set (expected the value just stored)")
        if await instance.get(key) is not None:
            raise RuntimeError("the key is still there after delete")
        return "set/get/delete round trip"

    result = await _bounded(item, timeout, probe)
    if instance is not None:
        await _close(instance.close, 1.0)
    return result


def database_probes(timeout: float) -> list[Awaitable[Result]]:
    """``SELECT 1`` probes for the master and each replica of every ``DATABASE_CONNECTION``.

    Call it inside the event loop, before any probe runs: building the engines imports the
    database drivers, which must not eat into another probe's time budget.
    """
    try:
        from tornadopy.db.dbalchemy import get_group, parse_connections
    except ImportError as exc:
        return [_failed("DATABASE_CONNECTION", f"tornadopy.db.dbalchemy: {exc}")]
    try:
        specs = parse_connections(settings.DATABASE_CONNECTION, settings.SQLALCHEMY_CONFIGURATION)
    except ImproperlyConfigured as exc:
        return [_failed("DATABASE_CONNECTION", str(exc))]

    async def select_one(engine: Any) -> str:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
        return "SELECT 1"

    probes: list[Awaitable[Result]] = []
    for name, spec in specs.items():
        try:
            group = get_group(name)
        except Exception as exc:
            probes.append(_failed(f"database {name!r}", reason(exc)))
            continue
        item = f"database {name!r} master ({spec.master.label})"
        probes.append(_bounded(item, timeout, functools.partial(select_one, group.master)))
        for i, replica in enumerate(group.replicas, 1):
            item = f"database {name!r} replica {i} ({replica.spec.label})"
            probes.append(_bounded(item, timeout, functools.partial(select_one, replica.engine)))
    return probes


async def _failed(item: str, detail: str) -> Result:
    return Result(False, item, detail)


async def service_checks(timeout: float, skip_caches: Collection[str] = ()) -> list[Result]:
    """Every cache alias and database server, probed concurrently; results in settings order."""
    probes: list[Awaitable[Result]] = [
        check_cache(alias, timeout) for alias in settings.CACHES if alias not in skip_caches
    ]
    quiet = logging.NullHandler()  # failures are reported as FAIL lines, not as log warnings
    logging.getLogger("tornadopy").addHandler(quiet)
    try:
        if settings.DATABASE_CONNECTION:
            probes += database_probes(timeout)
        return list(await asyncio.gather(*probes))
    finally:
        if "tornadopy.db.dbalchemy" in sys.modules:
            from tornadopy.db.dbalchemy import dispose_all

            await _close(dispose_all, 2.0)
        logging.getLogger("tornadopy").removeHandler(quiet)
