"""The peers of the ``bench`` extra, answering the same test types as :mod:`benchmarks.servers`.

- :mod:`benchmarks.peers.starlette_app`: Starlette (async endpoints), served by uvicorn;
- :mod:`benchmarks.peers.aiohttp_app`: aiohttp's own server (``web.AppRunner`` on a socket);
- :mod:`benchmarks.peers.django_bench`: Django's ASGI handler on uvicorn, with its ORM on the
  same MariaDB tables and its cache-backed session on the same Redis.
"""
