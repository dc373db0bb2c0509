"""One HTTP request/response exchange over ASGI, seen by Tornado as an ``HTTPConnection``.

:class:`RequestCycle` is to an ASGI ``http`` scope what Tornado's ``HTTP1Connection`` is to a
socket: it hands the request to the application's ``HTTPMessageDelegate``
(``Application.start_request``) through the public interface -- ``headers_received``, then
``data_received`` for each body chunk, then ``finish`` -- and turns the handler's
``write_headers``/``write``/``finish`` calls into ``http.response.*`` messages.

Hot-path choices (each measured, see issue 6):

- a request without a body never calls ``receive()``;
- the response is sent by the request's own coroutine, folding what the handler wrote before
  ``finish()`` into the last body message: two ``send()`` calls for a plain response;
- a client-disconnect watcher (a Task reading ``http.disconnect``) starts only when a handler
  overrides ``on_connection_close`` or a streamed response is pending; a streamed request body is
  read by its own Task so the handler can answer while the body still arrives.

One Tornado behaviour is relied on (and pinned by the streaming tests of ``tests/asgi``): a
``RequestHandler`` calls ``connection.set_close_callback()`` when it is created, so a handler
that exists once ``headers_received`` returned is a ``@stream_request_body`` one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import tornado.web
from tornado import httputil
from tornado.iostream import StreamClosedError
from tornado.log import app_log, gen_log

from tornadopy.asgi.request import RequestContext, build_request, content_length, may_have_body

__all__ = ["RequestCycle"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger("tornadopy")

#: lower-cased, encoded response header names, filled as names are met (bounded)
_NAMES: dict[str, bytes] = {}
_NAME_CACHE_SIZE = 512


def _plain_close_hooks() -> frozenset[Any]:
    """``on_connection_close`` implementations that need no disconnect watcher."""
    from tornadopy.handler import WebHandler

    return frozenset(
        {tornado.web.RequestHandler.on_connection_close, WebHandler.on_connection_close}
    )


_PLAIN_CLOSE_HOOKS: frozenset[Any] | None = None


def _response_name(name: str) -> bytes:
    key = name.lower().encode("latin-1")
    if len(_NAMES) < _NAME_CACHE_SIZE:
        _NAMES[name] = key
    return key


def _done_future() -> asyncio.Future[None]:
    fut = asyncio.get_running_loop().create_future()
    fut.set_result(None)
    return fut


def _closed_future() -> asyncio.Future[None]:
    fut = asyncio.get_running_loop().create_future()
    fut.set_exception(StreamClosedError())
    fut.exception()  # retrieved: no "exception was never retrieved" log if nobody awaits it
    return fut


class RequestCycle(httputil.HTTPConnection):
    """The Tornado ``HTTPConnection`` of one ASGI ``http`` request; :meth:`run` serves it.

    Besides the ``HTTPConnection`` interface it offers what handlers use on Tornado's own
    connection: ``context`` (``remote_ip``, ``protocol``, ``address``), ``set_close_callback``,
    ``set_max_body_size`` and ``set_body_timeout`` (for ``@stream_request_body`` handlers; the
    body timeout is the ASGI server's business and is ignored here). ``detach()`` (WebSockets) is
    not available under ASGI.
    """

    __slots__ = (
        "_body",
        "_close_callback",
        "_closed",
        "_delegate",
        "_done",
        "_error",
        "_finished",
        "_handler_seen",
        "_reading",
        "_receive",
        "_send",
        "_sent_start",
        "_start",
        "_waiters",
        "_wakeup",
        "_watch_wanted",
        "_watcher",
        "context",
        "max_body_size",
        "scope",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send, max_body_size: int) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.context = RequestContext(scope.get("client"), scope.get("scheme", "http"))
        self.max_body_size = max_body_size
        self._start: Message | None = None  # http.response.start waiting to be sent
        self._body: list[bytes] = []  # body chunks waiting to be sent
        self._waiters: list[asyncio.Future[None]] = []  # flow-control futures of those writes
        self._finished = False  # finish() was called
        self._done = False  # the last body message was sent (or the response abandoned)
        self._closed = False  # the client went away before the response was complete
        self._wakeup: asyncio.Future[None] | None = None
        self._close_callback: Callable[[], None] | None = None
        self._handler_seen = False  # a RequestHandler was created for this request
        self._watch_wanted = False
        self._watcher: asyncio.Task[Any] | None = None  # disconnect watcher or body reader
        self._reading = True  # receive() belongs to the body (until it was read, or not needed)
        self._sent_start = False  # http.response.start went to the server
        self._error = 0  # status of a bare error reply owed by run()
        self._delegate: httputil.HTTPMessageDelegate | None = None

    # ------------------------------------------------------------------ HTTPConnection
    def write_headers(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        if self._closed or self._done:
            return _closed_future()
        names = _NAMES
        raw = [
            (names.get(name) or _response_name(name), value.encode("latin-1"))
            for name, value in headers.get_all()
        ]
        self._start = {
            "type": "http.response.start",
            "status": start_line.code,  # type: ignore[union-attr]
            "headers": raw,
        }
        if chunk:
            self._body.append(chunk)
        return self._queued()

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        if self._closed or self._done:
            return _closed_future()
        if chunk:
            self._body.append(chunk)
        elif self._start is None:
            return _done_future()
        return self._queued()

    def finish(self) -> None:
        self._finished = True
        self._wake()

    # ------------------------------------------------------------------ Tornado extras
    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """Called by ``RequestHandler`` (its ``on_connection_close``) and cleared on finish."""
        global _PLAIN_CLOSE_HOOKS
        self._close_callback = callback
        if callback is None:
            return
        self._handler_seen = True
        plain = _PLAIN_CLOSE_HOOKS
        if plain is None:
            plain = _PLAIN_CLOSE_HOOKS = _plain_close_hooks()
        if getattr(callback, "__func__", None) not in plain:
            self._want_watch()

    def set_max_body_size(self, max_body_size: int) -> None:
        """Change the body size limit of this request (e.g. from a streaming handler's prepare)."""
        self.max_body_size = max_body_size

    def set_body_timeout(self, timeout: float) -> None:
        """Accepted for compatibility; under ASGI the server enforces its own timeouts."""

    def detach(self) -> Any:
        raise NotImplementedError(
            "detach() (used by WebSocketHandler) is not available under ASGI; "
            "serve WebSockets with Tornado's own server"
        )

    def closed(self) -> bool:
        """True once the client went away before the response was complete."""
        return self._closed

    # ------------------------------------------------------------------ serving
    async def run(self, app: Any, server_conn: object) -> None:
        """Serve the request with ``app`` (a ``tornado.web.Application``)."""
        try:
            await self._serve(app, server_conn)
        except asyncio.CancelledError:
            self._client_gone()  # the server gave up on the request (e.g. its shutdown timeout)
            raise
        finally:
            reader = self._watcher
            if reader is not None and not reader.done():
                reader.cancel()
            self._close_callback = None
            # the delegate holds the request, whose connection is this cycle: kept, the finished
            # request would wait for the cyclic garbage collector (benchmarks/README.md,
            # "Reference cycles"; tests/asgi/test_asgi_cycles.py)
            self._delegate = None
        if self._error:
            await self._send_error()

    async def _serve(self, app: Any, server_conn: object) -> None:
        scope = self.scope
        try:
            start_line, headers = build_request(scope)
            length = content_length(headers)
        except httputil.HTTPInputError as exc:
            self._fail(400, f"Malformed HTTP request: {exc}")
            return
        delegate = self._delegate = app.start_request(server_conn, self)
        try:
            pending = delegate.headers_received(start_line, headers)
            if pending is not None:
                await pending
        except httputil.HTTPInputError as exc:
            self._fail(400, f"Malformed HTTP request: {exc}")
            return
        except Exception:
            app_log.error("Uncaught exception in headers_received", exc_info=True)
            self._tell_close(delegate)
            self._fail(500)
            return
        if not (self._finished or self._closed):
            if length is None:  # no framing headers: HTTP/1 says there is no body
                length = -1 if may_have_body(start_line) and self._version_2plus() else 0
            if length == 0:
                self._reading = False
                try:
                    delegate.finish()  # a plain handler is created and scheduled here
                except Exception:
                    app_log.error("Uncaught exception finishing the request", exc_info=True)
                    self._tell_close(delegate)
                    self._fail(500)
                    return
                if self._watch_wanted:
                    self._want_watch()  # a streaming handler with its own on_connection_close
            elif length > self.max_body_size:
                self._too_large(delegate)
                return
            elif self._handler_seen:
                # @stream_request_body: the handler exists and may answer while the body is
                # still arriving, so the body is read by its own task.
                self._watcher = asyncio.ensure_future(self._read_body(delegate, as_task=True))
            elif not await self._read_body(delegate, as_task=False):
                return
        else:
            self._reading = False  # answered before the body: it is not read
        await self._pump()

    def _version_2plus(self) -> bool:
        return str(self.scope.get("http_version", "1.1"))[:1] in ("2", "3")

    async def _read_body(self, delegate: httputil.HTTPMessageDelegate, as_task: bool) -> bool:
        """Feed the body to ``delegate``; False when the request was abandoned.

        Run ``as_task`` (a streaming handler), it goes on watching for a disconnect afterwards
        while a watcher is wanted.
        """
        received = 0
        receive = self._receive
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    self._client_gone()
                    return False
                chunk = message.get("body", b"")
                if chunk:
                    received += len(chunk)
                    if received > self.max_body_size:
                        self._too_large(delegate)
                        return False
                    pending = delegate.data_received(chunk)
                    if pending is not None:
                        await pending
                    if self._finished or self._closed:
                        return False  # answered already: the rest of the body is not needed
                if not message.get("more_body", False):
                    break
            self._reading = False
            delegate.finish()
        except asyncio.CancelledError:
            raise
        except Exception:
            app_log.error("Uncaught exception reading the request body", exc_info=True)
            self._tell_close(delegate)
            self._fail(500)
            return False
        if as_task and self._watch_wanted:
            await self._watch()  # this task is the watcher now
        return True

    async def _pump(self) -> None:
        """Send what the handler writes until it finishes or the client goes away."""
        send = self._send
        loop = asyncio.get_running_loop()
        while not self._closed:
            start = self._start
            if start is None and not self._body and not self._finished:
                wakeup = self._wakeup = loop.create_future()
                await wakeup
                self._wakeup = None
                continue
            try:
                if start is not None:
                    self._start = None
                    self._sent_start = True
                    await send(start)
                chunks = self._body
                body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                self._body = []
                finished = self._finished
                waiters = self._waiters
                self._waiters = []
                if body or finished:
                    await send(
                        {"type": "http.response.body", "body": body, "more_body": not finished}
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the server refused: the client is gone
                logger.debug("ASGI send failed (%s): treating the client as gone", exc)
                self._client_gone()
                return
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)
            if finished:
                self._done = True
                return
            self._want_watch()  # a streamed response is pending: notice a disconnect

    # ------------------------------------------------------------------ internals
    def _queued(self) -> asyncio.Future[None]:
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake()
        return fut

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def _want_watch(self) -> None:
        """Notice a client disconnect from now on (once the body has been read)."""
        self._watch_wanted = True
        if self._watcher is None and not self._reading and not self._done:
            self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        receive = self._receive
        while not self._done:
            message = await receive()
            if message["type"] == "http.disconnect":
                self._client_gone()
                return

    def _client_gone(self) -> None:
        """The client disconnected: tell the delegate (body still arriving) or the handler.

        As Tornado's own connection does: ``HTTPMessageDelegate.on_connection_close`` while the
        request is being received, the handler's close callback after.
        """
        if self._done or self._closed:
            return
        self._closed = True
        delegate = self._delegate
        if self._reading and delegate is not None:
            self._tell_close(delegate)
        else:
            callback = self._close_callback
            self._close_callback = None
            if callback is not None:
                try:
                    callback()
                except Exception:
                    app_log.error("Exception in on_connection_close", exc_info=True)
        self._abandon()

    def _abandon(self) -> None:
        """No more output will be sent: fail pending writes, stop the pump."""
        self._closed = True
        waiters = self._waiters
        self._waiters = []
        for fut in waiters:
            if not fut.done():
                fut.set_exception(StreamClosedError())
                fut.exception()
        self._wake()

    def _tell_close(self, delegate: httputil.HTTPMessageDelegate) -> None:
        self._close_callback = None
        try:
            delegate.on_connection_close()
        except Exception:
            app_log.error("Exception in on_connection_close", exc_info=True)

    def _too_large(self, delegate: httputil.HTTPMessageDelegate) -> None:
        self._tell_close(delegate)
        self._fail(
            413, f"Request body too large (limit {self.max_body_size} bytes)", level=logging.INFO
        )

    def _fail(self, status: int, log_message: str | None = None, level: int = logging.INFO) -> None:
        """Give up the request; :meth:`run` answers ``status`` unless a response started."""
        if log_message:
            gen_log.log(level, "%s from %s", log_message, self.context)
        if not self._error:
            self._error = status
        self._abandon()

    async def _send_error(self) -> None:
        self._done = True
        if self._sent_start:
            return  # headers are out: the server closes the connection when we return
        status = self._error
        body = httputil.responses.get(status, "Error").encode()
        try:
            await self._send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await self._send({"type": "http.response.body", "body": body, "more_body": False})
        except Exception as exc:
            logger.debug("ASGI send failed (%s) for a %d reply", exc, status)
