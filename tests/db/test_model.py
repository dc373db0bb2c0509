"""Model, create_all, Model.Q, paginate, Model.session and session_scope (SQLite and MariaDB)."""

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import MultipleResultsFound, NoResultFound

from tornadopy.conf import override_settings
from tornadopy.db.dbalchemy import (
    DBSession,
    NoSessionScope,
    Pagination,
    create_all,
    drop_all,
    get_engine,
    session_scope,
    tables_of,
)
from tornadopy.testing import require_service

from .conftest import MYSQL_PORT, mysql_entry
from .models import Item, Note

NAMES = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu"]


@pytest.fixture(params=["sqlite", "mysql"])
async def orm_db(request, tmp_path):
    """'default' on SQLite or MariaDB, 'other' on SQLite; tpdb_items holds NAMES (qty = index)."""
    if request.param == "mysql":
        require_service("MariaDB", "127.0.0.1", MYSQL_PORT)
        default = {"connections": [mysql_entry(MYSQL_PORT)]}
    else:
        default = {
            "connections": [{"ROLE": "master", "URL": f"sqlite+aiosqlite:///{tmp_path}/d.db"}]
        }
    other = {"connections": [{"ROLE": "master", "URL": f"sqlite+aiosqlite:///{tmp_path}/o.db"}]}
    with override_settings(DATABASE_CONNECTION={"default": default, "other": other}):
        await drop_all("default")
        await create_all("default")
        await create_all("other")
        async with session_scope(commit=True) as s:
            s.add_all([Item(name=n, qty=i) for i, n in enumerate(NAMES)])
        yield request.param
        await drop_all("default")


def test_tables_belong_to_their_connection():
    assert Item.__table__ in tables_of("default")
    assert Note.__table__ not in tables_of("default")
    assert tables_of("other") == [Note.__table__]


async def test_create_all_creates_only_the_connections_tables(orm_db):
    async with get_engine("default").connect() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert "tpdb_items" in names and "tpdb_notes" not in names
    async with get_engine("other").connect() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert names == ["tpdb_notes"]


async def test_query_builder(orm_db):
    assert [i.name for i in await Item.Q.order_by(Item.id).all()] == NAMES
    assert [i.name for i in await Item.Q.filter(Item.qty >= 5).order_by(Item.qty).all()] == [
        "fox",
        "gnu",
    ]
    assert (await Item.Q.filter_by(name="cat").one()).qty == 2
    assert (await Item.Q.order_by(Item.qty.desc()).first()).name == "gnu"
    assert await Item.Q.filter_by(name="zzz").first() is None
    assert await Item.Q.filter_by(name="zzz").one_or_none() is None
    page = await Item.Q.order_by(Item.qty).offset(2).limit(3).all()
    assert [i.name for i in page] == ["cat", "dog", "eel"]
    assert await Item.Q.count() == 7
    assert await Item.Q.filter(Item.qty < 3).count() == 3
    cat = await Item.Q.filter_by(name="cat").one()
    assert (await Item.Q.get(cat.id)).name == "cat"
    assert await Item.Q.get(10_000) is None
    with pytest.raises(NoResultFound):
        await Item.Q.filter_by(name="zzz").one()
    with pytest.raises(MultipleResultsFound):
        await Item.Q.one()


async def test_builders_do_not_change_the_original(orm_db):
    base = Item.Q.filter(Item.qty > 1)
    assert await base.limit(1).count() == 1
    assert await base.count() == 5


async def test_paginate_fields(orm_db):
    q = Item.Q.order_by(Item.qty)
    p = await q.paginate(page=2, per_page=3)
    assert isinstance(p, Pagination)
    assert [i.name for i in p.items] == ["dog", "eel", "fox"]
    assert (p.total, p.page, p.per_page, p.pages) == (7, 2, 3, 3)
    assert p.has_prev and p.has_next and (p.prev_num, p.next_num) == (1, 3)
    last = await q.paginate(page=3, per_page=3)
    assert [i.name for i in last.items] == ["gnu"] and not last.has_next and last.has_prev
    first = await q.paginate()  # page=1, per_page=10
    assert (first.total, first.pages, len(first.items)) == (7, 1, 7)
    assert not first.has_prev and not first.has_next


async def test_paginate_empty_pages_return_default(orm_db):
    q = Item.Q.order_by(Item.qty)
    marker = object()
    assert await q.paginate(page=4, per_page=3, default=marker) is marker
    assert await q.paginate(page=4, per_page=3) is None
    assert await q.paginate(page=0, per_page=3, default=marker) is marker
    empty = await Item.Q.filter_by(name="zzz").paginate(page=1, per_page=3, default=marker)
    assert isinstance(empty, Pagination)  # the first page always exists
    assert (empty.total, empty.pages, empty.items, empty.has_next) == (0, 0, [], False)


async def test_session_is_one_object_per_scope(orm_db):
    async with session_scope() as s:
        assert isinstance(s, DBSession)
        assert Item.session is s and Item.session is Item.session
        assert Item.session.using_master() is Item.session.using_master()
        assert Item.session.using_master() is not s
        assert Note.session is not s  # another connection, another session
        assert Note.session.group.name == "other"
    async with session_scope() as s2:
        assert Item.session is s2 and s2 is not s


async def test_session_outside_a_scope_is_a_clear_error(orm_db):
    with pytest.raises(NoSessionScope, match="DBAlchemyMiddleware"):
        Item.session


async def test_q_outside_a_scope_uses_a_session_of_its_own(orm_db):
    item = await Item.Q.filter_by(name="bee").one()
    assert item.name == "bee" and item.qty == 1  # loaded attributes stay readable


async def test_uncommitted_work_is_rolled_back_at_scope_end(orm_db):
    async with session_scope() as s:
        s.add(Item(name="temp", qty=99))
        await s.flush()
        assert await Item.Q.filter_by(name="temp").count() == 1  # visible inside
    assert await Item.Q.filter_by(name="temp").count() == 0
    async with session_scope(commit=True) as s:
        s.add(Item(name="kept", qty=98))
    assert await Item.Q.filter_by(name="kept").count() == 1


async def test_commit_through_model_session_and_objects_stay_usable(orm_db):
    async with session_scope():
        item = await Item.Q.filter_by(name="ant").one()
        item.qty = 100
        Item.session.add(Note(text="hello"))  # a model of connection 'other'
        await Item.session.commit()
        assert item.qty == 100  # not expired by the commit
    async with session_scope():
        assert (await Item.Q.filter_by(name="ant").one()).qty == 100
        # routed by the model's __connection_name__, whichever session it was added to
        assert [n.text for n in await Note.Q.all()] == ["hello"]
        async with get_engine("other").connect() as conn:
            assert (await conn.execute(text("SELECT text FROM tpdb_notes"))).scalar() == "hello"


async def test_seed_style_session_query(orm_db):
    async with session_scope():
        rows = await Item.session.query(Item).filter(Item.qty.in_([1, 2])).order_by(Item.qty).all()
        assert [r.name for r in rows] == ["bee", "cat"]


async def test_master_session_writes(orm_db):
    async with session_scope():
        master = Item.session.using_master()
        master.add(Item(name="mst", qty=7))
        await master.commit()
        n = (
            await master.execute(text("SELECT count(*) FROM tpdb_items WHERE name = 'mst'"))
        ).scalar()
        assert n == 1
    assert await Item.Q.filter_by(name="mst").count() == 1
