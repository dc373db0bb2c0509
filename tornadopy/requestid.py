"""Request ids: one id per request, echoed in ``X-Request-ID`` and in every log line.

Enable ``tornadopy.middleware.requestid.RequestIdMiddleware`` (first in ``MIDDLEWARE_CLASSES``).
The id is taken from the request's ``X-Request-ID`` header when the connection comes from a
``TRUSTED_PROXIES`` address (and the value is a sane token), else generated (128 random bits,
hex). While the request is served, :data:`request_id` holds it; log handlers installed by
:func:`tornadopy.logger.configure_logging` add it to every record as ``%(request_id)s`` (``-``
outside a request), and the default log format shows it.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

#: The id of the request being served in this context (``'-'`` outside a request).
request_id: ContextVar[str] = ContextVar("tornadopy_request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` from the current context."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True
