"""basedb's own engine on MySQL drivers runs in autocommit; its transactions begin explicitly.

Everything is checked from outside too: another connection (a blocking pymysql client,
autocommit) sees what is committed and only that; ``information_schema.innodb_trx`` shows open
transactions; the server's per-connection counters (``Com_*``, ``Questions``) count round trips.
"""

import asyncio
import time

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, PendingRollbackError

from tornadopy.conf import override_settings
from tornadopy.db import basedb
from tornadopy.db.dbalchemy import registry

from .conftest import MYSQL_PORT, mysql_entry, run_sql

DRIVERS = ["aiomysql", "asyncmy"]
COUNTERS = (
    "SHOW SESSION STATUS WHERE Variable_name IN "
    "('Com_rollback', 'Com_commit', 'Com_begin', 'Com_select', 'Com_insert', 'Com_savepoint', "
    "'Com_release_savepoint', 'Com_rollback_to_savepoint', 'Questions')"
)


def url(driver: str) -> str:
    return f"mysql+{driver}://root@127.0.0.1:{MYSQL_PORT}/test?charset=utf8mb4"


@pytest.fixture
def table(mysql_server):
    run_sql(MYSQL_PORT, "DROP TABLE IF EXISTS tpdb_ac")
    run_sql(MYSQL_PORT, "CREATE TABLE tpdb_ac (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
    yield
    run_sql(MYSQL_PORT, "DROP TABLE IF EXISTS tpdb_ac")


@pytest.fixture(params=DRIVERS)
def db(request, table):
    """One pooled connection, so consecutive calls use the same server connection."""
    return basedb.database(url=url(request.param), pool_size=1, max_overflow=0)


def outside() -> list[tuple[int, int]]:
    """The table as another connection sees it (committed rows only)."""
    return [tuple(r) for r in run_sql(MYSQL_PORT, "SELECT id, v FROM tpdb_ac ORDER BY id")]


def open_transactions(cid: int) -> tuple:
    return run_sql(
        MYSQL_PORT,
        "SELECT trx_id FROM information_schema.innodb_trx WHERE trx_mysql_thread_id = %s",
        (cid,),
    )


async def no_open_transaction(cid: int) -> bool:
    """True once ``innodb_trx`` shows no transaction of ``cid`` (up to 3 s: a ``KILL`` ends a
    connection asynchronously). InnoDB refreshes that table's cache only when it was not read
    for 0.1 s: a faster poll would read the same stale cache forever."""
    deadline = time.monotonic() + 3
    await asyncio.sleep(0.15)
    while open_transactions(cid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.25)
    return True


async def connection_id(db) -> int:
    return int((await db.query("SELECT CONNECTION_ID() AS c"))[0].c)


async def counters(db) -> dict[str, int]:
    return {r.Variable_name: int(r.Value) for r in await db.query(COUNTERS)}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """The counters that moved, less the one ``SHOW`` that read ``after``."""
    moved = {k: after[k] - before[k] for k in before}
    moved["Questions"] -= 1
    return {k: v for k, v in moved.items() if v}


async def test_a_statement_outside_a_transaction_is_committed_at_once(db):
    assert db.autocommit
    await db.insert("tpdb_ac", id=1, v=1)
    assert outside() == [(1, 1)]
    assert await db.update("tpdb_ac", where=1, v=2) == 1
    assert outside() == [(1, 2)]
    assert await db.query("DELETE FROM tpdb_ac WHERE id = $i", vars={"i": 1}) == 1
    assert outside() == []


async def test_a_read_keeps_no_snapshot(db):
    """Rows committed elsewhere between two reads on the same pooled connection are seen."""
    await db.insert("tpdb_ac", id=1, v=0)
    cid = await connection_id(db)
    for expected in range(3):
        assert (await db.select("tpdb_ac", where=1))[0].v == expected
        assert await no_open_transaction(cid)
        run_sql(MYSQL_PORT, "UPDATE tpdb_ac SET v = v + 1 WHERE id = 1")
    run_sql(MYSQL_PORT, "INSERT INTO tpdb_ac VALUES (2, 0)")
    assert len(await db.select("tpdb_ac")) == 2
    assert await connection_id(db) == cid


async def test_single_statements_are_one_round_trip(db):
    await db.insert("tpdb_ac", id=1, v=0)
    before = await counters(db)
    for _ in range(10):
        assert (await db.select("tpdb_ac", where=1))[0].v == 0
    assert delta(await counters(db), before) == {"Com_select": 10, "Questions": 10}
    before = await counters(db)
    await db.insert("tpdb_ac", id=2, v=0)
    assert delta(await counters(db), before) == {"Com_insert": 1, "Questions": 1}


async def test_transaction_round_trips(db):
    before = await counters(db)
    async with db.transaction():
        await db.insert("tpdb_ac", id=1, v=0)
        await db.select("tpdb_ac")
        async with db.transaction():
            await db.insert("tpdb_ac", id=2, v=0)
    assert delta(await counters(db), before) == {
        "Com_begin": 1,
        "Com_insert": 2,
        "Com_select": 1,
        "Com_savepoint": 1,
        "Com_release_savepoint": 1,
        "Com_commit": 1,
        "Questions": 7,
    }


async def test_transaction_is_isolated_until_commit(db):
    async with db.transaction():
        await db.insert("tpdb_ac", id=1, v=1)
        await db.update("tpdb_ac", where=1, v=2)
        assert (await db.select("tpdb_ac", where=1))[0].v == 2  # its own write, inside
        assert outside() == []  # nothing is visible before the commit
    assert outside() == [(1, 2)]


async def test_exception_in_the_block_rolls_back(db):
    await db.insert("tpdb_ac", id=1, v=1)
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await db.update("tpdb_ac", where=1, v=5)
            await db.insert("tpdb_ac", id=2, v=2)
            raise RuntimeError("boom")
    assert outside() == [(1, 1)]
    # a server error inside the block: raised as SQLAlchemy's class, and the block rolls back
    with pytest.raises(IntegrityError):
        async with db.transaction():
            await db.insert("tpdb_ac", id=3, v=3)
            await db.insert("tpdb_ac", id=1, v=0)
    assert outside() == [(1, 1)]
    assert db.engine.pool.checkedout() == 0
    cid = await connection_id(db)
    assert await no_open_transaction(cid)


async def test_explicit_commit_and_rollback(db):
    t = await db.transaction().start()
    await db.insert("tpdb_ac", id=1, v=1)
    await t.rollback()
    await t.commit()  # already over: nothing more
    assert outside() == []
    t = await db.transaction().start()
    await db.insert("tpdb_ac", id=2, v=2)
    await t.commit()
    assert outside() == [(2, 2)]


async def test_nested_blocks_are_savepoints(db):
    async with db.transaction():
        await db.insert("tpdb_ac", id=1, v=1)
        with pytest.raises(ValueError):
            async with db.transaction():
                await db.insert("tpdb_ac", id=2, v=2)
                async with db.transaction():
                    await db.insert("tpdb_ac", id=3, v=3)
                raise ValueError
        async with db.transaction():
            await db.insert("tpdb_ac", id=4, v=4)
        assert outside() == []
        assert [r.id for r in await db.select("tpdb_ac", order="id")] == [1, 4]
    assert outside() == [(1, 1), (4, 4)]


async def test_implicit_commit_inside_a_transaction_starts_a_new_one(db):
    """DDL commits the transaction (MySQL); the statements after it are a transaction again,
    as they would be on a connection without autocommit."""
    with pytest.raises(KeyError):
        async with db.transaction():
            await db.insert("tpdb_ac", id=1, v=1)
            await db.query("CREATE TABLE IF NOT EXISTS tpdb_ac (id INT PRIMARY KEY)")  # commits
            await db.insert("tpdb_ac", id=2, v=2)
            raise KeyError
    assert outside() == [(1, 1)]
    # a savepoint right after the implicit commit belongs to the new transaction too
    async with db.transaction():
        await db.query("CREATE TABLE IF NOT EXISTS tpdb_ac (id INT PRIMARY KEY)")
        with pytest.raises(ValueError):
            async with db.transaction():
                await db.insert("tpdb_ac", id=3, v=3)
                raise ValueError
        await db.insert("tpdb_ac", id=4, v=4)
    assert outside() == [(1, 1), (4, 4)]


async def test_a_transaction_opened_by_hand_does_not_stay_on_the_pooled_connection(db):
    await db.query("START TRANSACTION")
    await db.insert("tpdb_ac", id=1, v=1)  # the same pooled connection: still autocommit
    assert outside() == [(1, 1)]
    assert await no_open_transaction(await connection_id(db))


async def test_transactions_belong_to_their_task(db):
    """A task outside the transaction does not join it; here it waits for the pooled connection
    the transaction holds, then sees the committed row."""
    seen: list[list[int]] = []
    gate = asyncio.Event()

    async def tx() -> None:
        async with db.transaction():
            await db.insert("tpdb_ac", id=1, v=1)
            gate.set()
            await asyncio.sleep(0.05)
        assert outside() == [(1, 1)]

    async def other() -> None:
        await gate.wait()
        seen.append([r.id for r in await db.select("tpdb_ac")])

    await asyncio.gather(tx(), other())
    assert seen == [[1]]


@pytest.mark.parametrize("driver", DRIVERS)
async def test_tasks_started_inside_a_transaction_run_outside_it(table, driver):
    """Child tasks inherit the context, not the transaction: no two statements ever run at once
    on the transaction's connection, and the children's rows do not roll back with it."""
    db = basedb.database(url=url(driver), pool_size=3, max_overflow=0)
    with pytest.raises(KeyError):
        async with db.transaction():
            await db.insert("tpdb_ac", id=1, v=1)
            await asyncio.gather(
                db.insert("tpdb_ac", id=2, v=2),
                db.insert("tpdb_ac", id=3, v=3),
                db.select("tpdb_ac"),
            )
            assert outside() == [(2, 2), (3, 3)]
            async with db.transaction():  # the task's own: a savepoint of its transaction
                await db.insert("tpdb_ac", id=4, v=4)
            raise KeyError
    assert outside() == [(2, 2), (3, 3)]
    assert db.engine.pool.checkedout() == 0


@pytest.mark.parametrize("driver", DRIVERS)
async def test_cancelled_between_statements_rolls_back_and_releases_the_lock(table, driver):
    db = basedb.database(url=url(driver), pool_size=2, max_overflow=0)
    await db.insert("tpdb_ac", id=1, v=0)
    locked = asyncio.Event()
    cid: list[int] = []

    async def hold_lock() -> None:
        async with db.transaction():
            cid.append(await connection_id(db))
            await db.query("SELECT v FROM tpdb_ac WHERE id = 1 FOR UPDATE")
            await db.update("tpdb_ac", where=1, v=99)
            locked.set()
            await asyncio.sleep(30)  # cancelled here, between statements

    task = asyncio.ensure_future(hold_lock())
    await locked.wait()
    assert len(open_transactions(cid[0])) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert db.engine.pool.checkedout() == 0
    assert await no_open_transaction(cid[0])
    started = time.monotonic()
    run_sql(MYSQL_PORT, "UPDATE tpdb_ac SET v = v + 1 WHERE id = 1")  # not blocked by a lock
    assert time.monotonic() - started < 1
    assert outside() == [(1, 1)]


@pytest.mark.slow
@pytest.mark.parametrize("driver", DRIVERS)
async def test_cancelled_mid_statement_leaves_no_transaction_nor_lock(table, driver):
    db = basedb.database(url=url(driver), pool_size=2, max_overflow=0)
    await db.insert("tpdb_ac", id=1, v=0)
    cid: list[int] = []

    async def hold_lock() -> None:
        async with db.transaction():
            cid.append(await connection_id(db))
            await db.update("tpdb_ac", where=1, v=99)
            await db.query("SELECT SLEEP(10) AS s")  # cancelled while the lock is held

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(hold_lock(), 0.5)
    for killer in registry().killers:
        await killer.wait()
    assert db.engine.pool.checkedout() == 0
    assert await no_open_transaction(cid[0])
    started = time.monotonic()
    run_sql(MYSQL_PORT, "UPDATE tpdb_ac SET v = v + 1 WHERE id = 1")
    assert time.monotonic() - started < 1
    assert outside() == [(1, 1)]
    assert (await db.query("SELECT 6 * 7 AS n"))[0].n == 42


async def test_a_statement_after_a_lost_connection_in_a_transaction_refuses(db):
    with pytest.raises(PendingRollbackError):
        async with db.transaction():
            await db.insert("tpdb_ac", id=1, v=1)
            cid = await connection_id(db)
            run_sql(MYSQL_PORT, f"KILL CONNECTION {cid}")
            with pytest.raises(Exception) as lost:
                await db.insert("tpdb_ac", id=2, v=2)
            assert not isinstance(lost.value, PendingRollbackError)
            await db.insert("tpdb_ac", id=3, v=3)  # the connection is gone: refused
    assert outside() == []
    assert db.engine.pool.checkedout() == 0
    assert (await db.query("SELECT 1 AS one"))[0].one == 1  # a new pooled connection


@pytest.mark.parametrize("driver", DRIVERS)
async def test_a_deadlock_dooms_the_transaction(table, driver):
    """After a deadlock the server rolled the whole transaction back (and the connection is in
    autocommit again): later statements and the commit refuse instead of autocommitting."""
    db = basedb.database(url=url(driver), pool_size=2, max_overflow=0)
    await db.multiple_insert("tpdb_ac", [{"id": 1, "v": 0}, {"id": 2, "v": 0}])
    locked = [asyncio.Event(), asyncio.Event()]
    victims: list[Exception] = []
    refused: list[Exception] = []

    async def worker(me: int) -> None:
        first, second = (1, 2) if me == 0 else (2, 1)
        async with db.transaction():
            await db.update("tpdb_ac", where=first, v=10 + me)
            locked[me].set()
            await locked[1 - me].wait()
            if me == 1:
                await asyncio.sleep(0.2)  # worker 0 waits for row 2 first
            try:
                await db.update("tpdb_ac", where=second, v=10 + me)
            except OperationalError as exc:  # swallowed: the block then tries to commit
                victims.append(exc)
                try:
                    await db.insert("tpdb_ac", id=3 + me, v=0)
                except PendingRollbackError as exc:
                    refused.append(exc)

    results = await asyncio.gather(worker(0), worker(1), return_exceptions=True)
    assert len(victims) == 1 and victims[0].orig.args[0] == 1213, (victims, results)
    assert len(refused) == 1
    assert sorted(map(type, results), key=str) == sorted(
        [type(None), PendingRollbackError], key=str
    )
    winner = results.index(None)
    assert outside() == [(1, 10 + winner), (2, 10 + winner)]  # the victim left nothing
    assert db.engine.pool.checkedout() == 0


@pytest.mark.parametrize("driver", DRIVERS)
async def test_named_connection_shares_the_orm_engine(table, driver):
    """``connection=`` runs on the ORM's master engine (autocommit off): a read is followed by a
    ``ROLLBACK`` (two round trips), and transactions work the same."""
    entry = mysql_entry(MYSQL_PORT, driver=f"mysql+{driver}")
    config = {"sqlalchemy.pool_size": 1, "sqlalchemy.max_overflow": 0}
    with override_settings(
        DATABASE_CONNECTION={"default": {"connections": [entry]}},
        SQLALCHEMY_CONFIGURATION=config,
    ):
        db = basedb.database(connection="default")
        assert not db.autocommit
        assert db.engine is registry().group("default").master
        await db.insert("tpdb_ac", id=1, v=1)
        assert outside() == [(1, 1)]
        before = await counters(db)
        await db.select("tpdb_ac")
        moved = delta(await counters(db), before)
        assert moved == {"Com_select": 1, "Com_rollback": 2, "Questions": 3}  # counters' too
        async with db.transaction():
            await db.insert("tpdb_ac", id=2, v=2)
            async with db.transaction():
                await db.insert("tpdb_ac", id=3, v=3)
            with pytest.raises(ValueError):
                async with db.transaction():
                    await db.insert("tpdb_ac", id=4, v=4)
                    raise ValueError
            assert outside() == [(1, 1)]
        assert outside() == [(1, 1), (2, 2), (3, 3)]
        cid = await connection_id(db)
        assert await no_open_transaction(cid)


async def test_an_explicit_isolation_level_keeps_the_engine_transactional(table):
    db = basedb.database(url=url("aiomysql"), pool_size=1, isolation_level="READ COMMITTED")
    assert not db.autocommit
    await db.insert("tpdb_ac", id=1, v=1)
    assert outside() == [(1, 1)]
    async with db.transaction():
        await db.insert("tpdb_ac", id=2, v=2)
        assert outside() == [(1, 1)]
    assert outside() == [(1, 1), (2, 2)]
    assert await no_open_transaction(await connection_id(db))
