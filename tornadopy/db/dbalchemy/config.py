"""Read ``DATABASE_CONNECTION`` and ``SQLALCHEMY_CONFIGURATION`` into engine specifications.

``DATABASE_CONNECTION`` maps a connection name to its servers, in the seed's format::

    DATABASE_CONNECTION = {
        'default': {
            'connections': [
                {'ROLE': 'master', 'DRIVER': 'mysql+aiomysql', 'UID': 'root', 'PASSWD': '',
                 'HOST': '127.0.0.1', 'PORT': 3306, 'DATABASE': 'test',
                 'QUERY': {'charset': 'utf8mb4'}},
                {'ROLE': 'slave', ...},                  # any number of replicas
            ],
            'REPLICA_RETRY': 5,      # optional: seconds between probes of a failed replica
        },
        'logs': {'connections': [{'ROLE': 'master', 'URL': 'sqlite+aiosqlite:///logs.db'}]},
    }

Rules, in order:

- Each connection has exactly one ``'master'`` and any number of ``'slave'`` (or
  ``'replica'``) entries. An entry is either ``URL`` (any SQLAlchemy URL) or ``DRIVER`` with
  ``UID``/``PASSWD``/``HOST``/``PORT``/``DATABASE``/``QUERY``. A connection written without
  ``connections`` (just one entry's keys) is its master.
- Drivers must be asyncio drivers. ``mysql`` means ``mysql+aiomysql``, ``postgresql`` means
  ``postgresql+asyncpg`` and ``sqlite`` means ``sqlite+aiosqlite``; the seed's blocking drivers
  (``mysql+mysqldb``, ``mysql+pymysql``, ``postgresql+psycopg2``, ``sqlite+pysqlite``) are
  replaced by those, with a warning in the log.
- ``SQLALCHEMY_CONFIGURATION`` keys (``'sqlalchemy.pool_size'`` or plain ``'pool_size'``) are
  keyword arguments of :func:`sqlalchemy.ext.asyncio.create_async_engine` for every engine; an
  entry's ``OPTIONS`` dict adds or overrides keys for that server only. Three adjustments keep
  seed settings working on SQLAlchemy 2 asyncio:

  * ``encoding`` and ``convert_unicode`` (removed in SQLAlchemy 2.0) are ignored: put the
    character set in ``QUERY`` (``{'charset': 'utf8mb4'}``).
  * ``poolclass`` may be a class, a name from :mod:`sqlalchemy.pool` (``'QueuePool'``) or a
    dotted path. ``QueuePool`` becomes ``AsyncAdaptedQueuePool``, its asyncio twin.
  * Queue-size arguments (``pool_size``, ``max_overflow``, ``pool_timeout``,
    ``pool_use_lifo``) are dropped for pool classes that have no queue (``NullPool``, or the
    ``StaticPool`` SQLAlchemy uses for in-memory SQLite).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy.pool
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.util import get_cls_kwargs

from tornadopy.exception import ImproperlyConfigured
from tornadopy.importer import import_object

logger = logging.getLogger("tornadopy.db")

#: driver names replaced by their asyncio counterpart
ASYNC_DRIVERS = {
    "mysql": "mysql+aiomysql",
    "mysql+mysqldb": "mysql+aiomysql",
    "mysql+pymysql": "mysql+aiomysql",
    "mysql+mysqlconnector": "mysql+aiomysql",
    "mariadb": "mariadb+aiomysql",
    "mariadb+mysqldb": "mariadb+aiomysql",
    "mariadb+pymysql": "mariadb+aiomysql",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
}
IGNORED_OPTIONS = frozenset({"encoding", "convert_unicode", "url"})
#: create_async_engine() argument -> pool constructor argument, for queue-only arguments
QUEUE_OPTIONS = {
    "pool_size": "pool_size",
    "max_overflow": "max_overflow",
    "pool_timeout": "timeout",
    "pool_use_lifo": "use_lifo",
}
MASTER_ROLES = frozenset({"master", "primary"})
REPLICA_ROLES = frozenset({"slave", "replica"})
DEFAULT_REPLICA_RETRY = 5.0


@dataclass(frozen=True)
class EngineSpec:
    """One server: its URL and the keyword arguments of its engine."""

    url: URL
    options: dict[str, Any] = field(default_factory=dict)
    role: str = "master"

    @property
    def label(self) -> str:
        """The server for log lines (no password)."""
        return self.url.render_as_string(hide_password=True)


@dataclass(frozen=True)
class ConnectionSpec:
    """A named connection: one master and its replicas."""

    name: str
    master: EngineSpec
    replicas: tuple[EngineSpec, ...] = ()
    replica_retry: float = DEFAULT_REPLICA_RETRY


def parse_connections(
    database_connection: Mapping[str, Any], sqlalchemy_configuration: Mapping[str, Any]
) -> dict[str, ConnectionSpec]:
    """Every connection of ``DATABASE_CONNECTION`` as a :class:`ConnectionSpec`, by name."""
    if not isinstance(database_connection, Mapping):
        raise ImproperlyConfigured(
            f"DATABASE_CONNECTION must be a dict of connection names, got {database_connection!r}"
        )
    return {
        name: parse_connection(name, conf, sqlalchemy_configuration)
        for name, conf in database_connection.items()
    }


def parse_connection(
    name: str, conf: Mapping[str, Any], sqlalchemy_configuration: Mapping[str, Any]
) -> ConnectionSpec:
    """One entry of ``DATABASE_CONNECTION`` (see the module docstring for the rules)."""
    where = f"DATABASE_CONNECTION[{name!r}]"
    if not isinstance(conf, Mapping):
        raise ImproperlyConfigured(f"{where} must be a dict with a 'connections' list")
    entries = conf.get("connections")
    if entries is None:
        entries = [{"ROLE": "master", **conf}]
    if isinstance(entries, Mapping) or not entries:
        raise ImproperlyConfigured(f"{where}['connections'] must be a non-empty list of dicts")
    masters: list[EngineSpec] = []
    replicas: list[EngineSpec] = []
    for index, entry in enumerate(entries):
        entry_where = f"{where}['connections'][{index}]"
        if not isinstance(entry, Mapping):
            raise ImproperlyConfigured(f"{entry_where} must be a dict, got {entry!r}")
        role = str(entry.get("ROLE", "master")).lower()
        if role in MASTER_ROLES:
            masters.append(engine_spec(entry, sqlalchemy_configuration, entry_where, "master"))
        elif role in REPLICA_ROLES:
            replicas.append(engine_spec(entry, sqlalchemy_configuration, entry_where, "replica"))
        else:
            raise ImproperlyConfigured(
                f"{entry_where}['ROLE'] is {entry.get('ROLE')!r}; use 'master' or 'slave'"
            )
    if len(masters) != 1:
        raise ImproperlyConfigured(
            f"{where} needs exactly one entry with 'ROLE': 'master' (found {len(masters)})"
        )
    try:
        retry = float(conf.get("REPLICA_RETRY", DEFAULT_REPLICA_RETRY))
    except (TypeError, ValueError):
        raise ImproperlyConfigured(
            f"{where}['REPLICA_RETRY'] must be a number of seconds"
        ) from None
    return ConnectionSpec(name, masters[0], tuple(replicas), max(retry, 0.05))


def engine_spec(
    entry: Mapping[str, Any],
    sqlalchemy_configuration: Mapping[str, Any],
    where: str = "DATABASE_CONNECTION",
    role: str = "master",
) -> EngineSpec:
    """The URL and engine options of one server entry."""
    url = entry_url(entry, where)
    options = dict(sqlalchemy_configuration or {})
    options.update(entry.get("OPTIONS") or {})
    return EngineSpec(url, engine_options(url, options, where), role)


def entry_url(entry: Mapping[str, Any], where: str = "DATABASE_CONNECTION") -> URL:
    """The asyncio URL of one entry (``URL`` or ``DRIVER``/``UID``/... keys)."""
    if entry.get("URL"):
        try:
            url = make_url(entry["URL"])
        except ArgumentError as exc:
            raise ImproperlyConfigured(f"{where}['URL'] is not a database URL: {exc}") from None
    else:
        driver = entry.get("DRIVER")
        if not driver:
            raise ImproperlyConfigured(
                f"{where} needs 'URL' or 'DRIVER' (e.g. 'mysql+aiomysql', 'sqlite+aiosqlite')"
            )
        port = entry.get("PORT")
        try:
            url = URL.create(
                str(driver),
                username=entry.get("UID") or None,
                password=entry.get("PASSWD") or None,
                host=entry.get("HOST") or None,
                port=int(port) if port not in (None, "") else None,
                database=entry.get("DATABASE") or None,
                query={str(k): str(v) for k, v in (entry.get("QUERY") or {}).items()},
            )
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"{where}: {exc}") from None
    return async_url(url, where)


def async_url(url: URL | str, where: str = "DATABASE_CONNECTION") -> URL:
    """``url`` with its driver replaced by the asyncio one (see :data:`ASYNC_DRIVERS`)."""
    url = make_url(url)
    replacement = ASYNC_DRIVERS.get(url.drivername)
    if replacement is not None:
        if "+" in url.drivername:
            logger.warning(
                "%s: driver %r blocks the event loop; using %r instead",
                where,
                url.drivername,
                replacement,
            )
        url = url.set(drivername=replacement)
    try:
        dialect = url.get_dialect(_is_async=True)
    except NoSuchModuleError:
        raise ImproperlyConfigured(f"{where}: unknown database driver {url.drivername!r}") from None
    if not getattr(dialect, "is_async", False):
        raise ImproperlyConfigured(
            f"{where}: driver {url.drivername!r} is not an asyncio driver; use mysql+aiomysql, "
            "mysql+asyncmy, postgresql+asyncpg or sqlite+aiosqlite"
        )
    return url


def engine_options(url: URL, config: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``create_async_engine`` keyword arguments from ``SQLALCHEMY_CONFIGURATION``-style keys."""
    options: dict[str, Any] = {}
    for key, value in config.items():
        name = key[len("sqlalchemy.") :] if key.startswith("sqlalchemy.") else key
        if name in IGNORED_OPTIONS:
            continue
        options[name] = value
    poolclass = options.get("poolclass")
    if poolclass is not None:
        poolclass = options["poolclass"] = pool_class(poolclass, where)
    else:
        dialect: Any = url.get_dialect(_is_async=True)
        poolclass = dialect.get_pool_class(url)
    accepted = get_cls_kwargs(poolclass)
    for option, pool_arg in QUEUE_OPTIONS.items():
        if option in options and pool_arg not in accepted:
            del options[option]
    return options


def pool_class(value: Any, where: str = "SQLALCHEMY_CONFIGURATION") -> type[sqlalchemy.pool.Pool]:
    """A pool class from a class, a :mod:`sqlalchemy.pool` name or a dotted path."""
    cls = value
    if isinstance(value, str):
        cls = getattr(sqlalchemy.pool, value, None) if "." not in value else None
        if cls is None:
            cls = import_object(value, f"{where} 'sqlalchemy.poolclass'")
    if not (isinstance(cls, type) and issubclass(cls, sqlalchemy.pool.Pool)):
        raise ImproperlyConfigured(
            f"{where} 'sqlalchemy.poolclass' is {value!r}, which is not a SQLAlchemy pool class"
        )
    if cls is sqlalchemy.pool.QueuePool:
        cls = sqlalchemy.pool.AsyncAdaptedQueuePool
    return cls
