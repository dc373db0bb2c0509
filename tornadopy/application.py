"""``Application``: a ``tornado.web.Application`` built from settings (SPEC §2, §3, §7).

It loads the routes of every ``INSTALLED_APPS`` entry (or the ``urls`` given), instantiates
``MIDDLEWARE_CLASSES`` once, builds the template loader of ``TEMPLATE_CONFIG``, and runs the
``process_call`` hooks before routing (through the public ``HTTPMessageDelegate`` interface:
Tornado waits for ``headers_received`` before reading the body, so ``@stream_request_body``
keeps working). ``await app.startup()`` runs ``process_init``; ``await app.shutdown()`` runs
``process_shutdown`` and closes cache clients and database pools.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import sys
from collections.abc import Awaitable, Iterable
from types import CoroutineType
from typing import Any

import tornado.locale
import tornado.web
from tornado import escape, httputil
from tornado.log import access_log, app_log
from tornado.routing import Matcher, PathMatches, Rule, URLSpec
from tornado.web import HTTPError

from tornadopy.conf import settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.handler import ROUTE_NAME_KEY, ErrorHandler, WebHandler
from tornadopy.health import health_routes
from tornadopy.metrics import metrics_routes
from tornadopy.middleware import Clear, MiddlewareManager, run_hooks, run_sync
from tornadopy.proxy import AllowedHosts, ProxyHeaders
from tornadopy.urls import RouteSpec, resolve_urls, route

logger = logging.getLogger("tornadopy")


def load_app_urls(apps: Iterable[str]) -> list[RouteSpec]:
    """The routes of every app: ``<app>.urls.urls`` (or ``URLS``), in ``INSTALLED_APPS`` order."""
    specs: list[RouteSpec] = []
    for app in apps:
        module_name = f"{app}.urls"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == app or (exc.name and app.startswith(exc.name + ".")):
                raise ImproperlyConfigured(
                    f"INSTALLED_APPS names {app!r}, which cannot be imported (is the project "
                    "directory on sys.path?)"
                ) from exc
            if exc.name == module_name:
                raise ImproperlyConfigured(
                    f"INSTALLED_APPS: app {app!r} has no urls.py (every app needs one defining `urls`)"
                ) from exc
            raise ImproperlyConfigured(
                f"INSTALLED_APPS: {module_name} failed to import: {exc}"
            ) from exc
        except ImproperlyConfigured:
            raise
        except Exception as exc:
            raise ImproperlyConfigured(
                f"INSTALLED_APPS: {module_name} failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        urls = getattr(module, "urls", None)
        if urls is None:
            urls = getattr(module, "URLS", None)
        if urls is None:
            raise ImproperlyConfigured(f"{module_name} defines neither `urls` nor `URLS`")
        specs.extend(route(*urls))
    return specs


def _follow_uri(request: httputil.HTTPServerRequest, path_changed: bool) -> None:
    """A ``process_call`` hook rewrote ``request.uri``: derive the path (unless it set one too)
    and the query arguments from it, as Tornado does for a new request."""
    path, _, query = (request.uri or "").partition("?")
    if not path_changed:
        request.path = path
    request.query = query
    request.query_arguments = httputil.parse_qs_bytes(query, keep_blank_values=True)
    request.arguments = {k: list(v) for k, v in request.query_arguments.items()}


_REGEX_META = frozenset(".^$*+?{}[]\\|()")


def exact_routes(rules: list[Any]) -> dict[str, Rule]:
    """``{path: rule}`` for the routes whose pattern is a literal path, where a dict lookup gives
    the same answer as Tornado's first-match walk.

    A literal route is kept only when no route before it matches its path (``/(.*)`` declared
    before ``/about`` still wins, as in Tornado). Matching stops at the first route that is
    neither a path regex nor the static matcher, since its answer cannot be known in advance.
    """
    exact: dict[str, Rule] = {}
    earlier: list[Matcher] = []
    for rule in rules:
        matcher = getattr(rule, "matcher", None)
        if not isinstance(matcher, (PathMatches, StaticMatcher)):
            break
        target = getattr(rule, "target", None)
        if (
            isinstance(matcher, PathMatches)
            and not matcher.regex.groups
            and isinstance(target, type)
            and issubclass(target, tornado.web.RequestHandler)
        ):
            literal = matcher.regex.pattern.removeprefix("^").removesuffix("$")
            if not _REGEX_META.intersection(literal) and literal not in exact:
                probe = _PathOnly(literal)
                if not any(m.match(probe) is not None for m in earlier):  # type: ignore[arg-type]
                    exact[literal] = rule
        earlier.append(matcher)
    return exact


class _PathOnly:
    """The part of a request that path matchers read."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


