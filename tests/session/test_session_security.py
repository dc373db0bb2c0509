"""RELIABILITY S1-S5 and the lazy-load contract of SPEC §12, over real HTTP."""

import asyncio
import contextlib
import logging
import random
import string

import pytest

from session import helpers
from session.helpers import (
    CALLS,
    SECRET,
    body,
    locmem_entries,
    raw_get_many,
    raw_set_cookie,
    set_cookies,
    site,
)
from tornadopy.session.ids import SignedIds

NAME = "__TORNADOSSID"
VERSION = "EtdHjDO1"  # the default session_version


def cookie(value):
    return {"Cookie": f"{NAME}={value}"}


async def login(client, user="alice"):
    resp = await client.get(f"/s/login?user={user}")
    assert resp.code == 200
    return client.cookies[NAME].value


# ---------------------------------------------------------------- lazy loading


async def test_untouched_request_makes_no_store_call_and_sets_nothing():
    async with site() as (client, _):
        sid = await login(client)
        CALLS.clear()
        resp = await client.get("/s/none", headers=cookie(sid))
        assert resp.code == 200
        assert CALLS == []
        assert "Set-Cookie" not in resp.headers
        assert "Vary" not in resp.headers


async def test_new_session_that_is_only_read_stores_nothing_and_sets_no_cookie():
    async with site() as (client, prefix):
        resp = await client.get("/s/get?k=user")
        assert body(resp) == "<missing>"
        assert CALLS == []
        assert "Set-Cookie" not in resp.headers
        assert locmem_entries(prefix) == 0


async def test_store_calls_per_kind_of_request():
    async with site() as (client, _):
        await client.get("/s/set?k=a&v=1")
        assert CALLS == ["add"]  # a new session: one add, never over an existing record
        CALLS.clear()
        await client.get("/s/get?k=a")
        assert CALLS == ["get", "touch"]  # read only: the record is not rewritten
        CALLS.clear()
        await client.get("/s/set?k=a&v=2")
        assert CALLS == ["get", "set", "has_key"]  # save + revocation check (S4)


async def test_untouched_request_sends_no_command_to_redis():
    from support.servers import RedisProcess

    with RedisProcess() as redis_proc:
        async with site("redis", location=redis_proc.location) as (client, _):
            sid = await login(client)
            before = await _commandstats(redis_proc.port)
            resp = await client.get("/s/none", headers=cookie(sid))
            assert resp.code == 200
            after = await _commandstats(redis_proc.port)
            assert after == before
            await client.get("/s/get?k=user", headers=cookie(sid))
            touched = await _commandstats(redis_proc.port)
            assert touched["get"] == before.get("get", 0) + 1


async def _commandstats(port):
    import redis.asyncio as aioredis

    client = aioredis.Redis(port=port)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return {
        k.removeprefix("cmdstat_"): v["calls"]
        for k, v in stats.items()
        if k not in ("cmdstat_info", "cmdstat_client|setinfo", "cmdstat_hello")
    }


# ---------------------------------------------------------------- S1 fixation


async def test_s1_planted_cookie_is_replaced_at_login(backend):
    async with site(backend) as (attacker, _):
        await attacker.get("/s/set?k=cart&v=%5B1%5D")  # the attacker's own live session
        planted = attacker.cookies[NAME].value
        victim = type(attacker)(attacker.base_url)
        try:
            victim.cookies.load(f"{NAME}={planted}")
            resp = await victim.get("/s/login?user=victim")
            new = set_cookies(resp)[NAME].value
            assert new and new != planted
            info = body(await victim.get("/s/info"))
            assert info["user"] == "victim" and info["id"] == new
        finally:
            victim.close()
        # the planted id now loads nothing: the attacker does not share the victim's session
        info = body(await attacker.get("/s/info", headers=cookie(planted)))
        assert info["user"] is None and info["new"] is True


async def test_s1_an_id_the_store_does_not_know_is_never_adopted(backend):
    forged, _ = SignedIds("session", SECRET, VERSION).new()  # valid signature, never stored
    async with site(backend) as (client, _):
        resp = await client.get("/s/set?k=a&v=1", headers=cookie(forged))
        issued = set_cookies(resp)[NAME].value
        assert issued != forged


# ---------------------------------------------------------------- S2 random and garbage ids


def _random_id():
    alphabet = string.ascii_letters + string.digits + "-_"
    tag = SignedIds("session", SECRET, VERSION).new()[0].split(".")[0]
    rand = "".join(random.choices(alphabet, k=32))
    sig = "".join(random.choices(alphabet, k=43))
    return f"{tag}.{rand}.{sig}"


GARBAGE = [
    "",
    "7chars!",
    "a" * 5000,
    "a/b",
    "a\\b",
    "\t",
    "..",
    "a.b.c",
    "é",
    '"quoted"',
    "%00%0d%0a",
    # control characters: a quoted cookie value with octal escapes reaches the app decoded
    '"x\\001y\\177z\\012"',
]
#: raw control characters in the header: Tornado's HTTP parser answers 400 before any app code
RAW_CONTROL = ["x\x01y\x7fz", "a\x00b"]


