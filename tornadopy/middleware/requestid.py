"""``RequestIdMiddleware``: see :mod:`tornadopy.requestid`."""

from __future__ import annotations

import re
import secrets
from typing import Any

from tornadopy.conf import settings
from tornadopy.decorators.whitelist import ip_allowed, parse_networks
from tornadopy.requestid import request_id

HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


class RequestIdMiddleware:
    """Gives each request an id (trusted proxy's ``X-Request-ID`` or a new one)."""

    def __init__(self) -> None:
        self.trusted = parse_networks(settings.TRUSTED_PROXIES, setting="TRUSTED_PROXIES")

    def process_call(self, request: Any, clear: Any) -> None:
        rid = request.headers.get(HEADER)
        if not (rid and _VALID.match(rid) and ip_allowed(_peer(request), self.trusted)):
            rid = secrets.token_hex(16)
        request.request_id = rid
        request_id.set(rid)

    def process_request(self, handler: Any, clear: Any) -> None:
        handler.set_header(HEADER, _of(handler))

    def process_response(self, handler: Any, clear: Any, chunk: list[bytes]) -> None:
        if not handler._headers_written:
            handler.set_header(HEADER, _of(handler))  # again: send_error() clears headers


def _of(handler: Any) -> str:
    rid = getattr(handler.request, "request_id", None)
    if rid is None:  # a route reached without process_call (not possible with this middleware)
        rid = handler.request.request_id = secrets.token_hex(16)
        request_id.set(rid)
    return rid  # type: ignore[no-any-return]


def _peer(request: Any) -> str | None:
    context = getattr(request.connection, "context", None)
    return getattr(context, "remote_ip", None) or request.remote_ip
