"""Round trips per pooled connection (tornadopy/db/dbalchemy/pooling.py, docs/db.md).

Counted by the server: MariaDB's per-connection ``Com_*`` counters of the one pooled connection
(``pool_size=1``). ``Com_admin_commands`` counts ``COM_PING``.
"""

import asyncio

import pytest
from sqlalchemy import text

from tornadopy.conf import override_settings
from tornadopy.db.dbalchemy import get_engine, session_scope
from tornadopy.db.dbalchemy.pooling import liveness_of

from .conftest import MYSQL_PORT, mysql_entry, run_sql

DRIVERS = ["mysql+aiomysql", "mysql+asyncmy"]
COUNTERS = text(
    "SHOW SESSION STATUS WHERE Variable_name IN "
    "('Com_rollback', 'Com_commit', 'Com_admin_commands', 'Com_select', 'Com_update')"
)


def one_connection(driver="mysql+aiomysql", **config):
    return {
        "DATABASE_CONNECTION": {
            "default": {"connections": [mysql_entry(MYSQL_PORT, driver=driver)]}
        },
        "SQLALCHEMY_CONFIGURATION": {
            "sqlalchemy.pool_size": 1,
            "sqlalchemy.max_overflow": 0,
            "sqlalchemy.pool_pre_ping": True,
            **config,
        },
    }


async def counters() -> dict[str, int]:
    """The pooled connection's counters (this session's own ROLLBACK comes after the read)."""
    async with session_scope() as s:
        rows = (await s.execute(COUNTERS)).all()
        cid = (await s.execute(text("SELECT CONNECTION_ID()"))).scalar()
    out = {name: int(value) for name, value in rows}
    out["id"] = cid
    return out


async def requests_cost(work, n=5) -> dict[str, float]:
    """Server-counted commands per call of ``work`` (the counter sessions taken out)."""
    before = await counters()
    for _ in range(n):
        await work()
    after = await counters()
    assert after["id"] == before["id"], "the pool replaced its connection meanwhile"
    # the first counters() session ran one SELECT (CONNECTION_ID) and one ROLLBACK at its end
    delta = {k: after[k] - before[k] for k in before if k != "id"}
    delta["Com_rollback"] -= 1
    delta["Com_select"] -= 1
    return {k: v / n for k, v in delta.items()}


