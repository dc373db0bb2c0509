"""The TechEmpower database test types: ``db``, ``queries``, ``fortunes``, ``updates``.

Tables ``tpbench_world`` (10,000 rows: ``id``, ``randomNumber``) and ``tpbench_fortune`` (the 12
TechEmpower fortunes) in the MariaDB ``test`` database on 127.0.0.1:3306, created and filled by
:func:`setup_database` (the runner calls it before starting the servers; it does nothing when
they are already complete).

Every side uses the same driver (aiomysql under SQLAlchemy 2's asyncio engine unless a
``driver`` is named; :data:`DRIVERS` lists the MySQL drivers compared):

- raw Tornado by hand, Core (``RAW_HANDLERS``): one engine per event loop, SQLAlchemy Core
  statements on ``engine.connect()``/``engine.begin()``, SQLAlchemy's default pool;
- raw Tornado by hand, ORM (``raw_orm_handlers()``): the same engine, SQLAlchemy's own
  ``AsyncSession`` (``async_sessionmaker``) and plain declarative classes -- issue 5's baseline;
- tornadopy (``TP_HANDLERS``): ``Model`` classes on a ``DATABASE_CONNECTION`` entry,
  ``Model.Q.get`` and the request's session from ``DBAlchemyMiddleware``, tornadopy's default
  ``SQLALCHEMY_CONFIGURATION`` (``pool_pre_ping`` on: a socket check per checkout, see
  docs/db.md);
- ``basedb`` against the driver called by hand (``basedb_handlers()`` /
  ``driver_handlers()``), on raw Tornado handlers so only the database layer differs.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import tornado.web
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tornadopy.db.dbalchemy import Model
from tornadopy.handler import ApiHandler, WebHandler

DB_HOST, DB_PORT = "127.0.0.1", 3306
DB_URL = f"mysql+aiomysql://root@{DB_HOST}:{DB_PORT}/test?charset=utf8mb4"
DRIVERS = ("aiomysql", "asyncmy")


def db_url(driver: str = "aiomysql") -> str:
    """The benchmark database's URL for a MySQL asyncio driver."""
    return f"mysql+{driver}://root@{DB_HOST}:{DB_PORT}/test?charset=utf8mb4"


CONNECTION = "tpbench"
WORLD_ROWS = 10000
TEMPLATE_PATH = str(Path(__file__).with_name("templates"))
EXTRA_FORTUNE = "Additional fortune added at request time."

FORTUNES = [
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. — Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    '<script>alert("This should not be displayed in a browser alert box.");</script>',
    "フレームワークのベンチマーク",
]

# ---------------------------------------------------------------------- tables (raw side)

raw_metadata = MetaData()
world_table = Table(
    "tpbench_world",
    raw_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("randomNumber", Integer, nullable=False),
)
fortune_table = Table(
    "tpbench_fortune",
    raw_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("message", String(2048), nullable=False),
)


def _random_id() -> int:
    return random.randint(1, WORLD_ROWS)


def _update_ids(n: int) -> list[int]:
    """The rows an ``updates`` request changes, in id order: concurrent transactions then lock
    rows in the same order and do not deadlock (TechEmpower allows sorting)."""
    return sorted(_random_id() for _ in range(n))


def queries_count(handler: tornado.web.RequestHandler) -> int:
    """The ``queries`` argument, clamped to 1..500 as TechEmpower asks."""
    try:
        n = int(handler.get_argument("queries", "1"))
    except ValueError:
        return 1
    return min(max(n, 1), 500)


async def setup_database() -> None:
    """Create and fill the two tables unless they are complete already."""
    engine = create_async_engine(DB_URL)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(raw_metadata.create_all)
            worlds = (await conn.execute(select(func.count()).select_from(world_table))).scalar()
            if worlds != WORLD_ROWS:
                await conn.execute(world_table.delete())
                await conn.execute(
                    world_table.insert(),
                    [
                        {"id": i, "randomNumber": random.randint(1, 10000)}
                        for i in range(1, WORLD_ROWS + 1)
                    ],
                )
            fortunes = (
                await conn.execute(select(func.count()).select_from(fortune_table))
            ).scalar()
            if fortunes != len(FORTUNES):
                await conn.execute(fortune_table.delete())
                await conn.execute(
                    fortune_table.insert(),
                    [{"id": i, "message": m} for i, m in enumerate(FORTUNES, 1)],
                )
    finally:
        await engine.dispose()


def setup() -> None:
    asyncio.run(setup_database())


# ---------------------------------------------------------------------- raw Tornado

