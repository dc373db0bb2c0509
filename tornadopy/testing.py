"""Test kit: run an application on a real socket and talk to it over real HTTP.

::

    from tornadopy.testing import serve

    async def test_home():
        async with serve(make_app()) as client:
            resp = await client.get('/')
            assert resp.code == 200

:class:`Client` keeps cookies across requests (like a browser), sends the XSRF token back on
POST/PUT/PATCH/DELETE like a form would (``xsrf=False`` to leave it out) and never raises on
4xx/5xx.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import unittest
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from tornadopy.conf import override_settings

__all__ = [
    "Client",
    "TestCase",
    "override_settings",
    "require_service",
    "serve",
    "services_required",
]


class Client:
    """An HTTP client for one test: keeps cookies, returns responses whatever their status."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.cookies: SimpleCookie = SimpleCookie()
        self._http = AsyncHTTPClient(force_instance=True)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        cookies: bool = True,
        xsrf: bool = True,
        **kwargs: Any,
    ) -> HTTPResponse:
        hdrs = dict(headers or {})
        if xsrf and cookies and method not in ("GET", "HEAD", "OPTIONS"):
            # what a browser form does: send the _xsrf cookie's token back (minting one if needed)
            if "_xsrf" not in self.cookies:
                self.cookies["_xsrf"] = secrets.token_hex(16)
            hdrs.setdefault("X-Xsrftoken", self.cookies["_xsrf"].value)
        if data is not None:
            body = urlencode(data, doseq=True)
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if cookies and self.cookies and "Cookie" not in hdrs:
            hdrs["Cookie"] = "; ".join(f"{k}={m.value}" for k, m in self.cookies.items())
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        resp = await self._http.fetch(
            self.base_url + path,
            method=method,
            body=body,
            headers=hdrs,
            raise_error=False,
            follow_redirects=False,
            request_timeout=kwargs.pop("request_timeout", 30),
            **kwargs,
        )
        if cookies:
            for header in resp.headers.get_list("Set-Cookie"):
                jar: SimpleCookie = SimpleCookie()
                jar.load(header)
                for key, morsel in jar.items():
                    expired = _expired(morsel)
                    if expired or morsel.value == "":
                        self.cookies.pop(key, None)
                    else:
                        self.cookies[key] = morsel
        return resp

    async def get(self, path: str, **kwargs: Any) -> HTTPResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> HTTPResponse:
        return await self.request("POST", path, **kwargs)

    def close(self) -> None:
        self._http.close()


@contextlib.asynccontextmanager
async def serve(app: Application, **server_kwargs: Any) -> AsyncIterator[Client]:
    """Serve ``app`` on a free loopback port for the block; yield a :class:`Client` for it.

    A tornadopy :class:`~tornadopy.application.Application` is started (``process_init``, clients
    and pools) before the first request and shut down (``process_shutdown``, clients and pools
    closed) after the block.
    """
    startup = getattr(app, "startup", None)
    if startup is not None:
        await startup()
    sockets = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
    port = sockets[0].getsockname()[1]
    server = HTTPServer(app, **server_kwargs)
    server.add_sockets(sockets)
    client = Client(f"http://127.0.0.1:{port}")
    client.server = server  # type: ignore[attr-defined]
    client.port = port  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        client.close()
        server.stop()
        await server.close_all_connections()
        shutdown = getattr(app, "shutdown", None)
        if shutdown is not None:
            await shutdown()


def _expired(morsel: Any) -> bool:
    """True when a Set-Cookie morsel deletes the cookie (Max-Age <= 0 or Expires in the past)."""
    if morsel["max-age"]:
        try:
            return int(morsel["max-age"]) <= 0
        except ValueError:
            return False
    if morsel["expires"]:
        try:
            return parsedate_to_datetime(morsel["expires"]) <= datetime.now(UTC)
        except (TypeError, ValueError):
            return False
    return False


def services_required() -> bool:
    """True when ``TORNADOPY_REQUIRE_SERVICES=1``: an absent service fails instead of skipping."""
    return os.environ.get("TORNADOPY_REQUIRE_SERVICES", "") not in ("", "0", "false")


def require_service(name: str, host: str, port: int) -> None:
    """Skip the calling test when ``host:port`` does not accept connections (fail under CI)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError as exc:
        msg = f"{name} is not reachable on {host}:{port} ({exc})"
        if services_required():
            pytest.fail(msg + " and TORNADOPY_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(msg)


class TestCase(unittest.IsolatedAsyncioTestCase):
    """A unittest test case with a served application and a cookie-keeping ``self.client``.

    ::

        class HomeTests(TestCase):
            settings_module = 'settings.setting'
            settings_overrides = {'DEBUG': False}

            async def test_home(self):
                resp = await self.client.get('/')
                self.assertEqual(resp.code, 200)

    Override :meth:`get_app` to build the application yourself.
    """

    settings_module: str | None = None
    settings_overrides: dict[str, Any] = {}

    def get_app(self) -> Application:
        from tornadopy.application import Application as TornadopyApplication

        return TornadopyApplication()

    async def asyncSetUp(self) -> None:
        from tornadopy.conf import settings

        self._stack = contextlib.AsyncExitStack()
        saved = settings.__dict__["_wrapped"]
        self._stack.callback(settings.__dict__.__setitem__, "_wrapped", saved)
        if self.settings_module:
            settings.configure(self.settings_module)
        self._stack.enter_context(override_settings(**self.settings_overrides))
        self.app = self.get_app()
        self.client = await self._stack.enter_async_context(serve(self.app))

    async def asyncTearDown(self) -> None:
        await self._stack.aclose()
