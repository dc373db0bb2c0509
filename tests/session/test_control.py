"""Session control over real HTTP: list and revoke every session of a user ("log out
everywhere"), on Redis (real server, DB 14, own key prefix) and local memory."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from session.control_app import (
    GATES,
    NAME,
    body,
    browser,
    control_settings,
    control_site,
    login,
    redis_index,
    whoami,
)
from session.helpers import new_prefix
from tornadopy.cache import close_all
from tornadopy.session import (
    UserSession,
    revoke_user_sessions,
    sessions_of,
)


@pytest.fixture(params=["redis", "locmem"])
def kind(request):
    """The backends that index sessions by user."""
    if request.param == "redis":
        request.getfixturevalue("redis_server")
    return request.param


def rand_of(cookie: str) -> str:
    return cookie.split(".")[1]


# ---------------------------------------------------------------- the main story


async def test_two_browsers_list_revoke_others_then_all(kind):
    async with control_site(kind) as ([a], _):
        b = browser(a)
        try:
            before = time.time()
            await login(a, "alice", agent="Browser-A")
            await login(b, "alice", agent="Browser-B")

            listed = body(await a.get("/c/list"))
            assert len(listed) == 2
            by_agent = {s["user_agent"]: s for s in listed}
            assert set(by_agent) == {"Browser-A", "Browser-B"}
            assert by_agent["Browser-A"]["current"] is True
            assert by_agent["Browser-B"]["current"] is False
            for s in listed:
                assert s["user_id"] == "alice"
                assert s["ip"] == "127.0.0.1"
                assert before - 1 <= s["created"] <= time.time()
                assert before - 1 <= s["last_seen"] <= time.time() + 1
                assert s["expires_at"] > time.time()
                assert NAME not in s and len(s["ref"]) == 24
            # the listing never shows anything usable as a cookie
            cookies = (a.cookies[NAME].value, b.cookies[NAME].value)
            text = (await a.get("/c/list")).body.decode()
            for cookie in cookies:
                for part in cookie.split("."):
                    if len(part) > 8:
                        assert part not in text
            assert by_agent["Browser-A"]["ref"] == (await whoami(a))["ref"]

            # "log out my other devices": b is anonymous on its very next request
            assert body(await a.post("/c/revoke_others")) == 1
            assert (await whoami(b))["user"] is None
            assert NAME not in b.cookies  # its stale cookie was cleared
            me = await whoami(a)
            assert me["user"] == "alice" and me["data"] == "alice"
            assert [s["user_agent"] for s in body(await a.get("/c/list"))] == ["Browser-A"]

            # log out everywhere: both anonymous
            await login(b, "alice", agent="Browser-B2")
            assert len(body(await a.get("/c/list"))) == 2
            resp = await a.post("/c/revoke_all")
            assert body(resp) == 2
            assert NAME not in a.cookies  # the revoking request's own cookie was cleared
            assert (await whoami(a))["user"] is None
            assert (await whoami(b))["user"] is None
            assert await sessions_of("alice") == []
        finally:
            b.close()


async def test_revoked_cookie_replayed_is_anonymous(kind):
    async with control_site(kind) as ([a], _):
        b = browser(a)
        try:
            await login(a, "alice")
            stolen = await login(b, "alice")
            await a.post("/c/revoke_others")
            resp = await a.get("/c/whoami", headers={"Cookie": f"{NAME}={stolen}"})
            assert body(resp)["user"] is None and body(resp)["data"] is None
        finally:
            b.close()


async def test_other_users_are_not_touched(kind):
    async with control_site(kind) as ([a], _):
        b = browser(a)
        try:
            await login(a, "alice")
            await login(b, "bob")
            assert body(await a.post("/c/revoke_all")) == 1
            assert (await whoami(b))["user"] == "bob"
            assert [s.user_id for s in await sessions_of("bob")] == ["bob"]
        finally:
            b.close()


async def test_revoke_one_session_by_ref(kind):
    async with control_site(kind) as ([a], _):
        b, c = browser(a), browser(a)
        try:
            await login(a, "alice", agent="A")
            await login(b, "alice", agent="B")
            await login(c, "alice", agent="C")
            listed = {s["user_agent"]: s["ref"] for s in body(await a.get("/c/list"))}
            assert body(await a.post(f"/c/revoke_one?ref={listed['B']}")) is True
            assert body(await a.post(f"/c/revoke_one?ref={listed['B']}")) is False
            assert (await whoami(b))["user"] is None
            assert (await whoami(c))["user"] == "alice"
            assert (await whoami(a))["user"] == "alice"
        finally:
            b.close()
            c.close()


async def test_user_ids_are_text_42_and_str_42_are_one_user(kind):
    async with control_site(kind) as ([a], _):
        await login(a, "42")
        assert [s.user_id for s in await sessions_of(42)] == ["42"]
        assert await revoke_user_sessions(42) == 1
        assert (await whoami(a))["user"] is None


async def test_bad_user_ids_are_refused(kind):
    with control_settings(kind, new_prefix()):
        with pytest.raises(TypeError):
            await sessions_of(None)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await sessions_of(True)
        with pytest.raises(ValueError):
            await sessions_of("")
        with pytest.raises(ValueError):
            await sessions_of("x" * 257)
        await close_all()


# ---------------------------------------------------------------- several applications


async def test_across_two_applications_sharing_redis(redis_server):
    async with control_site("redis", apps=2) as ([one, two], _):
        await login(one, "alice", agent="on-app-1")
        await login(two, "alice", agent="on-app-2")
        listed = body(await two.get("/c/list"))
        assert sorted(s["user_agent"] for s in listed) == ["on-app-1", "on-app-2"]
        assert body(await one.post("/c/revoke_others")) == 1
        assert (await whoami(two))["user"] is None  # app 2 refuses it at once
        assert (await whoami(one))["user"] == "alice"
        await login(two, "alice", agent="on-app-2-again")
        assert body(await two.post("/c/revoke_all")) == 2
        assert (await whoami(one))["user"] is None
        assert (await whoami(two))["user"] is None


async def test_admin_code_outside_requests_lists_and_revokes(kind):
    async with control_site(kind) as ([a], _):
        b = browser(a)
        try:
            await login(a, "alice", agent="A")
            await login(b, "alice", agent="B")
            listed = await sessions_of("alice")  # no request, no handler
            assert all(isinstance(s, UserSession) for s in listed)
            assert sorted(s.user_agent or "" for s in listed) == ["A", "B"]
            assert not any(s.current for s in listed)

            # an admin tool in its own thread and event loop (its own cache instances)
            result: dict[str, object] = {}

            async def admin() -> None:
                try:
                    result["listed"] = len(await sessions_of("alice"))
                    result["revoked"] = await revoke_user_sessions("alice")
                finally:
                    await close_all()

            thread = threading.Thread(target=lambda: asyncio.run(admin()))
            thread.start()
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 10)
            assert result == {"listed": 2, "revoked": 2}
            assert (await whoami(a))["user"] is None
            assert (await whoami(b))["user"] is None
        finally:
            b.close()


# ---------------------------------------------------------------- lifecycle and the index


async def test_logout_removes_the_session_from_the_index(kind):
    async with control_site(kind) as ([a], prefix):
        b = browser(a)
        try:
            await login(a, "alice")
            cookie_b = await login(b, "alice")
            await b.get("/c/logout")
            assert [s.current for s in await sessions_of("alice")] == [False]
            if kind == "redis":
                members, _ = await redis_index(prefix, "alice")
                assert rand_of(cookie_b).encode() not in members and len(members) == 1
            await a.get("/c/logout")
            assert await sessions_of("alice") == []
            if kind == "redis":
                assert await redis_index(prefix, "alice") == (set(), -2)  # key gone
        finally:
            b.close()


async def test_seed_style_logout_emptying_the_data_unlists_the_session(kind):
    async with control_site(kind) as ([a], prefix):
        await login(a, "alice")
        await a.get("/c/seed_logout")  # del self.session['user']: the only key
        assert (await whoami(a))["user"] is None
        assert await sessions_of("alice") == []
        if kind == "redis":
            assert (await redis_index(prefix, "alice"))[1] == -2


async def test_cycle_key_keeps_the_binding_and_reindexes(kind):
    async with control_site(kind) as ([a], prefix):
        first = await login(a, "alice")
        second = await login(a, "alice")  # log-in again: cycle_key() then set_user()
        assert rand_of(first) != rand_of(second)
        listed = await sessions_of("alice")
        assert len(listed) == 1
        assert (await whoami(a))["ref"] == listed[0].ref
        if kind == "redis":
            members, _ = await redis_index(prefix, "alice")
            assert members == {rand_of(second).encode()}


async def test_bind_again_to_another_user_moves_the_session(kind):
    async with control_site(kind) as ([a], _):
        await login(a, "alice")
        resp = await a.get("/c/bind?user=bob")
        assert resp.code == 200
        assert await sessions_of("alice") == []
        assert len(await sessions_of("bob")) == 1
        assert (await whoami(a))["user"] == "bob"


async def test_binding_an_anonymous_session_keeps_its_data_and_sets_the_cookie(kind):
    async with control_site(kind) as ([a], _):
        resp = await a.get("/c/bind?user=carol")  # no session yet
        assert resp.code == 200 and NAME in a.cookies
        assert (await whoami(a))["user"] == "carol"
        await a.get("/c/anon")
        await a.get("/c/write?n=3")
        assert len(await sessions_of("carol")) == 1


async def test_unbound_sessions_are_never_listed(kind):
    async with control_site(kind) as ([a], _):
        await a.get("/c/anon")
        assert NAME in a.cookies
        assert (await whoami(a))["user"] is None
        assert body(await a.get("/c/list")) == "not logged in"


async def test_a_save_in_flight_cannot_resurrect_a_revoked_session(kind):
    """S4 for "log out everywhere": b's request loaded the session before the revocation and
    writes it after; the write is dropped and b stays logged out."""
    GATES.clear()
    GATES["loaded"], GATES["go"] = asyncio.Event(), asyncio.Event()
    async with control_site(kind) as ([a], _):
        b = browser(a)
        try:
            await login(a, "alice")
            await login(b, "alice")
            slow = asyncio.ensure_future(b.get("/c/slow"))
            await asyncio.wait_for(GATES["loaded"].wait(), 10)
            assert body(await a.post("/c/revoke_others")) == 1
            GATES["go"].set()
            resp = await slow
            assert resp.code == 200
            assert (await whoami(b))["user"] is None
            assert [s.current for s in await sessions_of("alice")] == [False]
            assert len(await sessions_of("alice")) == 1
        finally:
            b.close()
            GATES.clear()


async def test_sliding_expiry_keeps_a_used_session_listed(kind):
    async with control_site(kind, expires=2) as ([a], prefix):
        await login(a, "alice")
        for _ in range(5):  # 3 s of use of a 2 s session
            await asyncio.sleep(0.6)
            assert (await whoami(a))["user"] == "alice"
        assert len(await sessions_of("alice")) == 1
        if kind == "redis":
            members, pttl = await redis_index(prefix, "alice")
            assert len(members) == 1 and 1000 < pttl <= 2000
        await asyncio.sleep(2.2)  # unused: gone, and so is the index
        assert (await whoami(a))["user"] is None
        assert await sessions_of("alice") == []
        if kind == "redis":
            assert (await redis_index(prefix, "alice"))[1] == -2