_engines: dict[Any, AsyncEngine] = {}
#: the driver of the raw handlers (``benchmarks.dbcompare`` sets it per process)
RAW_DRIVER = ["aiomysql"]


def raw_engine() -> AsyncEngine:
    """One engine per event loop, SQLAlchemy's default pool (what a hand-written app keeps)."""
    loop = asyncio.get_running_loop()
    engine = _engines.get(loop)
    if engine is None:
        engine = _engines[loop] = create_async_engine(db_url(RAW_DRIVER[0]))
    return engine


_WORLD_BY_ID = select(world_table.c.id, world_table.c.randomNumber).where(
    world_table.c.id == bindparam("wid")
)
_UPDATE_WORLD = (
    update(world_table)
    .where(world_table.c.id == bindparam("wid"))
    .values(randomNumber=bindparam("rn"))
)


class RawDb(tornado.web.RequestHandler):
    async def get(self) -> None:
        async with raw_engine().connect() as conn:
            row = (await conn.execute(_WORLD_BY_ID, {"wid": _random_id()})).one()
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps({"id": row.id, "randomNumber": row.randomNumber}))


class RawQueries(tornado.web.RequestHandler):
    async def get(self) -> None:
        n = queries_count(self)
        out = []
        async with raw_engine().connect() as conn:
            for _ in range(n):
                row = (await conn.execute(_WORLD_BY_ID, {"wid": _random_id()})).one()
                out.append({"id": row.id, "randomNumber": row.randomNumber})
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps(out))


class RawFortunes(tornado.web.RequestHandler):
    async def get(self) -> None:
        async with raw_engine().connect() as conn:
            rows = (await conn.execute(select(fortune_table.c.id, fortune_table.c.message))).all()
        fortunes = [(r.id, r.message) for r in rows]
        fortunes.append((0, EXTRA_FORTUNE))
        fortunes.sort(key=lambda f: f[1])
        self.render("fortunes.html", fortunes=fortunes)


class RawUpdates(tornado.web.RequestHandler):
    async def get(self) -> None:
        n = queries_count(self)
        out = []
        async with raw_engine().begin() as conn:
            for wid in _update_ids(n):
                row = (await conn.execute(_WORLD_BY_ID, {"wid": wid})).one()
                out.append({"id": row.id, "randomNumber": random.randint(1, 10000)})
            await conn.execute(
                _UPDATE_WORLD, [{"wid": w["id"], "rn": w["randomNumber"]} for w in out]
            )
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps(out))


RAW_HANDLERS: dict[str, type] = {
    "db": RawDb,
    "queries": RawQueries,
    "fortunes": RawFortunes,
    "updates": RawUpdates,
}

# ---------------------------------------------------------------------- raw Tornado, ORM


class RawBase(DeclarativeBase):
    pass


class RawWorld(RawBase):
    __tablename__ = "tpbench_world"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    randomNumber: Mapped[int] = mapped_column(Integer)


class RawFortune(RawBase):
    __tablename__ = "tpbench_fortune"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    message: Mapped[str] = mapped_column(String(2048))


_sessionmakers: dict[Any, async_sessionmaker[AsyncSession]] = {}


def raw_sessions() -> async_sessionmaker[AsyncSession]:
    """SQLAlchemy's ``async_sessionmaker`` on :func:`raw_engine` (one per event loop)."""
    loop = asyncio.get_running_loop()
    maker = _sessionmakers.get(loop)
    if maker is None:
        maker = _sessionmakers[loop] = async_sessionmaker(raw_engine(), expire_on_commit=False)
    return maker


class OrmDb(tornado.web.RequestHandler):
    async def get(self) -> None:
        async with raw_sessions()() as session:
            world = await session.get(RawWorld, _random_id())
        assert world is not None
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps({"id": world.id, "randomNumber": world.randomNumber}))


class OrmQueries(tornado.web.RequestHandler):
    async def get(self) -> None:
        out = []
        async with raw_sessions()() as session:
            for _ in range(queries_count(self)):
                world = await session.get(RawWorld, _random_id())
                assert world is not None
                out.append({"id": world.id, "randomNumber": world.randomNumber})
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps(out))


class OrmFortunes(tornado.web.RequestHandler):
    async def get(self) -> None:
        async with raw_sessions()() as session:
            rows = (await session.scalars(select(RawFortune))).all()
        fortunes = [(f.id, f.message) for f in rows]
        fortunes.append((0, EXTRA_FORTUNE))
        fortunes.sort(key=lambda f: f[1])
        self.render("fortunes.html", fortunes=fortunes)