@pytest.mark.slow
async def test_s2_ten_thousand_random_ids_and_garbage(backend):
    with _private_memcached(backend) as location:
        await _s2(backend, location)


async def _s2(backend, location):
    async with site(backend, location=location) as (client, prefix):
        await login(client, "keeper")  # one real session in the store
        before = await _store_size(backend, prefix, location)
        CALLS.clear()
        ids = [_random_id() for _ in range(10_000)] + GARBAGE
        answers = await raw_get_many(client.port, "/s/get?k=user", [cookie(v) for v in ids])
        assert {code for code, _ in answers} == {200}
        assert {text for _, text in answers} == {b'"<missing>"'}
        for value in RAW_CONTROL:
            resp = await client.get("/s/get?k=user", headers=cookie(value), cookies=False)
            assert resp.code == 400
        assert CALLS == []  # a bad signature is refused before any store lookup
        assert await _store_size(backend, prefix, location) == before


async def test_s2_unknown_but_signed_ids_create_no_record(backend):
    signer = SignedIds("session", SECRET, VERSION)
    with _private_memcached(backend) as location:
        async with site(backend, location=location) as (client, prefix):
            before = await _store_size(backend, prefix, location)
            for _ in range(200):
                resp = await client.get(
                    "/s/get?k=user", headers=cookie(signer.new()[0]), cookies=False
                )
                assert resp.code == 200 and body(resp) == "<missing>"
            assert await _store_size(backend, prefix, location) == before
        if backend == "locmem":
            assert set(CALLS) == {"get"}  # looked up, nothing written


@contextlib.contextmanager
def _private_memcached(backend):
    """memcached cannot list keys: S2 counts the items of a server of its own."""
    if backend != "memcached":
        yield None
        return
    from support.servers import MemcachedProcess

    with MemcachedProcess() as server:
        yield server.location


async def _store_size(backend, prefix, location=None):
    if backend == "locmem":
        return locmem_entries(prefix)
    if backend == "redis":
        return len(await helpers.redis_keys(prefix))
    return await _memcached_items(location)


async def _memcached_items(location):
    host, _, port = location.partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"stats\r\n")
    data = await reader.readuntil(b"END\r\n")
    writer.close()
    for line in data.decode().splitlines():
        if line.startswith("STAT total_items "):
            return int(line.split()[2])  # items ever stored on this private server
    raise AssertionError(data)


# ---------------------------------------------------------------- S3 tampering


def _variants(sid):
    tag, rand, sig = sid.split(".")
    flip = "A" if sig[3] != "A" else "B"
    wrong_version, _ = SignedIds("session", SECRET, "other-version").new()
    token_id, _ = SignedIds("token", SECRET, VERSION, random_bytes=24).new()
    return {
        "signature flipped": f"{tag}.{rand}.{sig[:3]}{flip}{sig[4:]}",
        "signature truncated": f"{tag}.{rand}.{sig[:-4]}",
        "signature extended": f"{tag}.{rand}.{sig}AAAA",
        "random part changed": f"{tag}.{rand[::-1]}.{sig}",
        "wrong version": wrong_version,
        "signed for tokens": token_id,
        "other secret": SignedIds("session", "another-secret", VERSION).new()[0],
        "garbage": "x" * 77,
    }


@pytest.mark.parametrize("case", list(_variants(SignedIds("session", SECRET, VERSION).new()[0])))
async def test_s3_tampered_cookie_is_anonymous_with_one_warning(case, caplog):
    async with site() as (client, _):
        sid = await login(client)
        bad = _variants(sid)[case]
        CALLS.clear()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tornadopy.session"):
            resp = await client.get("/s/info", headers=cookie(bad), cookies=False)
        assert resp.code == 200
        assert body(resp) == {"user": None, "id": None, "new": True}
        warnings = [r for r in caplog.records if r.name == "tornadopy.session"]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert CALLS == []  # refused before any store lookup
        assert set_cookies(resp)[NAME].value == ""  # and the browser is told to drop it
        # the real session is untouched
        assert body(await client.get("/s/info"))["user"] == "alice"


async def test_s3_session_id_under_another_cookie_name_is_ignored():
    async with site() as (client, _):
        sid = await login(client)
        resp = await client.get("/s/info", headers={"Cookie": f"other={sid}"}, cookies=False)
        assert body(resp)["user"] is None


# ---------------------------------------------------------------- S4 replay