class StaticMatcher(Matcher):
    """Matches what Tornado's three static routes match -- ``<prefix>(.*)``, ``/favicon.ico``,
    ``/robots.txt`` -- with a prefix test and a set lookup instead of three regexes."""

    _FILES = frozenset(("/favicon.ico", "/robots.txt"))

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @property
    def patterns(self) -> tuple[str, ...]:
        """The three Tornado patterns this matcher stands for (for ``tornadopy routes``)."""
        return (re.escape(self.prefix) + "(.*)", r"/(favicon\.ico)", r"/(robots\.txt)")

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        path = request.path
        if path.startswith(self.prefix):
            rest = path[len(self.prefix) :]
            if "\n" in rest:
                return None
        elif path in self._FILES:
            rest = path[1:]
        else:
            return None
        arg = escape.url_unescape(rest, encoding=None, plus=False)  # as PathMatches does
        return {"path_args": [arg], "path_kwargs": {}}


class _RequestDelegate(httputil.HTTPMessageDelegate):
    """Builds the request, runs ``process_call`` hooks, then routes (replaces Tornado's own)."""

    __slots__ = ("app", "body_done", "delegate", "request", "request_conn", "server_conn")

    def __init__(self, app: Application, server_conn: object, request_conn: Any) -> None:
        self.app = app
        self.server_conn = server_conn
        self.request_conn = request_conn
        self.delegate: httputil.HTTPMessageDelegate | None = None
        self.request: httputil.HTTPServerRequest | None = None
        self.body_done = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        request = httputil.HTTPServerRequest(
            connection=self.request_conn,
            server_connection=self.server_conn,
            start_line=start_line,  # type: ignore[arg-type]
            headers=headers,
        )
        self.request = request
        app = self.app
        app.request_started(request)
        if app.proxy_headers is not None:
            app.proxy_headers.apply(request)
        if app.allowed_hosts is not None and not app.allowed_hosts.allows(request.host or ""):
            self.delegate = app.get_handler_delegate(request, ErrorHandler, {"status_code": 400})
            return self.delegate.headers_received(start_line, headers)
        hooks = app.middleware.call
        if hooks:
            # sync-first (see middleware.run_sync): a coroutine only from the first hook that
            # returns an awaitable
            clear = request._tp_clear = Clear()  # type: ignore[attr-defined]
            path, uri = request.path, request.uri
            try:
                pending = run_sync(hooks, clear, request, clear)
            except Exception as exc:
                return self._route(request, path, uri, exc, start_line, headers)
            if pending is not None:
                return self._call(request, path, uri, pending, start_line, headers)
            return self._route(request, path, uri, None, start_line, headers)
        self.delegate = app.find_handler(request)
        return self.delegate.headers_received(start_line, headers)

    async def _call(
        self,
        request: httputil.HTTPServerRequest,
        path: str,
        uri: str | None,
        pending: tuple[Any, Any],
        start_line: Any,
        headers: Any,
    ) -> None:
        """The rest of the call phase from the first hook that returned an awaitable."""
        awaitable, rest = pending
        clear = request._tp_clear  # type: ignore[attr-defined]
        error: Exception | None = None
        try:
            if not await awaitable:
                for hook in rest:  # the hook loop of run_sync, awaiting
                    if clear.cleared:
                        break
                    result = hook(request, clear)
                    if result is not None:
                        if result.__class__ is CoroutineType or hasattr(result, "__await__"):
                            result = await result
                        if result:
                            break
        except Exception as exc:
            error = exc
        result = self._route(request, path, uri, error, start_line, headers)
        if result is not None:
            await result

    def _route(
        self,
        request: httputil.HTTPServerRequest,
        path: str,
        uri: str | None,
        error: Exception | None,
        start_line: Any,
        headers: Any,
    ) -> Awaitable[None] | None:
        """After the call phase: follow a rewritten URI and route, or answer the hook's error."""
        app = self.app
        if error is None:
            try:
                if request.uri != uri:
                    _follow_uri(request, path_changed=request.path != path)
            except Exception as exc:
                error = exc
        if error is None:
            self.delegate = app.find_handler(request)
        elif isinstance(error, HTTPError):
            self.delegate = app.get_handler_delegate(
                request, ErrorHandler, {"status_code": error.status_code}
            )
        else:
            app_log.error(
                "Uncaught exception in process_call %s %s",
                request.method,
                request.uri,
                exc_info=(type(error), error, error.__traceback__),
            )
            self.delegate = app.get_handler_delegate(request, ErrorHandler, {"status_code": 500})
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        assert self.delegate is not None
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.body_done = True
        assert self.delegate is not None
        self.delegate.finish()

    def on_connection_close(self) -> None:
        if self.delegate is not None:
            self.delegate.on_connection_close()
        if not self.body_done and self.request is not None:
            self.app.request_done(self.request)


