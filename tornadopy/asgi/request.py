"""From an ASGI ``http`` scope to what Tornado would have parsed off the wire.

:func:`build_request` gives the ``RequestStartLine`` and ``HTTPHeaders``; :class:`RequestContext`
is ``request.connection.context`` (the client address and scheme the server reports, after its
own proxy-header handling); :func:`content_length` reads the body framing.
"""

from __future__ import annotations

import socket
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import quote

from tornado import httputil

__all__ = ["RequestContext", "build_request", "content_length", "may_have_body"]

Scope = MutableMapping[str, Any]

#: ASGI ``http_version`` -> Tornado's version string (granian reports HTTP/1.0 as "1").
_VERSIONS = {
    "1.1": "HTTP/1.1",
    "1.0": "HTTP/1.0",
    "1": "HTTP/1.0",
    "2": "HTTP/2.0",
    "2.0": "HTTP/2.0",
    "3": "HTTP/3.0",
    "3.0": "HTTP/3.0",
}

#: decoded request header names, filled as names are met (bounded: names come from clients)
_REQUEST_NAMES: dict[bytes, str] = {}
_NAME_CACHE_SIZE = 512


class RequestContext:
    """``request.connection.context``: the client as the ASGI server reports it.

    ``remote_ip`` and ``protocol`` come from the scope's ``client`` and ``scheme`` -- that is,
    after the server applied the proxy headers it trusts (e.g. uvicorn's
    ``--forwarded-allow-ips``).
    """

    __slots__ = ("address", "address_family", "protocol", "remote_ip")

    def __init__(self, client: Any, scheme: str) -> None:
        if client:
            host = str(client[0])
            self.address: tuple[str, int] | None = (host, int(client[1]))
            self.remote_ip = host
            self.address_family: int | None = socket.AF_INET6 if ":" in host else socket.AF_INET
        else:  # a Unix socket: Tornado fakes the address the same way
            self.address = None
            self.remote_ip = "0.0.0.0"
            self.address_family = None
        self.protocol = "https" if scheme in ("https", "wss") else "http"

    def __str__(self) -> str:
        return self.remote_ip


def build_request(scope: Scope) -> tuple[httputil.RequestStartLine, httputil.HTTPHeaders]:
    """The start line and headers Tornado would have parsed from the wire for ``scope``.

    The URI is built from ``raw_path`` (so ``%2F`` in a path argument survives) and the raw
    query string.
    """
    raw_path = scope.get("raw_path")
    if raw_path:
        path = raw_path.decode("latin-1")
    else:
        path = quote(scope.get("path") or "/", safe="/:@!$&'()*+,;=-._~")
    query = scope.get("query_string")
    uri = f"{path}?{query.decode('latin-1')}" if query else path
    version = _VERSIONS.get(scope.get("http_version", "1.1"), "HTTP/1.1")
    # a plain dict first (one normalisation per header inside HTTPHeaders), repeats added after
    fields: dict[str, str] = {}
    repeated: list[tuple[str, str]] | None = None
    names = _REQUEST_NAMES
    for raw_name, raw_value in scope.get("headers") or ():
        name = names.get(raw_name)
        if name is None:
            name = raw_name.decode("latin-1")
            if len(names) < _NAME_CACHE_SIZE:
                names[raw_name] = name
        if name in fields:
            if repeated is None:
                repeated = []
            repeated.append((name, raw_value.decode("latin-1")))
        elif raw_value or name != "host" or version != "HTTP/1.0":
            fields[name] = raw_value.decode("latin-1")
        # else: granian sends an empty Host when an HTTP/1.0 client sent none
    headers = httputil.HTTPHeaders(fields)
    if repeated:
        for name, value in repeated:
            headers.add(name, value)  # joined with commas (Set-Cookie-like lists kept)
    if version[5] in "23" and "Host" not in headers and scope.get("server"):
        host, port = scope["server"][0], scope["server"][1]
        headers["Host"] = f"{host}:{port}" if port is not None else str(host)
    return httputil.RequestStartLine(scope.get("method", "GET"), uri, version), headers


def content_length(headers: httputil.HTTPHeaders) -> int | None:
    """The announced body length; -1 when chunked, None when the request has no framing."""
    value = headers.get("Content-Length")
    if value is not None:
        if "," in value:  # duplicated by a proxy: fine when all equal (as Tornado allows)
            pieces = {p.strip() for p in value.split(",")}
            if len(pieces) != 1:
                raise httputil.HTTPInputError(f"Multiple unequal Content-Lengths: {value!r}")
            value = pieces.pop()
        if not value.isdigit():
            raise httputil.HTTPInputError(f"Only integer Content-Length is allowed: {value}")
        return int(value)
    if "Transfer-Encoding" in headers:
        return -1
    return None


def may_have_body(start_line: httputil.RequestStartLine) -> bool:
    """Whether a request without framing headers may still carry a body (HTTP/2 and later)."""
    return start_line.method not in ("GET", "HEAD", "OPTIONS", "DELETE")
