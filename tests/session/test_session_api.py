"""SPEC §12 over real HTTP, on local memory, Redis and memcached: the awaited session API."""

import asyncio
import json
from urllib.parse import quote

import pytest

from session.helpers import CALLS, body, set_cookies, site
from tornadopy.cache import caches

NAME = "__TORNADOSSID"


def q(value):
    return quote(json.dumps(value))


async def test_set_then_get_in_the_next_request(backend):
    async with site(backend) as (client, _):
        resp = await client.get("/s/set?k=user&v=" + q("alice"))
        assert resp.code == 200
        assert NAME in set_cookies(resp)
        assert body(await client.get("/s/get?k=user")) == "alice"


async def test_every_accessor(backend):
    value = {"n": 1, "list": [1, "two", None], "uni": "日本語", "f": 1.5, "t": True}
    async with site(backend) as (client, _):
        await client.get("/s/set?k=a&v=" + q(value))
        await client.get("/s/set?k=b&v=" + q(2))
        assert body(await client.get("/s/get?k=a")) == value
        assert body(await client.get("/s/get?k=nope")) == "<missing>"
        assert body(await client.get("/s/has?k=a")) is True
        assert body(await client.get("/s/has?k=nope")) is False
        assert body(await client.get("/s/keys")) == ["a", "b"]
        assert body(await client.get("/s/items")) == [["a", value], ["b", 2]]
        assert body(await client.get("/s/delete?k=a")) is True
        assert body(await client.get("/s/delete?k=a")) is False
        assert body(await client.get("/s/keys")) == ["b"]
        await client.get("/s/clear")
        assert body(await client.get("/s/keys")) == []


async def test_sessions_of_two_clients_are_separate(backend):
    async with site(backend) as (client, _):
        await client.get("/s/set?k=user&v=" + q("alice"))
        other = type(client)(client.base_url)
        try:
            assert body(await other.get("/s/get?k=user")) == "<missing>"
            await other.get("/s/set?k=user&v=" + q("bob"))
            assert body(await other.get("/s/get?k=user")) == "bob"
        finally:
            other.close()
        assert body(await client.get("/s/get?k=user")) == "alice"


async def test_flush_logs_out_data_store_entry_and_cookie(backend):
    async with site(backend) as (client, _):
        await client.get("/s/set?k=user&v=" + q("alice"))
        old = client.cookies[NAME].value
        resp = await client.get("/s/flush")
        cookie = set_cookies(resp)[NAME]
        assert cookie.value == "" and cookie["expires"]  # cleared
        assert NAME not in client.cookies
        # the old id loads nothing any more (replayed by hand)
        resp = await client.get("/s/get?k=user", headers={"Cookie": f"{NAME}={old}"})
        assert body(resp) == "<missing>"


async def test_cycle_key_gives_a_new_id_with_the_same_data(backend):
    async with site(backend) as (client, _):
        await client.get("/s/set?k=cart&v=" + q([1, 2]))
        old = client.cookies[NAME].value
        resp = await client.get("/s/cycle")
        new = set_cookies(resp)[NAME].value
        assert new and new != old
        assert body(await client.get("/s/get?k=cart")) == [1, 2]
        replay = await client.get("/s/get?k=cart", headers={"Cookie": f"{NAME}={old}"})
        assert body(replay) == "<missing>"


async def test_set_expire_sets_a_persistent_cookie_and_the_store_lifetime(backend):
    async with site(backend) as (client, _):
        resp = await client.get("/s/expire?s=1&k=user&v=alice")
        cookie = set_cookies(resp)[NAME]
        assert cookie["max-age"] == "1" and cookie["expires"]
        assert body(await client.get("/s/get?k=user")) == "alice"
        await asyncio.sleep(2.2)
        assert body(await client.get("/s/get?k=user")) == "<missing>"


async def test_expires_setting_makes_cookies_persistent_and_read_requests_slide_it(backend):
    async with site(backend, session={"expires": 3600}) as (client, _):
        resp = await client.get("/s/set?k=user&v=" + q("alice"))
        assert set_cookies(resp)[NAME]["max-age"] == "3600"
        resp = await client.get("/s/get?k=user")  # read only: touched, cookie re-sent
        assert set_cookies(resp)[NAME]["max-age"] == "3600"
        assert body(resp) == "alice"


