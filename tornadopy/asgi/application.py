"""``ASGIApplication``: the tornadopy site as an ASGI 3 application (SPEC §2b).

The same :class:`tornadopy.application.Application` -- routes, middleware, handlers -- serves
every request; only the transport changes (see :mod:`tornadopy.asgi.cycle`).

Lifespan: ``startup`` builds the application from the settings (unless one was given), sets up
``LOGGING`` and runs ``process_init`` (clients and pools open there); ``shutdown`` waits up to
``SHUTDOWN_TIMEOUT`` for requests still running their end hooks, runs ``process_shutdown`` and
closes cache clients and database pools. A server without lifespan support gets the start-up
on the first request instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

from tornadopy.asgi.cycle import Message, Receive, RequestCycle, Scope, Send
from tornadopy.conf import ENVIRONMENT_VARIABLE, ENVIRONMENT_VARIABLES, check_settings, settings

__all__ = ["ASGIApplication", "get_asgi_application"]

logger = logging.getLogger("tornadopy")

#: Tornado's own default limit when neither max_body_size nor max_buffer_size is set
_DEFAULT_MAX_BODY = 100 * 1024 * 1024


#: environment variable carrying the server's logging options to its worker processes
LOGGING_ENV = "TORNADOPY_ASGI_LOGGING"


def logging_options() -> dict[str, Any]:
    """Keyword arguments for ``configure_logging`` handed down by ``serve_with`` (the command
    line's ``--logging_dir``, ``--log_port_prefix``, ``--disable_log`` and the port)."""
    raw = os.environ.get(LOGGING_ENV)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        logger.warning("ignoring %s: not JSON: %r", LOGGING_ENV, raw)
        return {}
    allowed = {"logging_dir", "port", "log_port_prefix", "disable_log"}
    return {k: v for k, v in value.items() if k in allowed} if isinstance(value, dict) else {}


def body_size_limit() -> int:
    """``HTTP_SERVER['max_body_size']`` (else ``max_buffer_size``, else Tornado's 100 MiB)."""
    conf = settings.HTTP_SERVER if "HTTP_SERVER" in settings else {}
    limit = conf.get("max_body_size") or conf.get("max_buffer_size")
    return int(limit) if limit else _DEFAULT_MAX_BODY


class ASGIApplication:
    """An ASGI 3 callable serving a tornadopy :class:`~tornadopy.application.Application`.

    :param application: an ``Application`` instance to serve; by default one is built from the
        settings at start-up (lifespan ``startup``, or the first request).
    :param configure_logging: set up the ``LOGGING`` setting at start-up (default: only when the
        application is built from the settings).

    ``http`` scopes are served; ``websocket`` scopes are refused (Tornado's ``WebSocketHandler``
    needs Tornado's own server).
    """

    def __init__(self, application: Any = None, *, configure_logging: bool | None = None) -> None:
        self._given = application
        self._configure_logging = (
            application is None if configure_logging is None else (configure_logging)
        )
        #: the running Application (None until started)
        self.application: Any = None
        self.max_body_size = _DEFAULT_MAX_BODY
        self._lock: asyncio.Lock | None = None
        self._stopped = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            app = self.application
            if app is None:
                app = await self.startup()
            await RequestCycle(scope, receive, send, self.max_body_size).run(app, self)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
        else:
            raise ValueError(f"tornadopy.asgi cannot serve ASGI scope type {kind!r}")

    # ------------------------------------------------------------------ lifecycle
    async def startup(self) -> Any:
        """Build the application (once), set up logging and run ``process_init``; return it."""
        if self.application is not None:
            return self.application
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.application is not None:
                return self.application
            app = self._given
            if app is None:
                from tornadopy.application import Application

                app = Application()
            if self._configure_logging:
                from tornadopy.logger import configure_logging

                configure_logging(**logging_options())
            self.max_body_size = body_size_limit()
            await app.startup()
            self._stopped = False
            self.application = app
            return app

    async def shutdown(self) -> None:
        """Let running requests end (up to ``SHUTDOWN_TIMEOUT``), then ``app.shutdown()``."""
        app = self.application
        if app is None or self._stopped:
            return
        self._stopped = True
        drain = getattr(app, "drain", None)
        if drain is not None:
            await drain(float(settings.SHUTDOWN_TIMEOUT))
        await app.shutdown()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message: Message = await receive()
            kind = message["type"]
            if kind == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    logger.error("tornadopy start-up failed", exc_info=True)
                    await send(
                        {
                            "type": "lifespan.startup.failed",
                            "message": f"{type(exc).__name__}: {exc}",
                        }
                    )
                    return
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                try:
                    await self.shutdown()
                except Exception as exc:
                    logger.error("tornadopy shutdown failed", exc_info=True)
                    await send(
                        {
                            "type": "lifespan.shutdown.failed",
                            "message": f"{type(exc).__name__}: {exc}",
                        }
                    )
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return


def get_asgi_application(settings_module: str | None = None) -> ASGIApplication:
    """The site of the current settings as an ASGI application::

        # project/asgi.py
        from tornadopy.asgi import get_asgi_application
        application = get_asgi_application()      # settings from tornadopy_APP_SETTINGS

    then ``uvicorn asgi:application --no-server-header --no-date-header`` or
    ``granian --interface asgi asgi:application``.

    ``settings_module`` (a dotted path) overrides the environment variable, for this process and
    the workers it starts. The settings are imported and checked now (a bad settings module
    fails here, naming the problem); the application itself is built at lifespan start-up.
    """
    if settings_module:
        for var in ENVIRONMENT_VARIABLES:
            os.environ.pop(var, None)
        os.environ[ENVIRONMENT_VARIABLE] = settings_module
        settings.reset()
    settings.DEBUG  # noqa: B018 - import the settings module now: errors surface at load time
    check_settings()
    return ASGIApplication()
