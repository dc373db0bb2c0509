"""DBAlchemyMiddleware end to end, over real HTTP (SPEC §10; RELIABILITY.md D3, D4)."""

import asyncio
import json

import pytest
from sqlalchemy import text
from tornado.simple_httpclient import HTTPTimeoutError

from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.db.dbalchemy import create_all, dispose_all, drop_all, get_engine, registry
from tornadopy.db.dbalchemy.engines import _registries
from tornadopy.handler import WebHandler
from tornadopy.testing import require_service, serve

from .conftest import MYSQL_PORT, mysql_entry, run_sql
from .models import Item

MIDDLEWARE = "tornadopy.middleware.dbalchemy.DBAlchemyMiddleware"
SLEEP_TAG = "tpdb_mw_sleep"


class Items(WebHandler):
    async def get(self):
        first = Item.session
        names = [i.name for i in await Item.Q.order_by(Item.id).all()]
        same = first is Item.session and first is self._dbalchemy_scope.session("default")
        self.write({"names": names, "same_session": same})


class Add(WebHandler):
    async def post(self):
        Item.session.add(Item(name=self.get_argument("name"), qty=1))
        await Item.session.commit()
        server = None
        if Item.session.bind.dialect.name == "mysql":
            server = (await Item.session.execute(text("SELECT @@server_id"))).scalar()
        self.write({"server_id_after_write": server})


class WriteThenRaise(WebHandler):
    async def post(self):
        master = Item.session.using_master()
        master.add(Item(name="doomed", qty=1))
        await master.flush()
        raise RuntimeError("handler failed after writing")


class ServerId(WebHandler):
    async def get(self):
        row = (await Item.session.execute(text("SELECT @@server_id, CONNECTION_ID()"))).one()
        self.write({"server_id": row[0], "connection_id": row[1]})


class Sleepy(WebHandler):
    async def get(self):
        await Item.session.execute(text(f"SELECT SLEEP(0.5) AS {SLEEP_TAG}"))
        self.write("late")


class NoDatabase(WebHandler):
    def get(self):
        self.write("no db")


URLS = [
    (r"/items", Items),
    (r"/add", Add),
    (r"/boom", WriteThenRaise),
    (r"/server-id", ServerId),
    (r"/sleepy", Sleepy),
    (r"/nodb", NoDatabase),
]


def make_app():
    return Application(urls=URLS)


async def settled(app, timeout=3.0):
    """Wait until every request's end hooks ran (they run after the response was sent)."""
    for _ in range(int(timeout / 0.02)):
        if app.inflight == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{app.inflight} requests still in flight")


@pytest.fixture(params=["sqlite", "mysql"])
async def app_db(request, tmp_path):
    if request.param == "mysql":
        require_service("MariaDB", "127.0.0.1", MYSQL_PORT)
        conns = [mysql_entry(MYSQL_PORT)]
    else:
        conns = [{"ROLE": "master", "URL": f"sqlite+aiosqlite:///{tmp_path}/m.db"}]
    with override_settings(
        MIDDLEWARE_CLASSES=[MIDDLEWARE],
        DATABASE_CONNECTION={"default": {"connections": conns}},
        SQLALCHEMY_CONFIGURATION={"sqlalchemy.pool_size": 1, "sqlalchemy.max_overflow": 0},
        PING_DB=0,
    ):
        await drop_all()
        await create_all()
        yield request.param
        await drop_all()


async def test_request_session_commit_and_read(app_db):
    app = make_app()
    async with serve(app) as client:
        resp = await client.post("/add", data={"name": "first"})
        assert resp.code == 200, resp.body
        resp = await client.get("/items")
        assert resp.code == 200
        assert json.loads(resp.body) == {"names": ["first"], "same_session": True}
        await settled(app)
        assert get_engine().pool.checkedout() == 0