class OrmUpdates(tornado.web.RequestHandler):
    async def get(self) -> None:
        out = []
        async with raw_sessions()() as session:
            with session.no_autoflush:  # one flush (executemany) at commit, not one per get
                for wid in _update_ids(queries_count(self)):
                    world = await session.get(RawWorld, wid)
                    assert world is not None
                    world.randomNumber = random.randint(1, 10000)
                    out.append({"id": world.id, "randomNumber": world.randomNumber})
            await session.commit()
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps(out))


RAW_ORM_HANDLERS: dict[str, type] = {
    "db": OrmDb,
    "queries": OrmQueries,
    "fortunes": OrmFortunes,
    "updates": OrmUpdates,
}

# ---------------------------------------------------------------------- basedb / the driver

_bdbs: dict[Any, Any] = {}


def bdb() -> Any:
    """One ``basedb`` handle per event loop on the benchmark database (tornadopy's defaults)."""
    from tornadopy.db import basedb

    loop = asyncio.get_running_loop()
    db = _bdbs.get(loop)
    if db is None:
        db = _bdbs[loop] = basedb.database(url=db_url(RAW_DRIVER[0]))
    return db


class _BasedbDb:
    async def get(self: Any) -> None:
        rows = await bdb().select("tpbench_world", what="id, randomNumber", where=_random_id())
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps({"id": rows[0].id, "randomNumber": rows[0].randomNumber}))


class _BasedbQueries:
    async def get(self: Any) -> None:
        db, out = bdb(), []
        for _ in range(queries_count(self)):
            rows = await db.select("tpbench_world", what="id, randomNumber", where=_random_id())
            out.append({"id": rows[0].id, "randomNumber": rows[0].randomNumber})
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps(out))


class _BasedbFortunes:
    async def get(self: Any) -> None:
        rows = await bdb().select("tpbench_fortune", what="id, message")
        fortunes = [(r.id, r.message) for r in rows]
        fortunes.append((0, EXTRA_FORTUNE))
        fortunes.sort(key=lambda f: f[1])
        self.render("fortunes.html", fortunes=fortunes)


class _BasedbUpdates:
    async def get(self: Any) -> None:
        db, out = bdb(), []
        async with db.transaction():
            for wid in _update_ids(queries_count(self)):
                rows = await db.select("tpbench_world", what="id, randomNumber", where=wid)
                out.append({"id": rows[0].id, "randomNumber": random.randint(1, 10000)})
            for w in out:
                await db.update("tpbench_world", where=w["id"], randomNumber=w["randomNumber"])
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps(out))


def basedb_handlers(base: type) -> dict[str, type]:
    """The basedb handlers on ``base`` (``RequestHandler`` here, ``WebHandler`` for tornadopy)."""
    return {
        test: type(f"{mixin.__name__[1:]}On{base.__name__}", (mixin, base), {})
        for test, mixin in (
            ("db", _BasedbDb),
            ("queries", _BasedbQueries),
            ("fortunes", _BasedbFortunes),
            ("updates", _BasedbUpdates),
        )
    }


#: basedb on raw Tornado handlers (only the database layer differs from DRIVER_HANDLERS)
BASEDB_HANDLERS: dict[str, type] = basedb_handlers(tornado.web.RequestHandler)
#: basedb in tornadopy handlers (the ``tornadopy-app-basedb`` row of ``benchmarks.run``)
TP_BASEDB_HANDLERS: dict[str, type] = basedb_handlers(WebHandler)

_pools: dict[Any, Any] = {}
_SELECT_WORLD = "SELECT id, randomNumber FROM tpbench_world WHERE id = %s"
_UPDATE_WORLD_SQL = "UPDATE tpbench_world SET randomNumber = %s WHERE id = %s"


