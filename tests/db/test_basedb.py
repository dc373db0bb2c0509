"""basedb: web.py's API, awaited, on SQLite, MariaDB (aiomysql, asyncmy) and PostgreSQL."""

import asyncio

import pytest

from tornadopy.conf import override_settings
from tornadopy.db import basedb
from tornadopy.db.basedb import Row, SQLLiteral, sqlquery
from tornadopy.testing import require_service

HOSTILE = "x' OR '1'='1"

CREATE = {
    "sqlite": "CREATE TABLE tpdb_people (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "name VARCHAR(100) NOT NULL, age INTEGER, note VARCHAR(100))",
    "mysql": "CREATE TABLE tpdb_people (id INT AUTO_INCREMENT PRIMARY KEY, "
    "name VARCHAR(100) NOT NULL, age INT, note VARCHAR(100)) ENGINE=InnoDB",
    "postgresql": "CREATE TABLE tpdb_people (id SERIAL PRIMARY KEY, "
    "name VARCHAR(100) NOT NULL, age INT, note VARCHAR(100))",
}


@pytest.fixture(params=["sqlite", "aiomysql", "asyncmy", "postgresql"])
async def db(request, tmp_path):
    kind = request.param
    if kind == "sqlite":
        db = basedb.database(url=f"sqlite+aiosqlite:///{tmp_path}/b.db")
    elif kind == "postgresql":
        require_service("PostgreSQL", "127.0.0.1", 5432)
        db = basedb.database(
            dbn="postgres", db="postgres", user="postgres", host="127.0.0.1", port=5432
        )
    else:
        require_service("MariaDB", "127.0.0.1", 3306)
        db = basedb.database(url=f"mysql+{kind}://root@127.0.0.1:3306/test?charset=utf8mb4")
    await db.query("DROP TABLE IF EXISTS tpdb_people")
    await db.query(CREATE[db.dialect_name if db.dialect_name != "mariadb" else "mysql"])
    yield db
    await db.query("DROP TABLE IF EXISTS tpdb_people")


def test_dollar_names_become_bound_parameters():
    sql, params = sqlquery(
        "SELECT * FROM t WHERE a = $a AND b IN $bs", {"a": HOSTILE, "bs": [1, 2]}
    )
    assert sql == "SELECT * FROM t WHERE a = ? AND b IN (?, ?)"
    assert params == (HOSTILE, 1, 2)
    sql, params = sqlquery(
        "SELECT '$a', \"$a\", `$a`, 'it''s $a', 5$$ WHERE x = $a", {"a": 1}, "format"
    )
    assert sql == "SELECT '$a', \"$a\", `$a`, 'it''s $a', 5$ WHERE x = %s"
    assert params == (1,)
    assert (
        sqlquery("SELECT '100%' WHERE a = $a", {"a": 1}, "format")[0]
        == "SELECT '100%%' WHERE a = %s"
    )
    assert (
        sqlquery("a = $a AND b = $b", {"a": 1, "b": 2}, "numeric_dollar")[0] == "a = $1 AND b = $2"
    )
    assert sqlquery("a IN $e", {"e": []})[0] == "a IN (NULL)"
    assert sqlquery("a = $a", {"a": SQLLiteral("NOW()")}) == ("a = NOW()", ())
    with pytest.raises(KeyError, match=r"\$missing"):
        sqlquery("a = $missing", {})


def test_rows_are_dicts_with_attributes():
    row = Row(id=1, name="n")
    assert row.name == "n" and row["id"] == 1 and dict(row) == {"id": 1, "name": "n"}
    row.age = 3
    assert row["age"] == 3
    with pytest.raises(AttributeError):
        row.nope