async def test_handler_that_writes_then_raises_leaves_nothing(app_db):
    app = make_app()
    async with serve(app) as client:
        resp = await client.post("/boom")
        assert resp.code == 500
        await settled(app)
        assert get_engine().pool.checkedout() == 0
        resp = await client.get("/items")
        assert json.loads(resp.body)["names"] == []  # rolled back
        if app_db == "mysql":
            # pool_size 1: the connection that wrote is the one the next request gets
            cid = json.loads((await client.get("/server-id")).body)["connection_id"]
            open_trx = run_sql(
                MYSQL_PORT,
                "SELECT count(*) FROM information_schema.innodb_trx "
                "WHERE trx_mysql_thread_id = %s AND trx_rows_modified > 0",
                (cid,),
            )
            assert open_trx == ((0,),)
            assert run_sql(MYSQL_PORT, "SELECT count(*) FROM tpdb_items WHERE name = 'doomed'") == (
                (0,),
            )
        await settled(app)
        assert get_engine().pool.checkedout() == 0


async def test_requests_that_do_not_use_the_database_do_not_connect(app_db):
    await dispose_all()  # forget the engines the fixture used for set-up
    async with serve(make_app()) as client:
        for _ in range(3):
            assert (await client.get("/nodb")).body == b"no db"
        assert registry().groups == {}  # not even an engine was made


async def test_clients_that_disconnect_leave_no_checked_out_connection(mysql_server):
    with override_settings(
        MIDDLEWARE_CLASSES=[MIDDLEWARE],
        DATABASE_CONNECTION={"default": {"connections": [mysql_entry(MYSQL_PORT)]}},
        SQLALCHEMY_CONFIGURATION={"sqlalchemy.pool_size": 5, "sqlalchemy.max_overflow": 20},
    ):
        app = make_app()
        async with serve(app) as client:
            results = await asyncio.gather(
                *(client.get("/sleepy", request_timeout=0.1) for _ in range(20)),
                return_exceptions=True,
            )
            # the clients gave up and disconnected while the query ran
            assert all(isinstance(r, HTTPTimeoutError) for r in results), results
            await settled(app)  # the handlers finish their query, then their end hooks run
            assert get_engine().pool.checkedout() == 0
            leftovers = run_sql(
                MYSQL_PORT,
                "SELECT count(*) FROM information_schema.processlist "
                "WHERE info LIKE %s AND id <> CONNECTION_ID()",
                (f"%{SLEEP_TAG}%",),
            )
            assert leftovers == ((0,),)
            resp = await client.get("/server-id")
            assert resp.code == 200


async def test_reads_on_replica_and_read_your_writes_over_http(replica_servers):
    with override_settings(
        MIDDLEWARE_CLASSES=[MIDDLEWARE],
        DATABASE_CONNECTION={"default": {"connections": replica_servers.connections()}},
    ):
        await drop_all()
        await create_all()
        replica_servers.wait_replicated()
        try:
            async with serve(make_app()) as client:
                assert json.loads((await client.get("/server-id")).body)["server_id"] == 2
                resp = await client.post("/add", data={"name": "ryw"})
                assert json.loads(resp.body) == {"server_id_after_write": 1}
                assert json.loads((await client.get("/server-id")).body)["server_id"] == 2
                replica_servers.wait_replicated()
                assert json.loads((await client.get("/items")).body)["names"] == ["ryw"]
        finally:
            await drop_all()


async def test_startup_pings_and_shutdown_disposes(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/p.db"
    with override_settings(
        MIDDLEWARE_CLASSES=[MIDDLEWARE],
        DATABASE_CONNECTION={"default": {"connections": [{"ROLE": "master", "URL": url}]}},
        PING_DB=0.05,
        PING_CONN_COUNT=2,
    ):
        app = make_app()
        await app.startup()
        reg = registry()
        pinger = reg._pinger
        assert pinger is not None and not pinger.done()
        get_engine()  # the group exists: the pinger pings it
        for _ in range(100):  # pings every 0.05 s; a loaded machine may delay the first
            await asyncio.sleep(0.05)
            if get_engine().pool.checkedin() >= 1:
                break
        assert get_engine().pool.checkedin() >= 1  # a ping opened a connection
        await app.shutdown()
        assert pinger.done()
        assert asyncio.get_running_loop() not in _registries  # engines disposed