async def test_browser_session_cookie_has_no_expiry(backend):
    async with site(backend) as (client, _):
        resp = await client.get("/s/set?k=user&v=" + q("alice"))
        cookie = set_cookies(resp)[NAME]
        assert not cookie["expires"] and not cookie["max-age"]
        resp = await client.get("/s/get?k=user")  # read only: no new cookie needed
        assert NAME not in set_cookies(resp)


async def test_non_json_value_is_refused_at_set(backend):
    async with site(backend) as (client, _):
        resp = await client.get("/s/badvalue")
        assert resp.code == 500
        assert NAME not in set_cookies(resp)


async def test_records_are_json_text_in_the_store(backend):
    async with site(backend) as (client, _):
        await client.get("/s/set?k=user&v=" + q({"name": "alice", "ids": [1, 2]}))
        rand = client.cookies[NAME].value.split(".")[1]
        raw = await caches["sessions"].get(f"tornadopy.session:{rand}")
        assert isinstance(raw, str)
        assert json.loads(raw)["d"] == {"user": {"name": "alice", "ids": [1, 2]}}


async def test_streaming_handler_existing_session_is_still_saved(backend):
    async with site(backend) as (client, _):
        await client.get("/s/set?k=a&v=1")
        resp = await client.get("/s/stream?k=a&v=streamed")
        assert resp.code == 200 and resp.body == b'["]"'
        assert body(await client.get("/s/get?k=a")) == "streamed"


async def test_streaming_handler_new_session_needs_an_explicit_save(backend, caplog):
    async with site(backend) as (client, _):
        resp = await client.get("/s/stream?k=a&v=1")
        assert NAME not in set_cookies(resp)  # headers were gone before the response hook
        assert any("headers were already sent" in r.getMessage() for r in caplog.records)
        resp = await client.get("/s/stream_saved?k=a&v=1")
        assert NAME in set_cookies(resp)
        assert body(await client.get("/s/get?k=a")) == "1"


async def test_dict_style_access_explains_how_to_port():
    async with site() as (client, _):
        text = body(await client.get("/s/dict"))
        assert "await self.session.set(key, value)" in text


async def test_a_4xx_response_still_saves(backend):
    async with site(backend) as (client, _):
        resp = await client.get("/s/status?code=404")
        assert resp.code == 404
        assert NAME in set_cookies(resp)
        assert body(await client.get("/s/get?k=k")) == "v"


async def test_session_not_saved_on_a_500_from_a_handler_error(backend):
    """Django's test_session_save_on_500: a failing request must not persist its changes."""
    async with site(backend) as (client, _):
        resp = await client.get("/s/boom")
        assert resp.code == 500
        assert NAME not in set_cookies(resp)  # new session: nothing stored, no cookie
        await client.get("/s/set?k=user&v=" + q("alice"))
        resp = await client.get("/s/boom?k=user")  # existing session changed, then 500
        assert resp.code == 500
        assert body(await client.get("/s/get?k=user")) == "alice"


async def test_emptied_session_is_removed():
    async with site() as (client, _):
        await client.get("/s/set?k=a&v=1")
        resp = await client.get("/s/delete?k=a")
        assert set_cookies(resp)[NAME].value == ""
        assert NAME not in client.cookies
        CALLS.clear()
        await client.get("/s/keys")
        assert CALLS == []  # no cookie any more: nothing to look up


@pytest.mark.parametrize("shared", ["redis", "memcached"])
async def test_a_session_made_on_one_app_is_seen_by_another_sharing_the_store(shared, request):
    """Scale-out (§15): two Application instances (processes) share Redis/memcached."""
    request.getfixturevalue(f"{shared}_server")
    backend = shared
    async with site(backend) as (client_a, prefix):
        async with site(backend, prefix=prefix) as (client_b, _):
            await client_a.get("/s/set?k=user&v=" + q("alice"))
            cookie = client_a.cookies[NAME].value
            resp = await client_b.get("/s/get?k=user", headers={"Cookie": f"{NAME}={cookie}"})
            assert body(resp) == "alice"
