"""DATABASE_CONNECTION / SQLALCHEMY_CONFIGURATION parsing (seed format, URL, seed options)."""

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool, StaticPool

from tornadopy.conf import override_settings
from tornadopy.db.dbalchemy import get_engine, get_group, parse_connections, session_scope
from tornadopy.db.dbalchemy.config import async_url, pool_class
from tornadopy.exception import ImproperlyConfigured

from .conftest import mysql_entry

SEED_SQLALCHEMY = {
    "sqlalchemy.connect_args": {"connect_timeout": 3},
    "sqlalchemy.echo": False,
    "sqlalchemy.max_overflow": 10,
    "sqlalchemy.echo_pool": False,
    "sqlalchemy.pool_timeout": 5,
    "sqlalchemy.encoding": "utf-8",
    "sqlalchemy.pool_size": 100,
    "sqlalchemy.pool_recycle": 3600,
    "sqlalchemy.poolclass": "QueuePool",
}


def test_seed_format_master_and_replicas():
    specs = parse_connections(
        {
            "default": {
                "connections": [
                    mysql_entry(3306),
                    mysql_entry(3307, "slave"),
                    mysql_entry(3308, "slave"),
                ]
            },
            "logs": {"connections": [{"ROLE": "master", "URL": "sqlite+aiosqlite:///x.db"}]},
        },
        SEED_SQLALCHEMY,
    )
    default = specs["default"]
    assert default.master.url.drivername == "mysql+aiomysql"
    assert default.master.url.port == 3306
    assert default.master.url.query == {"charset": "utf8mb4"}
    assert [r.url.port for r in default.replicas] == [3307, 3308]
    assert specs["logs"].master.url.drivername == "sqlite+aiosqlite"
    assert specs["logs"].replicas == ()


def test_seed_sqlalchemy_configuration_is_adapted():
    spec = parse_connections({"default": {"connections": [mysql_entry(3306)]}}, SEED_SQLALCHEMY)[
        "default"
    ]
    options = spec.master.options
    assert "encoding" not in options  # removed in SQLAlchemy 2.0: ignored
    assert options["poolclass"] is AsyncAdaptedQueuePool  # 'QueuePool' -> the asyncio twin
    assert options["pool_size"] == 100
    assert options["connect_args"] == {"connect_timeout": 3}


def test_queue_arguments_dropped_for_pools_without_queue():
    conf = {"sqlalchemy.pool_size": 5, "sqlalchemy.max_overflow": 2, "sqlalchemy.pool_recycle": 60}
    memory = parse_connections(
        {"default": {"connections": [{"ROLE": "master", "URL": "sqlite+aiosqlite://"}]}}, conf
    )["default"].master.options
    assert "pool_size" not in memory and "max_overflow" not in memory  # StaticPool
    assert memory["pool_recycle"] == 60
    null = parse_connections(
        {"default": {"URL": "sqlite+aiosqlite:///x.db"}}, {**conf, "poolclass": "NullPool"}
    )["default"].master.options
    assert null["poolclass"] is NullPool and "pool_size" not in null


def test_pool_class_names_and_paths():
    assert pool_class("StaticPool") is StaticPool
    assert pool_class("sqlalchemy.pool.NullPool") is NullPool
    with pytest.raises(ImproperlyConfigured, match="poolclass"):
        pool_class("dict")
    with pytest.raises(ImproperlyConfigured, match="no.such"):
        pool_class("no.such.Pool")


def test_blocking_drivers_are_replaced(caplog):
    with caplog.at_level(logging.WARNING, "tornadopy.db"):
        assert async_url("mysql+mysqldb://root@h/db").drivername == "mysql+aiomysql"
    assert "blocks the event loop" in caplog.text
    assert async_url("mysql://root@h/db").drivername == "mysql+aiomysql"
    assert async_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    assert async_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert async_url("mysql+asyncmy://root@h/db").drivername == "mysql+asyncmy"


@pytest.mark.parametrize(
    "conf, message",
    [
        ({"default": {"connections": []}}, "non-empty list"),
        ({"default": {"connections": [mysql_entry(1, "slave")]}}, "exactly one"),
        ({"default": {"connections": [mysql_entry(1), mysql_entry(2)]}}, "exactly one"),
        ({"default": {"connections": [mysql_entry(1, "boss")]}}, "ROLE"),
        ({"default": {"connections": [{"ROLE": "master"}]}}, "'URL' or 'DRIVER'"),
        ({"default": {"connections": [{"URL": "nosuchdb+drv://x"}]}}, "unknown database driver"),
        ({"default": {"connections": [{"URL": "postgresql+pg8000://x"}]}}, "not an asyncio"),
        ({"default": "sqlite://"}, r"DATABASE_CONNECTION\['default'\] must be a dict"),
    ],
)
def test_configuration_errors_name_the_setting(conf, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_connections(conf, {})


async def test_unknown_connection_name_is_a_clear_error():
    with override_settings(DATABASE_CONNECTION={"default": {"URL": "sqlite+aiosqlite://"}}):
        with pytest.raises(ImproperlyConfigured, match="'nope' is not in DATABASE_CONNECTION"):
            get_group("nope")


async def test_seed_configuration_engine_answers(mysql_server):
    """The seed's SQLALCHEMY_CONFIGURATION, verbatim, on a real MariaDB (no crash, real query)."""
    with override_settings(
        DATABASE_CONNECTION={"default": {"connections": [mysql_entry(mysql_server[1])]}},
        SQLALCHEMY_CONFIGURATION=SEED_SQLALCHEMY,
    ):
        async with session_scope() as session:
            assert (await session.execute(text("SELECT 1 + 1"))).scalar() == 2
        assert isinstance(get_engine().pool, AsyncAdaptedQueuePool)
        assert get_engine().pool.size() == 100


@pytest.mark.parametrize(
    "url",
    [
        "mysql+aiomysql://root@127.0.0.1:3306/test",
        "mysql+asyncmy://root@127.0.0.1:3306/test",
        "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        "sqlite+aiosqlite://",
    ],
)
async def test_every_supported_driver_answers(url):
    from tornadopy.testing import require_service

    if not url.startswith("sqlite"):
        port = int(url.split(":")[2].split("/")[0])
        require_service(url.split("+")[0], "127.0.0.1", port)
    with override_settings(
        DATABASE_CONNECTION={"default": {"connections": [{"ROLE": "master", "URL": url}]}}
    ):
        async with session_scope() as session:
            assert (await session.execute(text("SELECT 40 + 2"))).scalar() == 42
