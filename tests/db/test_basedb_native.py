"""basedb on MySQL drivers: statements go straight through the pooled driver connection.

Round trips are counted by the server (``Com_*`` and ``Questions`` of the one pooled
connection). More on autocommit and transactions: ``test_basedb_autocommit.py``.
"""

import asyncio
import time

import pytest
from sqlalchemy.exc import IntegrityError, ProgrammingError

from tornadopy.db import basedb
from tornadopy.db.dbalchemy import registry

from .conftest import MYSQL_PORT, run_sql

DRIVERS = ["aiomysql", "asyncmy"]
COUNTERS = (
    "SHOW SESSION STATUS WHERE Variable_name IN "
    "('Com_rollback', 'Com_commit', 'Com_admin_commands', 'Com_select', 'Com_insert', "
    "'Questions')"
)


@pytest.fixture(params=DRIVERS)
def db(request, mysql_server):
    run_sql(MYSQL_PORT, "DROP TABLE IF EXISTS tpdb_native")
    run_sql(MYSQL_PORT, "CREATE TABLE tpdb_native (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
    yield basedb.database(
        url=f"mysql+{request.param}://root@127.0.0.1:{MYSQL_PORT}/test?charset=utf8mb4",
        pool_size=1,
        max_overflow=0,
    )
    run_sql(MYSQL_PORT, "DROP TABLE IF EXISTS tpdb_native")


async def counters(db) -> dict[str, int]:
    rows = await db.query(COUNTERS)
    return {r.Variable_name: int(r.Value) for r in rows}


async def test_read_and_write_are_one_round_trip_each(db):
    """basedb's own engine runs in autocommit: no COMMIT, no ROLLBACK after a statement."""
    await db.insert("tpdb_native", id=1, v=0)
    before = await counters(db)
    for _ in range(5):
        assert (await db.select("tpdb_native", where=1))[0].v == 0
    middle = await counters(db)
    for i in range(5):
        await db.insert("tpdb_native", id=10 + i, v=i)
    after = await counters(db)
    reads = {k: middle[k] - before[k] for k in before}
    writes = {k: after[k] - middle[k] for k in before}
    # Questions: every statement the client sent, the counters' own SHOW included
    assert reads == {
        "Com_select": 5,
        "Com_rollback": 0,
        "Com_commit": 0,
        "Com_admin_commands": 0,
        "Com_insert": 0,
        "Questions": 6,
    }
    assert writes == {
        "Com_select": 0,
        "Com_rollback": 0,
        "Com_commit": 0,
        "Com_admin_commands": 0,
        "Com_insert": 5,
        "Questions": 6,
    }


async def test_reads_see_rows_committed_in_between(db):
    await db.insert("tpdb_native", id=1, v=0)
    for expected in range(3):
        assert (await db.select("tpdb_native", where=1))[0].v == expected
        run_sql(MYSQL_PORT, "UPDATE tpdb_native SET v = v + 1 WHERE id = 1")


async def test_server_errors_are_sqlalchemy_errors_and_keep_the_connection(db):
    await db.insert("tpdb_native", id=1, v=0)
    cid = (await db.query("SELECT CONNECTION_ID() AS c"))[0].c
    with pytest.raises(IntegrityError):
        await db.insert("tpdb_native", id=1, v=1)
    with pytest.raises(ProgrammingError):
        await db.query("SELEC nonsense")
    assert (await db.query("SELECT CONNECTION_ID() AS c"))[0].c == cid
    assert db.engine.pool.checkedout() == 0
    assert await db.select("tpdb_native", what="v") == [{"v": 0}]


async def test_error_inside_a_transaction_rolls_it_back(db):
    with pytest.raises(IntegrityError):
        async with db.transaction():
            await db.insert("tpdb_native", id=1, v=0)
            await db.insert("tpdb_native", id=1, v=1)
    assert await db.select("tpdb_native") == []
    assert db.engine.pool.checkedout() == 0


@pytest.mark.slow
async def test_cancelled_native_query_is_killed_on_the_server(db):
    tag = f"tpdb_native_sleep_{time.monotonic_ns()}"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(db.query(f"SELECT SLEEP(5) AS {tag}"), 0.2)
    for killer in registry().killers:
        await killer.wait()
    assert db.engine.pool.checkedout() == 0
    orphans = run_sql(
        MYSQL_PORT,
        "SELECT id FROM information_schema.processlist WHERE info LIKE %s AND id <> CONNECTION_ID()",
        (f"%{tag}%",),
    )
    assert orphans == ()
    assert (await db.query("SELECT 6 * 7 AS n"))[0].n == 42
