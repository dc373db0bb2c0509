"""Engines per process and event loop, made lazily, disposed by dispose_all (RELIABILITY.md D5)."""

import asyncio
import threading

from sqlalchemy import text

from tornadopy.conf import override_settings
from tornadopy.db.dbalchemy import dispose_all, get_engine, registry, session_scope
from tornadopy.db.dbalchemy import engines as engines_module


def sqlite_conf(path):
    return {"default": {"connections": [{"ROLE": "master", "URL": f"sqlite+aiosqlite:///{path}"}]}}


async def test_each_event_loop_has_its_own_engines(tmp_path):
    with override_settings(DATABASE_CONNECTION=sqlite_conf(tmp_path / "a.db")):
        mine = get_engine()
        async with session_scope() as s:
            assert (await s.execute(text("SELECT 1"))).scalar() == 1
        seen = {}

        async def other_loop():
            seen["engine"] = get_engine()
            async with session_scope() as s:
                seen["answer"] = (await s.execute(text("SELECT 2"))).scalar()
            await dispose_all()
            seen["left"] = asyncio.get_running_loop() in engines_module._registries

        thread = threading.Thread(target=lambda: asyncio.run(other_loop()))
        thread.start()
        thread.join(30)
        assert seen["answer"] == 2
        assert seen["engine"] is not mine
        assert seen["left"] is False
        assert get_engine() is mine  # this loop's engine is untouched


async def test_engines_are_made_on_first_use_and_rebuilt_after_dispose(tmp_path):
    with override_settings(DATABASE_CONNECTION=sqlite_conf(tmp_path / "a.db")):
        assert registry().groups == {}
        first = get_engine()
        assert get_engine() is first
        async with session_scope() as s:
            await s.execute(text("SELECT 1"))
        await dispose_all()
        assert first.pool.checkedin() == 0  # its connections were closed
        await dispose_all()  # idempotent
    with override_settings(DATABASE_CONNECTION=sqlite_conf(tmp_path / "b.db")):
        second = get_engine()  # built from the settings current now
        assert second is not first
        assert str(second.url).endswith("b.db")


async def test_a_forked_process_does_not_reuse_the_parents_engines(tmp_path, monkeypatch):
    with override_settings(DATABASE_CONNECTION=sqlite_conf(tmp_path / "a.db")):
        parent = get_engine()
        real_pid = engines_module.os.getpid()
        monkeypatch.setattr(engines_module.os, "getpid", lambda: real_pid + 1)  # "after fork()"
        child = get_engine()
        assert child is not parent
        async with session_scope() as s:
            assert (await s.execute(text("SELECT 3"))).scalar() == 3
        assert parent.pool.checkedin() == 0  # the child never touched the parent's pool
        await dispose_all()  # the "child's" engines, while this process still looks like it


async def test_ping_works_on_every_pool_kind(tmp_path, caplog):
    """PING_DB pings a StaticPool (in-memory SQLite) as well as a queue pool, without errors."""
    conf = {
        "default": {"connections": [{"ROLE": "master", "URL": "sqlite+aiosqlite://"}]},
        "file": {
            "connections": [{"ROLE": "master", "URL": f"sqlite+aiosqlite:///{tmp_path}/f.db"}]
        },
    }
    with override_settings(DATABASE_CONNECTION=conf):
        get_engine("default"), get_engine("file")
        await registry().ping_all(3)
        assert get_engine("file").pool.checkedin() == 1
    assert "failed a ping" not in caplog.text
