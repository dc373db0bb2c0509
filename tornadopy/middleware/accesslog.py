"""``AccessLogMiddleware``: one line per request to the ``tornadopy.accesslog`` logger.

Installed, it replaces Tornado's own access log for WebHandler/ApiHandler routes. The line is::

    127.0.0.1 - - [27/Nov/2026:14:59:01 +0000] "GET /path?q=1 HTTP/1.1" 200 1234 "referer" "agent" 1.52ms

(remote ip, time, method, uri, version, status, response length or ``-``, referer, user agent,
milliseconds), followed by ``rid=<id>`` when ``RequestIdMiddleware`` gave the request an id. Status >= 500 logs at ERROR, >= 400 at WARNING, else INFO. Put it first in
``MIDDLEWARE_CLASSES`` so its ``process_endcall`` runs last.
"""

from __future__ import annotations

import logging
import time
from typing import Any

access_log = logging.getLogger("tornadopy.accesslog")


def _quote(value: str | None) -> str:
    if not value:
        return "-"
    return value.replace("\\", "\\\\").replace('"', '\\"')


class AccessLogMiddleware:
    """Writes the access log line from ``process_endcall``."""

    replaces_tornado_access_log = True

    def process_endcall(self, handler: Any, clear: Any) -> None:
        status = handler.get_status()
        if status < 400:
            level = logging.INFO
        elif status < 500:
            level = logging.WARNING
        else:
            level = logging.ERROR
        if not access_log.isEnabledFor(level):
            return
        request = handler.request
        headers = request.headers
        length = handler._headers.get("Content-Length", "-")
        rid = getattr(request, "request_id", None)
        access_log.log(
            level,
            '%s - - [%s] "%s %s %s" %d %s "%s" "%s" %.2fms' + (" rid=%s" if rid else "%s"),
            request.remote_ip,
            time.strftime("%d/%b/%Y:%H:%M:%S %z"),
            request.method,
            request.uri,
            request.version,
            status,
            length,
            _quote(headers.get("Referer")),
            _quote(headers.get("User-Agent")),
            1000.0 * request.request_time(),
            rid or "",
        )