async def test_s4_replay_after_logout_is_anonymous_every_time(backend):
    async with site(backend) as (client, _):
        sid = await login(client)
        await client.get("/s/flush")
        for _ in range(3):
            info = body(await client.get("/s/info", headers=cookie(sid), cookies=False))
            assert info == {"user": None, "id": None, "new": True}
        # writing with the replayed cookie makes a *new* session, never the old one again
        resp = await client.get("/s/set?k=x&v=1", headers=cookie(sid), cookies=False)
        assert set_cookies(resp)[NAME].value not in ("", sid)
        info = body(await client.get("/s/info", headers=cookie(sid), cookies=False))
        assert info["user"] is None


async def test_s4_replay_after_expiry_is_anonymous(backend):
    async with site(backend) as (client, _):
        await client.get("/s/expire?s=1&k=user&v=alice")
        sid = client.cookies[NAME].value
        await asyncio.sleep(2.2)
        info = body(await client.get("/s/info", headers=cookie(sid), cookies=False))
        assert info["user"] is None and info["new"] is True


async def test_s4_concurrent_save_after_logout_does_not_resurrect(backend):
    helpers.GATES["loaded"] = asyncio.Event()
    helpers.GATES["go"] = asyncio.Event()
    async with site(backend) as (client, prefix):
        sid = await login(client)
        slow = asyncio.ensure_future(client.get("/s/slow", headers=cookie(sid), cookies=False))
        await asyncio.wait_for(helpers.GATES["loaded"].wait(), 5)
        resp = await client.get("/s/flush", headers=cookie(sid), cookies=False)
        assert set_cookies(resp)[NAME].value == ""
        helpers.GATES["go"].set()
        slow_resp = await asyncio.wait_for(slow, 5)
        assert slow_resp.code == 200
        assert set_cookies(slow_resp)[NAME].value == ""  # its save was refused
        for _ in range(2):
            info = body(await client.get("/s/info", headers=cookie(sid), cookies=False))
            assert info == {"user": None, "id": None, "new": True}
        if backend == "redis":
            keys = [k.decode() for k in await helpers.redis_keys(prefix)]
            assert not any("tornadopy.session:" in k for k in keys), keys


# ---------------------------------------------------------------- S5 cookie flags


async def test_s5_default_cookie_flags_and_vary():
    async with site() as (client, _):
        resp = await client.get("/s/set?k=a&v=1")
        header = raw_set_cookie(resp, NAME)
        parts = [p.strip().lower() for p in header.split(";")]
        assert "httponly" in parts
        assert "samesite=lax" in parts
        assert "path=/" in parts
        assert not any(p.startswith("domain") for p in parts)
        assert "secure" not in parts
        assert "Cookie" in resp.headers.get_list("Vary")
        # a read-only use of the session varies on Cookie too
        resp = await client.get("/s/get?k=a")
        assert "Cookie" in resp.headers.get_list("Vary")


async def test_s5_secure_domain_path_and_samesite_settings():
    conf = {
        "secure": True,
        "cookie_domain": "example.test",
        "cookie_path": "/s",
        "samesite": "Strict",
    }
    async with site(session=conf) as (client, _):
        resp = await client.get("/s/set?k=a&v=1")
        parts = [p.strip().lower() for p in raw_set_cookie(resp, NAME).split(";")]
        assert "secure" in parts
        assert "domain=example.test" in parts
        assert "path=/s" in parts
        assert "samesite=strict" in parts
        assert "httponly" in parts


async def test_s5_vary_is_added_even_after_a_clear_cookie():
    async with site() as (client, _):
        await login(client)
        resp = await client.get("/s/flush")
        assert "Cookie" in resp.headers.get_list("Vary")


# ---------------------------------------------------------------- ignore_change_ip


async def test_session_used_from_another_ip_is_dropped(caplog):
    async with site(XHEADERS=True) as (client, _):
        resp = await client.get("/s/login?user=alice", headers={"X-Real-Ip": "10.1.1.1"})
        sid = set_cookies(resp)[NAME].value
        same = await client.get("/s/info", headers={"X-Real-Ip": "10.1.1.1", **cookie(sid)})
        assert body(same)["user"] == "alice"
        with caplog.at_level(logging.WARNING, logger="tornadopy.session"):
            other = await client.get(
                "/s/info", headers={"X-Real-Ip": "10.9.9.9", **cookie(sid)}, cookies=False
            )
        assert body(other)["user"] is None
        assert any("10.9.9.9" in r.getMessage() for r in caplog.records)
        # dropped for that client only: the owner keeps the session
        again = await client.get("/s/info", headers={"X-Real-Ip": "10.1.1.1", **cookie(sid)})
        assert body(again)["user"] == "alice"


async def test_ignore_change_ip_true_keeps_the_session():
    async with site(session={"ignore_change_ip": True}, XHEADERS=True) as (client, _):
        resp = await client.get("/s/login?user=alice", headers={"X-Real-Ip": "10.1.1.1"})
        sid = set_cookies(resp)[NAME].value
        other = await client.get("/s/info", headers={"X-Real-Ip": "10.9.9.9", **cookie(sid)})
        assert body(other)["user"] == "alice"
