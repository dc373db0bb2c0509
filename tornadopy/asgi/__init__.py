"""ASGI serving (SPEC §2b): the same site under uvicorn or granian.

::

    # project/asgi.py
    from tornadopy.asgi import get_asgi_application
    application = get_asgi_application()

    $ uvicorn asgi:application --no-server-header --no-date-header
    $ granian --interface asgi asgi:application
    $ tornadopy runserver --server=uvicorn        # or SERVER = 'granian' in the settings

Every request goes through the one :class:`tornadopy.application.Application` (middleware,
routing, handlers unchanged). Request bodies stream (``@stream_request_body``), responses stream
(``flush()``), a client that goes away reaches ``on_connection_close``, bodies over
``HTTP_SERVER['max_body_size']`` get 413, and the client address and scheme are the ones the
server reports (its proxy-header handling, e.g. uvicorn's ``--forwarded-allow-ips``).
WebSockets need Tornado's own server.
"""

from tornadopy.asgi.application import ASGIApplication, get_asgi_application
from tornadopy.asgi.servers import ASGI_SERVERS, SERVERS, check_server, serve_with

__all__ = [
    "ASGI_SERVERS",
    "SERVERS",
    "ASGIApplication",
    "check_server",
    "get_asgi_application",
    "serve_with",
]