@pytest.fixture
def counter_table(mysql_server):
    run_sql(MYSQL_PORT, "DROP TABLE IF EXISTS tpdb_pooling")
    run_sql(MYSQL_PORT, "CREATE TABLE tpdb_pooling (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
    run_sql(MYSQL_PORT, "INSERT INTO tpdb_pooling VALUES (1, 0)")
    yield
    run_sql(MYSQL_PORT, "DROP TABLE IF EXISTS tpdb_pooling")


@pytest.mark.parametrize("driver", DRIVERS)
async def test_read_costs_one_select_and_one_rollback(counter_table, driver):
    """No COM_PING on checkout, no second ROLLBACK on return."""
    with override_settings(**one_connection(driver)):

        async def read():
            async with session_scope() as s:
                assert (await s.execute(text("SELECT v FROM tpdb_pooling"))).scalar() == 0

        cost = await requests_cost(read)
        assert cost["Com_select"] == 1
        assert cost["Com_rollback"] == 1
        assert cost["Com_admin_commands"] == 0  # no ping
        assert cost["Com_commit"] == 0


@pytest.mark.parametrize("driver", DRIVERS)
async def test_write_costs_its_statements_and_one_commit(counter_table, driver):
    with override_settings(**one_connection(driver)):

        async def write():
            async with session_scope(master=True) as s:
                await s.execute(text("UPDATE tpdb_pooling SET v = v + 1 WHERE id = 1"))
                await s.commit()

        cost = await requests_cost(write)
        assert cost == {
            "Com_update": 1,
            "Com_commit": 1,
            "Com_rollback": 0,  # the pool's reset is skipped after the COMMIT
            "Com_admin_commands": 0,
            "Com_select": 0,
        }
    assert run_sql(MYSQL_PORT, "SELECT v FROM tpdb_pooling") == ((5,),)


async def test_the_one_rollback_still_ends_the_read_snapshot(counter_table):
    """A read's REPEATABLE READ snapshot ends with the request: the next one sees new rows."""
    with override_settings(**one_connection()):
        for expected in range(3):
            async with session_scope() as s:
                value = (await s.execute(text("SELECT v FROM tpdb_pooling"))).scalar()
            assert value == expected
            run_sql(MYSQL_PORT, "UPDATE tpdb_pooling SET v = v + 1 WHERE id = 1")


async def test_a_statement_after_commit_is_still_rolled_back_on_return(counter_table):
    with override_settings(**one_connection()):
        engine = get_engine()
        async with engine.connect() as conn:
            await conn.execute(text("UPDATE tpdb_pooling SET v = 1 WHERE id = 1"))
            await conn.commit()
            await conn.execute(text("UPDATE tpdb_pooling SET v = 2 WHERE id = 1"))
        # raw DBAPI work after a commit, which SQLAlchemy does not see: reset as usual
        async with engine.connect() as conn:
            await conn.commit()

            def raw_update(sync_conn):
                cursor = sync_conn.connection.cursor()
                cursor.execute("UPDATE tpdb_pooling SET v = 3 WHERE id = 1")
                cursor.close()

            await conn.run_sync(raw_update)
        async with engine.connect() as conn:
            value = (await conn.execute(text("SELECT v FROM tpdb_pooling"))).scalar()
        assert value == 1
    assert run_sql(MYSQL_PORT, "SELECT v FROM tpdb_pooling") == ((1,),)


@pytest.mark.parametrize("driver", DRIVERS)
async def test_killed_connection_reused_at_once_is_replaced_without_a_ping(mysql_server, driver):
    """KILL, then the very next checkout: the socket check sees it (no round trip)."""
    with override_settings(**one_connection(driver)):
        seen = set()
        for _ in range(20):
            async with session_scope() as s:
                cid = (await s.execute(text("SELECT CONNECTION_ID()"))).scalar()
            assert cid not in seen
            seen.add(cid)
            run_sql(MYSQL_PORT, f"KILL CONNECTION {int(cid)}")
        async with session_scope() as s:  # no error
            assert (await s.execute(text("SELECT 6 * 7"))).scalar() == 42
        check = liveness_of(get_engine())
        assert check is not None
        assert check.replaced == 20
        assert check.pings == 0
        assert get_engine().pool.checkedout() == 0


@pytest.mark.slow
@pytest.mark.parametrize("driver", DRIVERS)
async def test_connection_idled_past_wait_timeout_is_replaced_without_a_ping(mysql_server, driver):
    entry = mysql_entry(
        MYSQL_PORT,
        driver=driver,
        OPTIONS={"connect_args": {"init_command": "SET SESSION wait_timeout = 1"}},
    )
    conf = one_connection(driver)
    conf["DATABASE_CONNECTION"]["default"]["connections"] = [entry]
    with override_settings(**conf):
        async with session_scope() as s:
            first = (await s.execute(text("SELECT CONNECTION_ID()"))).scalar()
        await asyncio.sleep(2.5)
        async with session_scope() as s:
            second = (await s.execute(text("SELECT CONNECTION_ID()"))).scalar()
        assert second != first
        check = liveness_of(get_engine())
        assert check is not None and check.replaced == 1 and check.pings == 0


async def test_connection_idle_longer_than_the_limit_is_pinged(mysql_server):
    with override_settings(**one_connection(**{"sqlalchemy.pool_pre_ping_idle": 0.3})):
        before = await counters()
        check = liveness_of(get_engine())
        assert check is not None and check.pings == 0
        await counters()  # reused at once: no ping
        assert check.pings == 0
        await asyncio.sleep(0.5)
        after = await counters()  # idle 0.5 s > 0.3 s: pinged on checkout
        assert check.pings == 1
        assert after["Com_admin_commands"] - before["Com_admin_commands"] == 1
        assert after["id"] == before["id"]


async def test_idle_limit_zero_pings_every_checkout(mysql_server):
    """``pool_pre_ping_idle = 0``: SQLAlchemy's own pre-ping, one COM_PING per checkout."""
    with override_settings(**one_connection(**{"sqlalchemy.pool_pre_ping_idle": 0})):
        before = await counters()
        assert liveness_of(get_engine()) is None
        for _ in range(3):
            await counters()
        after = await counters()
        assert after["Com_admin_commands"] - before["Com_admin_commands"] == 4


async def test_no_liveness_check_without_pre_ping(mysql_server):
    with override_settings(**one_connection(**{"sqlalchemy.pool_pre_ping": False})):
        await counters()
        assert liveness_of(get_engine()) is None