class Application(tornado.web.Application):
    """The tornadopy application; build it from settings, or give ``urls`` explicitly.

    Keyword arguments are Tornado application settings and override ``TORNADO_CONF``.
    """

    def __init__(
        self,
        urls: Iterable[RouteSpec | tuple | URLSpec] | None = None,
        default_host: str | None = None,
        transforms: list | None = None,
        **tornado_settings: Any,
    ) -> None:
        s = settings
        conf: dict[str, Any] = dict(s.TORNADO_CONF)
        conf.setdefault("debug", bool(s.DEBUG))
        conf.update(tornado_settings)
        # Tornado starts autoreload on whatever loop is current while the application is built;
        # tornadopy builds it before the server's loop exists (and before --processes forks), so
        # the web server starts it itself, inside its loop (see Server._serve).
        self.autoreload = bool(conf.get("autoreload", conf.get("debug")))
        conf["autoreload"] = False
        conf.setdefault("default_handler_class", ErrorHandler)
        conf.setdefault("default_handler_args", {"status_code": 404})
        self._install_template_loader(conf)
        if s.TRANSLATIONS:
            self._load_translations()
            conf["tornadopy_accept_language"] = bool(
                s.TRANSLATIONS_CONF.get("use_accept_language", True)
            )
        self.middleware = MiddlewareManager(s.MIDDLEWARE_CLASSES)
        self.proxy_headers = ProxyHeaders(s.TRUSTED_PROXIES) if s.XHEADERS else None
        self.allowed_hosts = AllowedHosts(s.ALLOWED_HOSTS) if s.ALLOWED_HOSTS else None
        self._tornado_access_log = not any(
            getattr(m, "replaces_tornado_access_log", False) for m in self.middleware.instances
        )
        specs: list[Any] = load_app_urls(s.INSTALLED_APPS) if urls is None else list(urls)
        specs.extend(URLSpec(p, h, k, name=n) for p, h, k, n in health_routes())
        specs.extend(URLSpec(p, h, k, name=n) for p, h, k, n in metrics_routes())
        self.route_table = self._build_routes(specs)
        self._inflight = 0
        self._drained: asyncio.Event | None = None
        self.accepting = True
        self.started = False
        rules: list[Any] = [r["spec"] for r in self.route_table]
        static_path = conf.pop("static_path", None)
        if static_path:
            # Tornado would put three regex routes (prefix, favicon, robots) in front of every
            # application route; one StaticMatcher keeps them first at a third of the cost
            static_args = conf.setdefault("static_handler_args", {})
            static_args["path"] = static_path
            rules.insert(
                0,
                Rule(
                    StaticMatcher(conf.get("static_url_prefix", "/static/")),
                    conf.get("static_handler_class", tornado.web.StaticFileHandler),
                    static_args,
                ),
            )
        super().__init__(rules, default_host, transforms, **conf)
        if static_path:
            self.settings["static_path"] = static_path  # static_url() reads it
        self._exact_routes = exact_routes(rules)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _install_template_loader(conf: dict[str, Any]) -> None:
        tconf = dict(settings.TEMPLATE_CONFIG)
        if not tconf.get("template_engine") or "template_loader" in conf:
            return
        from tornadopy.template import create_loader

        loader = create_loader(conf.get("template_path") or "templates", tconf)
        if loader is not None:
            conf["template_loader"] = loader

    @staticmethod
    def _load_translations() -> None:
        tconf = settings.TRANSLATIONS_CONF
        tornado.locale.load_translations(tconf.get("translations_dir", "translations"))
        tornado.locale.set_default_locale(tconf.get("locale_default", "en_US"))

    @staticmethod
    def _build_routes(specs: list[Any]) -> list[dict[str, Any]]:
        """URLSpecs from route specs; each route's name reaches its WebHandler as ``route_name``."""
        route_specs = [s for s in specs if isinstance(s, RouteSpec)]
        resolved = iter(resolve_urls(route_specs))
        table = []
        for spec in specs:
            if isinstance(spec, RouteSpec):
                pattern, handler, kwargs, name, path = next(resolved)
                if issubclass(handler, WebHandler):
                    kwargs[ROUTE_NAME_KEY] = name
                urlspec = URLSpec(pattern, handler, kwargs, name=name)
            elif isinstance(spec, URLSpec):
                urlspec, name, handler, path = spec, spec.name, spec.target, repr(spec.target)
            else:  # a Tornado-style tuple
                urlspec = URLSpec(*spec)
                name, handler, path = urlspec.name, urlspec.target, repr(urlspec.target)
            table.append(
                {
                    "pattern": urlspec.regex.pattern,
                    "name": name,
                    "handler": handler,
                    "path": path,
                    "spec": urlspec,
                }
            )
        return table

    # ------------------------------------------------------------------ request plumbing
    def find_handler(self, request: httputil.HTTPServerRequest, **kwargs: Any) -> Any:
        """Tornado's routing, with literal paths (``/about``, ``/api/ping``) found in one dict
        lookup instead of a walk through every route's regex (see :func:`exact_routes`)."""
        exact = self._exact_routes
        if exact:
            rule = exact.get(request.path)
            if rule is not None:
                return self.get_handler_delegate(request, rule.target, rule.target_kwargs)
        return super().find_handler(request, **kwargs)

    def add_handlers(self, host_pattern: str, host_handlers: Any) -> None:
        # host-specific routes go in front of the application's: walk them all from now on
        self._exact_routes = {}
        super().add_handlers(host_pattern, host_handlers)

    def start_request(self, server_conn: object, request_conn: Any) -> httputil.HTTPMessageDelegate:
        return _RequestDelegate(self, server_conn, request_conn)

    def request_started(self, request: httputil.HTTPServerRequest) -> None:
        self._inflight += 1
        request._tp_counted = True  # type: ignore[attr-defined]

    def request_done(self, request: httputil.HTTPServerRequest) -> None:
        """Called once per request when its handler's work (end hooks included) is over."""
        if getattr(request, "_tp_counted", False):
            request._tp_counted = False  # type: ignore[attr-defined]
            self._inflight -= 1
            if self._inflight <= 0 and self._drained is not None:
                self._drained.set()

    @property
    def inflight(self) -> int:
        """Requests received and not yet completed."""
        return self._inflight

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        if not isinstance(handler, WebHandler):
            self.request_done(handler.request)
        elif not self._tornado_access_log:
            return
        if "log_function" not in self.settings:
            status = handler.get_status()
            level = (
                logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
            )
            if not access_log.isEnabledFor(level):
                return  # skip formatting a line nobody writes
        super().log_request(handler)

    # ------------------------------------------------------------------ lifecycle
    async def startup(self) -> None:
        """Run every ``process_init`` hook (in declaration order), once."""
        if self.started:
            return
        self.started = True
        clear = Clear()
        await run_hooks(self.middleware.init, clear, self)

    async def drain(self, timeout: float) -> bool:
        """Wait until no request is in flight (True) or ``timeout`` seconds passed (False)."""
        self.accepting = False
        if self._inflight <= 0:
            return True
        self._drained = asyncio.Event()
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
            return True
        except TimeoutError:
            logger.warning(
                "shutdown: %d request(s) still in flight after %ss", self._inflight, timeout
            )
            return False

    async def shutdown(self) -> None:
        """Run ``process_shutdown`` hooks (reverse order), then close caches and database pools."""
        self.accepting = False
        for hook in self.middleware.shutdown:
            try:
                result = hook(self)
                if result is not None and hasattr(result, "__await__"):
                    await result
            except Exception:
                logger.error("error in process_shutdown of %r", hook, exc_info=True)
        await close_services()
        self.started = False

    def reverse_url(self, name: str, *args: Any) -> str:
        """Tornado's ``reverse_url``, without the ``?`` an optional trailing slash leaves
        (``r'/login/?'`` reverses to ``/login/``, ``r'/?'`` to ``/``)."""
        url = super().reverse_url(name, *args)
        return url[:-1] if url.endswith("/?") else url


async def close_services() -> None:
    """Close cache clients, database engines and the thread pool (where those modules are used)."""
    for module_name, func_name in (
        ("tornadopy.cache", "close_all"),
        ("tornadopy.db.dbalchemy", "dispose_all"),
        ("tornadopy.decorators.async_execute", "ashutdown_executor"),
    ):
        module = sys.modules.get(module_name)
        func = getattr(module, func_name, None) if module is not None else None
        if func is None:
            continue
        try:
            await func()
        except Exception:
            logger.error("error closing %s", module_name, exc_info=True)