async def driver_pool() -> Any:
    """The driver's own pool (aiomysql or asyncmy), autocommit on as hand-written code keeps it."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        module: Any = __import__(RAW_DRIVER[0])
        pool = _pools[loop] = await module.create_pool(
            host=DB_HOST, port=DB_PORT, user="root", db="test", charset="utf8mb4",
            autocommit=True, minsize=1, maxsize=10,
        )  # fmt: skip
    return pool


async def _driver_rows(sql: str, args: Any = None) -> Any:
    pool = await driver_pool()
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(sql, args)
        return await cur.fetchall()


class DriverDb(tornado.web.RequestHandler):
    async def get(self) -> None:
        (row,) = await _driver_rows(_SELECT_WORLD, (_random_id(),))
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps({"id": row[0], "randomNumber": row[1]}))


class DriverQueries(tornado.web.RequestHandler):
    async def get(self) -> None:
        out = []
        for _ in range(queries_count(self)):
            (row,) = await _driver_rows(_SELECT_WORLD, (_random_id(),))
            out.append({"id": row[0], "randomNumber": row[1]})
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps(out))


class DriverFortunes(tornado.web.RequestHandler):
    async def get(self) -> None:
        rows = await _driver_rows("SELECT id, message FROM tpbench_fortune")
        fortunes = [(r[0], r[1]) for r in rows]
        fortunes.append((0, EXTRA_FORTUNE))
        fortunes.sort(key=lambda f: f[1])
        self.render("fortunes.html", fortunes=fortunes)


class DriverUpdates(tornado.web.RequestHandler):
    async def get(self) -> None:
        out = []
        pool = await driver_pool()
        async with pool.acquire() as conn:
            await conn.begin()
            try:
                async with conn.cursor() as cur:
                    for wid in _update_ids(queries_count(self)):
                        await cur.execute(_SELECT_WORLD, (wid,))
                        (row,) = await cur.fetchall()
                        out.append({"id": row[0], "randomNumber": random.randint(1, 10000)})
                    for w in out:
                        await cur.execute(_UPDATE_WORLD_SQL, (w["randomNumber"], w["id"]))
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps(out))


DRIVER_HANDLERS: dict[str, type] = {
    "db": DriverDb,
    "queries": DriverQueries,
    "fortunes": DriverFortunes,
    "updates": DriverUpdates,
}

# ---------------------------------------------------------------------- tornadopy


class World(Model):
    __tablename__ = "tpbench_world"
    __connection_name__ = CONNECTION
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    randomNumber: Mapped[int] = mapped_column(Integer)  # TechEmpower's column name


class Fortune(Model):
    __tablename__ = "tpbench_fortune"
    __connection_name__ = CONNECTION
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    message: Mapped[str] = mapped_column(String(2048))


class TpDb(ApiHandler):
    async def get(self) -> None:
        world = await World.Q.get(_random_id())
        assert world is not None
        self.write_api({"id": world.id, "randomNumber": world.randomNumber})


class TpQueries(ApiHandler):
    async def get(self) -> None:
        out = []
        for _ in range(queries_count(self)):
            world = await World.Q.get(_random_id())
            assert world is not None
            out.append({"id": world.id, "randomNumber": world.randomNumber})
        self.write_api(out)


class TpFortunes(WebHandler):
    async def get(self) -> None:
        rows = await Fortune.Q.all()
        fortunes = [(f.id, f.message) for f in rows]
        fortunes.append((0, EXTRA_FORTUNE))
        fortunes.sort(key=lambda f: f[1])
        await self.render("fortunes.html", fortunes=fortunes)


class TpUpdates(ApiHandler):
    async def get(self) -> None:
        session = World.session.using_master()
        out = []
        with session.no_autoflush:  # one flush (executemany) at commit, not one per get
            for wid in _update_ids(queries_count(self)):
                world = await session.get(World, wid)
                assert world is not None
                world.randomNumber = random.randint(1, 10000)
                out.append({"id": world.id, "randomNumber": world.randomNumber})
        await session.commit()
        self.write_api(out)


TP_HANDLERS: dict[str, type] = {
    "db": TpDb,
    "queries": TpQueries,
    "fortunes": TpFortunes,
    "updates": TpUpdates,
}

#: settings tornadopy needs for these handlers
TP_SETTINGS: dict[str, Any] = {
    "DATABASE_CONNECTION": {CONNECTION: {"connections": [{"ROLE": "master", "URL": DB_URL}]}},
}


def tp_settings(driver: str = "aiomysql") -> dict[str, Any]:
    """:data:`TP_SETTINGS` on another MySQL driver."""
    return {
        "DATABASE_CONNECTION": {
            CONNECTION: {"connections": [{"ROLE": "master", "URL": db_url(driver)}]}
        },
    }


# ---------------------------------------------------------------------- checks


def check_world(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and set(data) == {"id", "randomNumber"}


def check_worlds(n: int) -> Any:
    def check(body: bytes) -> bool:
        try:
            data = json.loads(body)
        except ValueError:
            return False
        return (
            isinstance(data, list)
            and len(data) == n
            and all(isinstance(d, dict) and set(d) == {"id", "randomNumber"} for d in data)
        )

    return check


def check_fortunes(body: bytes) -> bool:
    text = body.decode("utf-8", "replace")
    return (
        f"<td>{EXTRA_FORTUNE}</td>" in text
        and "&lt;script&gt;" in text
        and "<script>" not in text
        and "フレームワークのベンチマーク" in text
        and text.count("<tr>") == len(FORTUNES) + 2  # header row + fortunes + the extra one
    )
