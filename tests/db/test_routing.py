"""Master/replica routing against a real MariaDB replica (server identified by @@server_id)."""

import asyncio

import pytest
from sqlalchemy import delete, insert, select, text, update

from tornadopy.conf import override_settings
from tornadopy.db.dbalchemy import create_all, drop_all, get_group, is_write, session_scope

from .conftest import MYSQL_PORT, mysql_entry
from .models import Item

MASTER_ID, REPLICA_ID = 1, 2
SERVER_ID = text("SELECT @@server_id")


async def server_id(session):
    return (await session.execute(SERVER_ID)).scalar()


@pytest.mark.parametrize(
    "sql, write",
    [
        ("SELECT 1", False),
        ("  select * from t", False),
        ("/* hint */ SELECT 1", False),
        ("-- c\nSHOW TABLES", False),
        ("(SELECT 1) UNION (SELECT 2)", False),
        ("EXPLAIN SELECT 1", False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
        ("SELECT * FROM t FOR UPDATE", True),
        ("SELECT * FROM t LOCK IN SHARE MODE", True),
        ("SELECT * FROM t FOR SHARE", True),
        ("WITH x AS (SELECT 1) DELETE FROM t", True),
        ("INSERT INTO t VALUES (1)", True),
        ("update t set a = 1", True),
        ("DELETE FROM t", True),
        ("CREATE TABLE t (a int)", True),
        ("SET @a = 1", True),
        ("CALL proc()", True),
    ],
)
def test_is_write_text(sql, write):
    assert is_write(text(sql)) is write


def test_is_write_constructs():
    t = Item.__table__
    assert is_write(insert(t)) and is_write(update(t)) and is_write(delete(t))
    assert is_write(select(Item).with_for_update())
    assert not is_write(select(Item)) and not is_write(None)


@pytest.fixture
async def replicated(replica_servers):
    """'default' = the replica-test master + its replica, tpdb_items present on both."""
    with override_settings(
        DATABASE_CONNECTION={"default": {"connections": replica_servers.connections()}}
    ):
        await drop_all()
        await create_all()
        replica_servers.wait_replicated()
        yield replica_servers
        await drop_all()


async def test_reads_on_replica_writes_on_master(replicated):
    async with session_scope() as s:
        assert await server_id(s) == REPLICA_ID
        assert await server_id(s.using_master()) == MASTER_ID
        s.add(Item(name="w", qty=1))
        await s.flush()  # the flush goes to the master ...
        master_rows = await s.using_master().execute(text("SELECT count(*) FROM tpdb_items"))
        # ... in the reading session's own transaction: invisible to the master session
        assert master_rows.scalar() == 0
        await s.commit()
    replicated.wait_replicated()
    async with session_scope() as s:
        assert await server_id(s) == REPLICA_ID
        assert [i.name for i in await Item.Q.all()] == ["w"]  # replicated, read on the replica


async def test_read_your_writes_within_a_scope(replicated):
    async with session_scope() as s:
        assert await server_id(s) == REPLICA_ID
        master = s.using_master()
        master.add(Item(name="fresh", qty=2))
        await master.commit()
        # this scope wrote through the master: its later reads go there too
        assert await server_id(s) == MASTER_ID
        assert (await Item.Q.filter_by(name="fresh").one()).qty == 2
    async with session_scope() as s:  # a new request reads from the replica again
        assert await server_id(s) == REPLICA_ID


async def test_dml_statement_goes_to_master_and_counts_as_write(replicated):
    async with session_scope() as s:
        await s.execute(insert(Item.__table__).values(name="dml", qty=3))
        assert await server_id(s) == MASTER_ID
        await s.commit()
    async with session_scope() as s:
        await s.execute(text("SELECT 1"))
        assert await server_id(s) == REPLICA_ID
        rows = await s.execute(text("SELECT @@server_id FROM tpdb_items FOR UPDATE"))
        assert {r[0] for r in rows} == {MASTER_ID}


async def test_using_master_reads_on_master(replicated):
    async with session_scope() as s:
        m = s.using_master()
        assert await server_id(m) == MASTER_ID
        assert await server_id(s) == REPLICA_ID  # reading on the master is not a write
        assert m.using_master() is m
    async with session_scope(master=True) as m:
        assert await server_id(m) == MASTER_ID


async def test_reads_spread_over_healthy_replicas(replica_servers):
    """Two replica entries (same server, two engines): each scope picks one at random."""
    entries = replica_servers.connections() + [mysql_entry(replica_servers.replica_port, "slave")]
    with override_settings(DATABASE_CONNECTION={"default": {"connections": entries}}):
        group = get_group()
        used = set()
        for _ in range(40):
            async with session_scope() as s:
                assert await server_id(s) == REPLICA_ID
                used.add(s.sync_session._replicas["default"])
        assert used == set(group.replicas)


async def test_no_replica_configured_reads_on_master(mysql_server):
    with override_settings(
        DATABASE_CONNECTION={"default": {"connections": [mysql_entry(MYSQL_PORT)]}}
    ):
        async with session_scope() as s:
            port = (await s.execute(text("SELECT @@port"))).scalar()
            assert port == MYSQL_PORT


async def test_unreachable_replica_falls_back_without_failing(mysql_server, caplog):
    """A replica that refuses connections: the read goes to the master, the replica leaves."""
    conns = [
        mysql_entry(MYSQL_PORT),
        mysql_entry(1, "slave", OPTIONS={"connect_args": {"connect_timeout": 2}}),
    ]
    with override_settings(
        DATABASE_CONNECTION={"default": {"connections": conns, "REPLICA_RETRY": 60}}
    ):
        group = get_group()
        async with session_scope() as s:
            assert (await s.execute(text("SELECT @@port"))).scalar() == MYSQL_PORT
        assert not group.replicas[0].healthy
        assert "reads go elsewhere" in caplog.text
        for _ in range(3):
            async with session_scope() as s:
                assert (await s.execute(text("SELECT @@port"))).scalar() == MYSQL_PORT


async def test_replica_returns_after_probe(replica_servers):
    """A replica marked down is probed every REPLICA_RETRY seconds and comes back when it answers."""
    conns = replica_servers.connections()
    with override_settings(
        DATABASE_CONNECTION={"default": {"connections": conns, "REPLICA_RETRY": 0.2}}
    ):
        group = get_group()
        group.replicas[0].mark_down("test")
        async with session_scope() as s:
            assert await server_id(s) == MASTER_ID
        for _ in range(50):
            if group.replicas[0].healthy:
                break
            await asyncio.sleep(0.1)
        assert group.replicas[0].healthy
        async with session_scope() as s:
            assert await server_id(s) == REPLICA_ID
