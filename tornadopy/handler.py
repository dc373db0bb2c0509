"""Request handlers: :class:`WebHandler` and :class:`ApiHandler` (SPEC §6, §7).

They are ``tornado.web.RequestHandler`` subclasses that run the middleware pipeline:

- ``prepare()`` runs the ``process_request`` hooks, then :meth:`WebHandler.on_prepare`;
- ``render()`` runs the ``process_render`` hooks, then renders and finishes;
- ``finish()`` (explicit, automatic, through ``render``/``redirect``/``send_error``) runs the
  ``process_response`` hooks on the outgoing chunk list, sends the response, then runs the
  ``process_endcall`` hooks and :meth:`WebHandler.complete_finish`;
- uncaught errors go to the ``process_exception`` hooks (when any middleware defines one) instead
  of ``log_exception``, then to an error page unless a hook sent its own response.

``finish()``, ``render()``, ``redirect()`` and ``send_error()`` may be awaited or not: they start
their work at once and return a future that resolves when the response has been handed to the
connection and the end hooks ran. Each phase runs exactly once per request. Hooks that only do
in-memory work complete synchronously, so no extra Task is created per request.

Do not override ``prepare``/``finish``/``render``/``send_error`` without calling ``super()``; use
``on_prepare`` / ``complete_finish`` (either may be ``async def``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sys
import time
import traceback
from collections.abc import Awaitable, Coroutine
from types import CoroutineType, TracebackType
from typing import Any

import tornado
import tornado.locale
import tornado.template
import tornado.web
from tornado import escape, httputil
from tornado.log import app_log, gen_log
from tornado.web import HTTPError

from tornadopy import exception as _exceptions
from tornadopy.eager import current_task, done_future, start
from tornadopy.middleware import EMPTY, Clear, run_hooks, run_sync
from tornadopy.template.tornado_template import Loader as TornadoLoader

__all__ = ["ApiHandler", "ErrorHandler", "FlashMessageMixIn", "WebHandler"]

#: Key of the route name in the URLSpec kwargs (removed before the handler sees its kwargs).
ROUTE_NAME_KEY = "_tornadopy_route_name"

# handler states
_OPEN, _RENDERING, _FINISHING, _DONE = 0, 1, 2, 3

logger = logging.getLogger("tornadopy")


class WebHandler(tornado.web.RequestHandler):
    """Base handler carrying every framework feature: middleware hooks, templates, sessions."""

    #: Name of the route that matched (``Url(..., name=...)``), or None.
    route_name: str | None = None
    #: HTTP modules (``COMMON_MODULES``/``ROUTE_MODULES``) apply to this handler class.
    http_modules_apply = True

    _tp_state = _OPEN
    _tp_future: Any = None
    _tp_exc_future: Any = None
    _tp_response_ran = False
    _tp_hook_writes = False  # process_response hooks are running: they may write()
    _tp_sent = False  # the response was handed to the connection
    _tp_cleanups: list[Any] | None = None
    _tp_custom_prepare = False
    _tp_custom_complete = False
    _tp_deferred: Any = None  # the response/end phase left for _tp_execute to await
    _tp_executing = False  # in _tp_execute's call of Tornado's _execute

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._tp_custom_prepare = cls.on_prepare is not WebHandler.on_prepare
        cls._tp_custom_complete = cls.complete_finish is not WebHandler.complete_finish

    def __init__(self, application: tornado.web.Application, request: Any, **kwargs: Any) -> None:
        self.route_name = kwargs.pop(ROUTE_NAME_KEY, None)
        #: Url() kwargs merged with the route's kwargs; this handler's own dict.
        self._url_kwargs: dict[str, Any] = kwargs
        self._tp_mw = getattr(application, "middleware", EMPTY)
        self._tp_clear = getattr(request, "_tp_clear", None) or Clear()
        super().__init__(application, request, **kwargs)

    def initialize(self, **kwargs: Any) -> None:  # route kwargs are in self._url_kwargs
        pass

    def clear(self) -> None:
        """Tornado's ``clear()`` with the ``Date`` header formatted once per second.

        Formatting it (``email.utils.formatdate``) is one of the larger fixed costs of a Tornado
        response. The body is Tornado 6's own; tests/test_handlers.py pins that it leaves the
        handler in the same state as ``RequestHandler.clear``.
        """
        self._headers = httputil.HTTPHeaders(
            {"Server": _SERVER, "Content-Type": "text/html; charset=UTF-8", "Date": _http_date()}
        )
        self.set_default_headers()
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason = "OK"

    # ------------------------------------------------------------------ user hooks
    def on_prepare(self) -> Awaitable[None] | None:
        """Called after the ``process_request`` hooks, before ``get``/``post``; may be async."""
        return None

    def complete_finish(self) -> Awaitable[None] | None:
        """Called after the ``process_endcall`` hooks, once the response is sent; may be async."""
        return None

    def add_cleanup(self, callback: Any) -> None:
        """Run ``callback()`` (a function or coroutine function) once the request is over.

        Cleanups run after the end hooks and :meth:`complete_finish`, in reverse order of
        registration, on every path (error, client gone) -- and, unlike hooks, also after a
        middleware called ``clear()``. Middleware that opens per-request resources (database
        sessions, locks) registers their release here.
        """
        if self._tp_cleanups is None:
            self._tp_cleanups = []
        self._tp_cleanups.append(callback)

    def get_template_path(self) -> str | None:
        # Tornado caches loaders process-wide by template path; with an engine loader in the
        # application settings, key the cache by that loader too so two applications with the
        # same path but different TEMPLATE_CONFIG never share a loader.
        path = super().get_template_path()
        loader = self.application.settings.get("template_loader")
        return path if loader is None else f"{path}#loader-{id(loader)}"

    def create_template_loader(self, template_path: str) -> tornado.template.BaseLoader:
        """Tornado's loader, with templates that leave no reference cycle per render (see
        :mod:`tornadopy.template.tornado_template`); the ``template_loader`` setting (Mako,
        Jinja2, an application's own) wins as in Tornado."""
        settings = self.application.settings
        if "template_loader" in settings:
            return settings["template_loader"]  # type: ignore[no-any-return]
        kwargs: dict[str, Any] = {}
        if "autoescape" in settings:
            kwargs["autoescape"] = settings["autoescape"]
        if "template_whitespace" in settings:
            kwargs["whitespace"] = settings["template_whitespace"]
        return TornadoLoader(template_path, **kwargs)

    def check_xsrf_cookie(self) -> None:
        """Tornado's XSRF check, answering a clear 403 ("XSRF token missing or invalid")."""
        try:
            super().check_xsrf_cookie()
        except HTTPError as exc:
            raise HTTPError(
                403, exc.log_message, *exc.args, reason="XSRF token missing or invalid"
            ) from None

    def get_safe_redirect(self, target: str | None, default: str = "/") -> str:
        """``target`` when it stays on this site (a path, or this host), else ``default``.

        Use it for user-supplied ``next`` values: ``//evil.com``, ``/\\evil.com``,
        ``https://evil.com`` and ``javascript:`` URLs are refused.
        """
        if target and is_safe_url(target, self.request.host):
            return target
        return default

    def get_user_locale(self) -> tornado.locale.Locale | None:
        """With ``TRANSLATIONS_CONF['use_accept_language'] = False`` the default locale is used;
        otherwise (the default) Tornado's choice from the Accept-Language header."""
        if not self.application.settings.get("tornadopy_accept_language", True):
            return tornado.locale.get(tornado.locale._default_locale)
        return None

    # ------------------------------------------------------------------ prepare
    # Every per-request phase is sync-first (middleware.run_sync): hooks that answer at once
    # cost a call each, and a coroutine is created only from the first hook that returns an
    # awaitable; that coroutine runs the rest of the phase and of the request's work.

    def prepare(self) -> Awaitable[None] | None:  # type: ignore[override]
        hooks = self._tp_mw.request
        if hooks:
            clear = self._tp_clear
            pending = run_sync(hooks, clear, self, clear) if not clear.cleared else None
            if pending is not None:
                return self._tp_prepare(*pending)
        if self._tp_custom_prepare and self._tp_state == _OPEN:
            return self._tp_prepare(None, ())
        if self._tp_state != _OPEN:
            # a hook finished the request: let it complete before Tornado looks at
            # self._finished (so get/post is skipped)
            fut = self._tp_future
            if fut is not None and not fut.done():
                return fut  # type: ignore[no-any-return]
        return None

    async def _tp_prepare(self, pending: Any, rest: Any) -> None:
        """The rest of the request phase from the first hook that returned an awaitable."""
        clear = self._tp_clear
        if pending is None or not await pending:
            for hook in rest:  # the hook loop of run_sync, awaiting
                if clear.cleared:
                    break
                result = hook(self, clear)
                if result is not None:
                    if result.__class__ is CoroutineType or hasattr(result, "__await__"):
                        result = await result
                    if result:
                        break
        if self._tp_state == _OPEN and self._tp_custom_prepare:
            result = self.on_prepare()
            if result is not None:
                await result
        if self._tp_state != _OPEN:
            fut = self._tp_future
            if fut is not None and not fut.done():
                await fut

    # ------------------------------------------------------------------ output
    # Tornado's ``_finished`` flag is kept True from the moment a response *starts* finishing
    # (finish()/render() called), so Tornado's own checks -- skip get/post after prepare
    # finished, no auto-finish, no second send_error, no write after finish -- hold while the
    # response hooks run. It is lowered only around the synchronous calls made on our behalf
    # (a hook's write(), Tornado's finish()); ``_tp_sent`` records that the response went out.

    def write(self, chunk: str | bytes | dict) -> None:
        if self._tp_hook_writes and not self._tp_sent:
            self._finished = False
            try:
                super().write(chunk)
            finally:
                self._finished = True
            return
        super().write(chunk)

    def finish(self, chunk: str | bytes | dict | None = None) -> asyncio_Future:
        if self._tp_state != _OPEN:
            raise RuntimeError("finish() called twice")
        if chunk is not None:
            self.write(chunk)
        mw = self._tp_mw
        if (
            not mw.response
            and not mw.endcall
            and not self._tp_custom_complete
            and self._tp_cleanups is None
        ):
            # nothing to run around the response: Tornado's finish, no coroutine, no Task
            self._tp_state = _DONE
            fut = tornado.web.RequestHandler.finish(self)
            self._tp_sent = True
            done = getattr(self.application, "request_done", None)
            if done is not None:
                done(self.request)
            if self._tp_future is None:
                self._tp_future = fut
            return fut
        self._tp_state = _FINISHING
        self._finished = True
        self._auto_finish = False
        # called by Tornado's _execute as its last act (the auto-finish after get() returned):
        # the async part of the phase can run in the handler's own Task, right after
        fut = self._tp_finish_sync(sys._getframe(1).f_code is _TORNADO_EXECUTE)
        if self._tp_future is None or self._tp_future.done():
            self._tp_future = fut
        return fut

    def _tp_finish_sync(self, deferrable: bool = False) -> asyncio_Future:
        """Response hooks, Tornado's finish, end hooks -- synchronously while hooks allow.

        The async rest, if any, runs in a Task of its own; when ``deferrable`` (the auto-finish
        call of Tornado's ``_execute``) it is left for :meth:`_tp_execute` to await in the
        handler's Task instead, and the handler's Task is the future returned.
        """
        mw = self._tp_mw
        clear = self._tp_clear
        run = self._tp_defer if deferrable else start
        if mw.response and not clear.cleared and not self._tp_response_ran:
            self._tp_response_ran = True
            self._tp_hook_writes = True
            try:
                pending = run_sync(mw.response, clear, self, clear, self._write_buffer)
            except Exception:
                self._tp_hook_writes = False
                return run(self._tp_recover(sys.exc_info()))
            if pending is not None:
                return run(self._tp_finish(*pending))
            self._tp_hook_writes = False
        self._tp_send()
        end = self._tp_end_begin()
        return done_future() if end is None else run(end)

    def _tp_defer(self, coro: Coroutine[Any, Any, None]) -> asyncio_Future:
        task = current_task()
        if task is None or not self._tp_executing:
            return start(coro)  # not under _tp_execute (no response/end hooks at start)
        self._tp_deferred = coro
        return task

    def _execute(  # type: ignore[override]
        self, transforms: Any, *args: bytes, **kwargs: bytes
    ) -> Coroutine[Any, Any, None]:
        """Tornado's ``_execute`` coroutine; :meth:`_tp_execute` around it when a response or end
        hook may await (a plain function: the others pay one call, no coroutine)."""
        if self._tp_mw.tail_may_await or self._tp_custom_complete:
            return self._tp_execute(transforms, *args, **kwargs)
        return _tornado_execute(self, transforms, *args, **kwargs)

    async def _tp_execute(self, transforms: Any, *args: bytes, **kwargs: bytes) -> None:
        """Tornado's ``_execute``, then the async rest of the response phase its auto-finish
        left (:meth:`_tp_finish_sync`): in this Task, with no second Task and no extra turn of
        the event loop. Tornado's auto-finish is the last statement of its ``_execute``;
        ``tests/test_pipeline_tasks.py`` checks where the hooks run and
        ``tests/test_pipeline.py`` that they run exactly once, in order."""
        self._tp_executing = True
        try:
            await _tornado_execute(self, transforms, *args, **kwargs)
        finally:
            self._tp_executing = False
        deferred = self._tp_deferred
        if deferred is not None:
            self._tp_deferred = None
            await deferred

    async def _tp_finish(self, pending: Any, rest: Any) -> None:
        """The rest of the response phase from the first hook that returned an awaitable."""
        clear = self._tp_clear
        chunk = self._write_buffer
        try:
            if not await pending:
                for hook in rest:  # the hook loop of run_sync, awaiting
                    if clear.cleared:
                        break
                    result = hook(self, clear, chunk)
                    if result is not None:
                        if result.__class__ is CoroutineType or hasattr(result, "__await__"):
                            result = await result
                        if result:
                            break
        except Exception:
            self._tp_hook_writes = False
            await self._tp_recover(sys.exc_info())
            return
        self._tp_hook_writes = False
        self._tp_send()
        end = self._tp_end_begin()
        if end is not None:
            await end  # in this Task: no second one for the end phase

    def _tp_send(self) -> None:
        """Tornado's finish(): the response goes to the connection."""
        self._finished = False
        try:
            tornado.web.RequestHandler.finish(self)
        except Exception:
            app_log.error("Error finishing %s", self._request_summary(), exc_info=True)
            if self.request.connection is not None:
                self.request.connection.finish()
        self._finished = True
        self._tp_sent = True
        self._tp_state = _DONE

    def _tp_end_begin(self) -> Coroutine[Any, Any, None] | None:
        """End hooks, complete_finish, cleanups, synchronously while they allow: None when all
        of it is done, else the coroutine doing the rest (for the caller to start or await)."""
        mw = self._tp_mw
        if mw.endcall:
            clear = self._tp_clear
            try:
                pending = run_sync(mw.endcall, clear, self, clear) if not clear.cleared else None
            except Exception:
                self._tp_log_end_error("process_endcall")
                pending = None
            if pending is not None:
                return self._tp_end(*pending)
        if self._tp_custom_complete or self._tp_cleanups:
            return self._tp_end(None, ())
        done = getattr(self.application, "request_done", None)
        if done is not None:
            done(self.request)
        return None

    def _tp_log_end_error(self, what: str) -> None:
        app_log.error("Uncaught exception in %s %s", what, self._request_summary(), exc_info=True)

    async def _tp_end(self, pending: Any, rest: Any) -> None:
        """The rest of the end phase (from a pending hook, or ``rest``), then complete_finish,
        the cleanups and the application's request accounting."""
        clear = self._tp_clear
        try:
            if pending is None or not await pending:
                for hook in rest:  # the hook loop of run_sync, awaiting
                    if clear.cleared:
                        break
                    result = hook(self, clear)
                    if result is not None:
                        if result.__class__ is CoroutineType or hasattr(result, "__await__"):
                            result = await result
                        if result:
                            break
        except Exception:
            self._tp_log_end_error("process_endcall")
        if self._tp_custom_complete:
            try:
                result = self.complete_finish()
                if result is not None:
                    await result
            except Exception:
                self._tp_log_end_error("complete_finish")
        cleanups = self._tp_cleanups
        if cleanups:
            self._tp_cleanups = None
            for callback in reversed(cleanups):
                try:
                    result = callback()
                    if result is not None and hasattr(result, "__await__"):
                        await result
                except Exception:
                    app_log.error(
                        "Uncaught exception in a cleanup of %s",
                        self._request_summary(),
                        exc_info=True,
                    )
        done = getattr(self.application, "request_done", None)
        if done is not None:
            done(self.request)

    async def _tp_recover(self, exc_info: Any) -> None:
        """A render/response hook raised: answer like a handler error (exactly once)."""
        self._tp_state = _OPEN
        self._finished = self._tp_sent
        self._tp_future = None
        self._auto_finish = False
        if self._headers_written:
            self.log_exception(*exc_info)
            if not self._finished:
                self.finish()
        else:
            self.log_exception(*exc_info)
            if self._tp_exc_future is not None:
                await self._tp_exc_future
            elif self._tp_state == _OPEN and not self._finished:
                self.send_error(_status_of(exc_info[1]), exc_info=exc_info)
        fut = self._tp_future
        if fut is not None and not fut.done():
            await fut

    def render(self, template_name: str, **kwargs: Any) -> asyncio_Future:  # type: ignore[override]
        if self._tp_state != _OPEN:
            raise RuntimeError("Cannot render() after finish()")
        hooks = self._tp_mw.render
        clear = self._tp_clear
        if hooks and not clear.cleared:
            # sync-first like the other phases; the hooks see the handler as finishing
            self._tp_state = _RENDERING
            self._finished = True
            self._auto_finish = False
            try:
                pending = run_sync(hooks, clear, self, clear, template_name, **kwargs)
            except Exception:
                fut = self._tp_future = start(self._tp_recover(sys.exc_info()))
                return fut
            if pending is not None:
                fut = self._tp_future = start(self._tp_render(*pending, template_name, kwargs))
                return fut
            self._tp_state = _OPEN
            self._finished = False
        return tornado.web.RequestHandler.render(self, template_name, **kwargs)

    async def _tp_render(
        self, pending: Any, rest: Any, template_name: str, kwargs: dict[str, Any]
    ) -> None:
        """The rest of the render phase from the first hook that returned an awaitable."""
        clear = self._tp_clear
        try:
            if not await pending:
                for hook in rest:  # the hook loop of run_sync, awaiting
                    if clear.cleared:
                        break
                    result = hook(self, clear, template_name, **kwargs)
                    if result is not None:
                        if result.__class__ is CoroutineType or hasattr(result, "__await__"):
                            result = await result
                        if result:
                            break
            self._tp_state = _OPEN
            self._finished = False
            fut = tornado.web.RequestHandler.render(self, template_name, **kwargs)
        except Exception:
            await self._tp_recover(sys.exc_info())
            return
        if fut is not None and not fut.done():
            await fut

    def redirect(  # type: ignore[override]
        self, url: str, permanent: bool = False, status: int | None = None
    ) -> asyncio_Future:
        super().redirect(url, permanent=permanent, status=status)
        return self._tp_future

    def send_error(self, status_code: int = 500, **kwargs: Any) -> asyncio_Future:  # type: ignore[override]
        if self._finished:
            return self._tp_future  # a response is already on its way
        if self._tp_exc_future is not None and not self._tp_exc_future.done():
            return self._tp_exc_future  # process_exception hooks are deciding
        exc_info = kwargs.get("exc_info")
        if status_code == 500 and exc_info is not None:
            status_code = _status_of(exc_info[1])  # e.g. ServiceUnavailable -> 503
        super().send_error(status_code, **kwargs)
        return self._tp_future

    # ------------------------------------------------------------------ errors
    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        hooks = self._tp_mw.exception
        if not hooks or self._tp_clear.cleared or self._tp_exc_future is not None:
            self._tp_log(typ, value, tb)
            return
        self._tp_exc_future = start(self._tp_exception(hooks, typ, value, tb))

    async def _tp_exception(self, hooks: Any, typ: Any, value: Any, tb: Any) -> None:
        clear = self._tp_clear
        logged = False
        try:
            await run_hooks(hooks, clear, self, clear, typ, value, tb)
        except Exception:
            app_log.error(
                "Uncaught exception in process_exception %s", self._request_summary(), exc_info=True
            )
            self._tp_log(typ, value, tb)
            logged = True
        if self._tp_state == _OPEN and not self._finished:
            # no hook answered: the error page goes out, and the error is logged as without hooks
            if not logged:
                self._tp_log(typ, value, tb)
            if self._headers_written:
                self.finish()
            else:
                tornado.web.RequestHandler.send_error(
                    self, _status_of(value), exc_info=(typ, value, tb)
                )
        fut = self._tp_future
        if fut is not None and not fut.done():
            await fut

    def _tp_log(self, typ: Any, value: Any, tb: Any) -> None:
        if not isinstance(value, HTTPError) and _status_of(value) == 503:
            # a backing service did not answer: one readable line for the operator
            gen_log.error("503 %s: %s: %s", self._request_summary(), typ.__name__, value)
        else:
            super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Plain error page; with DEBUG (``serve_traceback``) a page with the traceback."""
        reason = escape.xhtml_escape(self._reason)
        if self._should_not_send_content(status_code):
            self.finish()
            return
        if self.settings.get("serve_traceback") and "exc_info" in kwargs:
            tb = "".join(traceback.format_exception(*kwargs["exc_info"]))
            self.finish(
                f"<!DOCTYPE html><html><head><title>{status_code}: {reason}</title></head><body>"
                f"<h1>{status_code}: {reason}</h1><p>{escape.xhtml_escape(self._request_summary())}"
                f"</p><pre>{escape.xhtml_escape(tb)}</pre></body></html>"
            )
            return
        self.finish(
            f"<!DOCTYPE html><html><head><title>{status_code}: {reason}</title></head>"
            f"<body><h1>{status_code}: {reason}</h1></body></html>"
        )

    # ------------------------------------------------------------------ client gone
    def on_connection_close(self) -> None:
        super().on_connection_close()
        if (
            tornado.web._has_stream_request_body(type(self))
            and self._tp_state == _OPEN
            and not self._finished
        ):
            # Tornado abandons a streaming handler whose body never completes: still run the
            # end hooks once so per-request resources are released.
            self._tp_state = _DONE
            start(self._tp_end(None, self._tp_mw.endcall))


asyncio_Future = Any  # the future returned by finish()/render(); awaiting it is optional

_SERVER = f"TornadoServer/{tornado.version}"
_date_cache: tuple[int, str] = (0, "")


#: the code of Tornado's RequestHandler._execute (finish() called from it is the auto-finish)
_tornado_execute = tornado.web.RequestHandler._execute
_TORNADO_EXECUTE = _tornado_execute.__code__


def _http_date() -> str:
    """``Date`` header value for now, formatted at most once per second."""
    global _date_cache
    now = time.time()
    second = int(now)
    if second != _date_cache[0]:
        _date_cache = (second, httputil.format_timestamp(second))
    return _date_cache[1]


def _status_of(value: BaseException | None) -> int:
    if isinstance(value, HTTPError):
        return value.status_code
    status = getattr(value, "http_status", None)
    if status is not None:
        return int(status)
    if isinstance(value, _exceptions.UNAVAILABLE):
        return 503
    return 500


def is_safe_url(url: str, host: str | None) -> bool:
    """True when redirecting to ``url`` stays on ``host`` (Django's rules, simplified)."""
    from urllib.parse import urlsplit

    url = url.strip()
    if not url or any(ord(c) < 32 or c == "\\" for c in url):
        return False
    if url.startswith("///"):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme and parts.scheme not in ("http", "https"):
        return False
    if parts.scheme and not parts.netloc:
        return False
    if parts.netloc:
        return host is not None and parts.netloc.lower() == host.lower()
    return url.startswith("/") or not parts.scheme


class ErrorHandler(WebHandler):
    """The default handler for unknown URLs: answers ``status_code`` (404) through the pipeline.

    ``process_request`` and HTTP modules do not run for it; response and end hooks do (so the
    access log records the 404).
    """

    http_modules_apply = False

    def initialize(self, status_code: int = 404, **kwargs: Any) -> None:  # type: ignore[override]
        self.set_status(status_code)

    def prepare(self) -> Any:  # type: ignore[override]
        return self.send_error(self._status_code)

    def check_xsrf_cookie(self) -> None:
        pass


# ---------------------------------------------------------------------- API handler

# fullmatch, ASCII only: "$" alone would let a trailing newline through ("cb\n")
_CALLBACK_RE = re.compile(r"[A-Za-z_$][\w$]{0,63}(?:\.[A-Za-z_$][\w$]{0,63}){0,7}", re.ASCII)
_JS_RESERVED = frozenset(
    "break case catch class const continue debugger default delete do else export extends "
    "false finally for function if import in instanceof new null return super switch this "
    "throw true try typeof var void while with yield let static enum await implements package "
    "protected interface private public".split()
)


def _json_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "__dict__"):
        return {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


# built once: json.dumps(..., default=...) would build a new encoder per call
_ASCII_ENCODER = json.JSONEncoder(ensure_ascii=True, default=_json_default)
_UTF8_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_json_default)


def valid_jsonp_callback(name: str) -> bool:
    """True for a JavaScript identifier path such as ``jQuery123.cb`` (no reserved words)."""
    if not _CALLBACK_RE.fullmatch(name):
        return False
    return not any(part in _JS_RESERVED for part in name.split("."))


class ApiHandler(WebHandler):
    """A handler for JSON/JSONP APIs: :meth:`get_format` and :meth:`write_api`.

    Errors are answered as JSON: ``{"code": 404, "message": "Not Found"}``. The XSRF check
    applies only to requests that carry cookies and no ``Authorization`` header: a client
    authenticating with a token (or nothing) cannot be ridden by a cross-site form.
    """

    def check_xsrf_cookie(self) -> None:
        headers = self.request.headers
        if "Cookie" not in headers or "Authorization" in headers:
            return
        super().check_xsrf_cookie()

    def get_format(self) -> str:
        """The ``format`` argument, else ``jsonp`` when Accept names javascript, else ``json``."""
        if self.request.arguments:  # query and form arguments
            fmt = self.get_argument("format", None)
            if fmt:
                return fmt
        if "javascript" in self.request.headers.get("Accept", ""):
            return "jsonp"
        return "json"

    def write_api(
        self,
        obj: Any = None,
        nofail: bool = False,
        ensure_ascii: bool = True,
        fmt: str | None = None,
    ) -> None:
        """Write ``obj`` (dict, list, dataclass, object) as JSON or JSONP.

        ``jsonp`` wraps the output in the ``callback`` argument, which must be a JavaScript
        identifier path (else 400). An unknown format is a 400 unless ``nofail`` (then JSON).
        """
        if obj is None:
            obj = {}
        fmt = fmt or self.get_format()
        if fmt not in ("json", "jsonp"):
            if not nofail:
                raise HTTPError(400, "unknown response format %r", fmt, reason="Unknown format")
            fmt = "json"
        body = (_ASCII_ENCODER if ensure_ascii else _UTF8_ENCODER).encode(obj)
        if fmt == "jsonp":
            callback = self.get_argument("callback", "", strip=False)  # exactly as sent
            if not callback or not valid_jsonp_callback(callback):
                raise HTTPError(400, "invalid jsonp callback", reason="Invalid callback")
            # escape characters that are valid in JSON but end a JS string/line
            body = body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
            self.set_header("Content-Type", "application/javascript; charset=UTF-8")
            self.set_header("X-Content-Type-Options", "nosniff")
            super().write(f"/**/{callback}({body});".encode("utf-8", "backslashreplace"))
            return
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        # a lone surrogate from the client can only sit inside a JSON string, where
        # backslashreplace writes it as the valid escape \udXXX
        super().write(body.encode("utf-8", "backslashreplace"))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if self._should_not_send_content(status_code):
            self.finish()
            return
        payload: dict[str, Any] = {"code": status_code, "message": self._reason}
        if self.settings.get("serve_traceback") and "exc_info" in kwargs:
            payload["traceback"] = traceback.format_exception(*kwargs["exc_info"])
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(payload))


from tornadopy.mixins.flash_message import FlashMessageMixIn  # noqa: E402  (public re-export)
