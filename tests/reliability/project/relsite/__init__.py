"""A small tornadopy project for the reliability tests (run as real processes and in-process).

Configured from environment variables (read by ``relsite.settings``), so each test can point it
at its own Redis, database and limits:

- ``RELSITE_REDIS``: ``host:port`` of the Redis for sessions and tokens (else sessions live in
  process memory and tokens are off);
- ``RELSITE_REDIS_DB`` (default 12) and ``RELSITE_PREFIX`` (key prefix, default ``relsite``);
- ``RELSITE_DB=replica``: the MariaDB master/replica pair of ``scripts/mariadb-replica.sh``
  (3307/3308) with ``DBAlchemyMiddleware``;
- ``RELSITE_HTTP_SERVER``: JSON merged over ``HTTP_SERVER`` (limits and timeouts);
- ``RELSITE_THREADS``: ``THREADS_NUM``; ``RELSITE_SHUTDOWN_TIMEOUT``: ``SHUTDOWN_TIMEOUT``;
- ``RELSITE_DEBUG=1``: ``DEBUG`` (tests check that production responses carry no traceback).
"""