async def test_round_trip(db):
    first = await db.insert("tpdb_people", name=HOSTILE, age=30)
    second = await db.insert("tpdb_people", name="bob", age=40, note="100% sure")
    assert isinstance(first, int) and second == first + 1
    rows = await db.select("tpdb_people", order="id")
    assert [(r.name, r.age, r.note) for r in rows] == [
        (HOSTILE, 30, None),
        ("bob", 40, "100% sure"),
    ]
    assert isinstance(rows[0], Row) and rows[0]["id"] == first

    # the hostile value is data, never SQL: it matches only itself
    found = await db.select("tpdb_people", where="name = $n", vars={"n": HOSTILE})
    assert [r.id for r in found] == [first]
    assert await db.select("tpdb_people", where="name = $n", vars={"n": "x"}) == []
    assert (
        await db.query("SELECT * FROM tpdb_people WHERE name = $n", vars={"n": "' OR 1=1 --"}) == []
    )

    assert await db.update("tpdb_people", where="id = $id", vars={"id": first}, age=31) == 1
    assert (await db.where("tpdb_people", name=HOSTILE))[0].age == 31
    assert (await db.select("tpdb_people", where={"name": "bob"}, what="age"))[0] == {"age": 40}
    assert (await db.select("tpdb_people", where=second))[0].name == "bob"  # int: id = ...
    counted = await db.query("SELECT count(*) AS n FROM tpdb_people WHERE age > $a", vars={"a": 30})
    assert counted[0].n == 2
    assert [r.id for r in await db.select("tpdb_people", order="id", limit=1, offset=1)] == [second]
    assert len(await db.select("tpdb_people", offset=1)) == 1

    ids = await db.multiple_insert(
        "tpdb_people", [{"name": "c", "age": 1}, {"name": "d", "age": 2}]
    )
    assert ids == [second + 1, second + 2]
    assert {
        r.name for r in await db.select("tpdb_people", where="id IN $ids", vars={"ids": ids})
    } == {"c", "d"}

    assert await db.delete("tpdb_people", where="id IN $ids", vars={"ids": ids}) == 2
    assert (
        await db.query("UPDATE tpdb_people SET age = age + 1 WHERE name = $n", vars={"n": "bob"})
        == 1
    )
    assert (await db.where("tpdb_people", name="bob"))[0].age == 41
    assert (
        await db.update(
            "tpdb_people", where="id = $i", vars={"i": second}, age=SQLLiteral("age * 2")
        )
        == 1
    )
    assert (await db.where("tpdb_people", id=second))[0].age == 82
    with pytest.raises(ValueError, match="where"):
        await db.delete("tpdb_people", where="")
    assert len(await db.select("tpdb_people")) == 2


async def test_transaction_commits_and_rolls_back(db):
    async with db.transaction():
        await db.insert("tpdb_people", name="kept")
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await db.insert("tpdb_people", name="gone")
            assert len(await db.where("tpdb_people", name="gone")) == 1  # visible inside
            raise RuntimeError("boom")
    assert [r.name for r in await db.select("tpdb_people")] == ["kept"]


async def test_nested_transaction_is_a_savepoint(db):
    async with db.transaction():
        await db.insert("tpdb_people", name="outer")
        with pytest.raises(ValueError):
            async with db.transaction():
                await db.insert("tpdb_people", name="inner")
                raise ValueError
        await db.insert("tpdb_people", name="outer2")
    assert sorted(r.name for r in await db.select("tpdb_people")) == ["outer", "outer2"]


async def test_explicit_rollback(db):
    t = await db.transaction().start()
    await db.insert("tpdb_people", name="undone")
    await t.rollback()
    assert await db.select("tpdb_people") == []


async def test_transactions_belong_to_their_task(db):
    """Two tasks: one rolls back, the other's work (outside any transaction) stays."""
    if db.dialect_name == "sqlite":
        pytest.skip(
            "SQLite allows one writer at a time: the second insert would wait for the first"
        )
    gate = asyncio.Event()

    async def rolled_back():
        with pytest.raises(KeyError):
            async with db.transaction():
                await db.insert("tpdb_people", name="tx")
                await gate.wait()
                raise KeyError

    async def plain():
        await db.insert("tpdb_people", name="plain")
        gate.set()

    await asyncio.gather(rolled_back(), plain())
    assert [r.name for r in await db.select("tpdb_people")] == ["plain"]


async def test_named_connection(mysql_server):
    entry = {"ROLE": "master", "URL": "mysql+aiomysql://root@127.0.0.1:3306/test"}
    with override_settings(DATABASE_CONNECTION={"default": {"connections": [entry]}}):
        db = basedb.database(connection="default")
        assert (await db.query("SELECT @@port AS port"))[0].port == 3306


def test_database_needs_a_target():
    with pytest.raises(Exception, match="url=..., dbn=... or connection"):
        basedb.database()
