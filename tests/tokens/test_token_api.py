"""SPEC §13 over real HTTP with Redis: the awaited token API and RELIABILITY S8."""

import asyncio
import base64
import json
import logging
import time

import pytest
from support.servers import RedisProcess

from tokens.helpers import SECRET, bearer, body, redis_client, site
from tornadopy.session.ids import SignedIds

pytestmark = pytest.mark.usefixtures("redis_server")


async def login(client, uid="42", name="alice", **extra):
    query = f"/t/login?uid={uid}" + (f"&name={name}" if name is not None else "")
    query += "".join(f"&{k}={v}" for k, v in extra.items())
    resp = await client.get(query)
    assert resp.code == 200, resp.body
    return body(resp)


async def test_save_returns_a_signed_256_bit_token():
    async with site() as (client, _):
        token = await login(client)
        tag, rand, _sig = token.split(".")
        assert tag == ""  # the default token_version is empty
        assert len(base64.urlsafe_b64decode(rand + "=")) * 8 == 256
        assert SignedIds("token", SECRET, "", random_bytes=32).verify(token) == rand


async def test_bearer_header_and_token_id_argument():
    async with site() as (client, _):
        token = await login(client, role="admin")
        who = {"user": "42", "name": "alice", "role": "admin"}
        assert body(await client.get("/t/whoami", headers=bearer(token))) == who
        assert body(await client.get(f"/t/whoami?tokenID={token}")) == who
        resp = await client.post("/t/whoami", data={"tokenID": token})
        assert body(resp) == who
        header = {"Authorization": f"bearer   {token}  "}  # scheme is case-insensitive
        assert body(await client.get("/t/user", headers=header)) == "42"


async def test_no_token_or_another_auth_scheme_is_anonymous():
    async with site() as (client, _):
        token = await login(client)
        assert body(await client.get("/t/whoami")) == {"user": None, "name": None, "role": None}
        basic = {"Authorization": f"Basic {token}"}
        assert body(await client.get("/t/user", headers=basic)) is None


async def test_a_user_with_a_live_token_gets_the_same_token_back():
    async with site() as (client, _):
        first = await login(client, role="user")
        second = await login(client, role="admin")
        assert second == first
        # the data is the newest save's
        assert body(await client.get("/t/whoami", headers=bearer(first)))["role"] == "admin"
        assert await login(client, name="bob") != first  # another userName: another token
        assert await login(client, uid="43") != first  # another userID: another token
        assert await login(client, name=None) == await login(client, name=None)


async def test_concurrent_first_logins_of_one_user_agree_on_one_token():
    async with site() as (client, _):
        tokens = await asyncio.gather(*(login(client, uid="7", name="carol") for _ in range(20)))
        assert len(set(tokens)) == 1


async def test_fetch_checks_any_token():
    async with site() as (client, _):
        token = await login(client)
        assert body(await client.get(f"/t/fetch?t={token}")) == "42"
        assert body(await client.get("/t/fetch?t=garbage")) is None


async def test_expire_revokes_the_requests_token_at_once():
    async with site() as (client, _):
        token = await login(client)
        assert body(await client.get("/t/expire", headers=bearer(token))) == [True, None]
        assert body(await client.get("/t/user", headers=bearer(token))) is None
        assert body(await client.get(f"/t/fetch?t={token}")) is None
        # a new log-in makes a new token; the revoked one stays dead
        again = await login(client)
        assert again != token
        assert body(await client.get("/t/user", headers=bearer(token))) is None
        assert body(await client.get("/t/user", headers=bearer(again))) == "42"


async def test_expire_an_explicit_token():
    async with site() as (client, _):
        token = await login(client)
        assert body(await client.get(f"/t/expire?t={token}")) == [True, None]
        assert body(await client.get(f"/t/expire?t={token}")) == [False, None]
        assert body(await client.get("/t/user", headers=bearer(token))) is None


async def test_token_lives_token_timeout_seconds():
    async with site(token={"token_timeout": 1}) as (client, _):
        token = await login(client)
        assert body(await client.get("/t/user", headers=bearer(token))) == "42"
        await asyncio.sleep(2.2)
        assert body(await client.get("/t/user", headers=bearer(token))) is None


async def test_token_data_is_json_in_redis():
    async with site() as (client, prefix):
        token = await login(client, role="admin")
        rand = token.split(".")[1]
        redis = await redis_client()
        try:
            raw = await redis.get(f"{prefix}:tornadopy:token:{rand}")
        finally:
            await redis.aclose()
        assert json.loads(raw)["d"] == {"userID": "42", "userName": "alice", "role": "admin"}


async def test_save_without_user_id_is_an_error():
    async with site() as (client, _):
        assert (await client.get("/t/badsave")).code == 500


# ---------------------------------------------------------------- forged ids


def _forged(token):
    tag, rand, sig = token.split(".")
    flip = "A" if sig[0] != "A" else "B"
    return {
        "signature flipped": f"{tag}.{rand}.{flip}{sig[1:]}",
        "truncated": token[:-1],
        "extended": token + "A",
        "other version": SignedIds("token", SECRET, "v2", random_bytes=32).new()[0],
        "other secret": SignedIds("token", "other", "", random_bytes=32).new()[0],
        "session id": SignedIds("session", SECRET, "", random_bytes=32).new()[0],
        "garbage": "x" * 90,
        "path": "../../etc/passwd",
    }


async def test_forged_tokens_are_refused_without_a_redis_lookup(caplog):
    with RedisProcess() as server:
        async with site(location=server.location) as (client, _):
            token = await login(client)
            redis = await redis_client(server.location)
            try:
                for case, forged in _forged(token).items():
                    before = (await redis.info("commandstats")).get("cmdstat_get", {}).get("calls")
                    caplog.clear()
                    with caplog.at_level(logging.WARNING, logger="tornadopy.token"):
                        resp = await client.get("/t/user", headers=bearer(forged))
                    assert resp.code == 200 and body(resp) is None, case
                    after = (await redis.info("commandstats")).get("cmdstat_get", {}).get("calls")
                    assert after == before, case
                    assert len([r for r in caplog.records if r.name == "tornadopy.token"]) == 1
            finally:
                await redis.aclose()


async def test_a_request_that_does_not_use_the_token_sends_no_command():
    with RedisProcess() as server:
        async with site(location=server.location) as (client, _):
            token = await login(client)
            redis = await redis_client(server.location)
            try:
                before = await redis.info("commandstats")
                resp = await client.get("/t/none", headers=bearer(token))
                assert resp.code == 200
                after = await redis.info("commandstats")
            finally:
                await redis.aclose()
            drop = {"cmdstat_info"}
            assert {k: v for k, v in after.items() if k not in drop} == {
                k: v for k, v in before.items() if k not in drop
            }


# ---------------------------------------------------------------- address binding


async def test_token_used_from_another_address_is_refused():
    async with site(XHEADERS=True) as (client, _):
        here = {"X-Real-Ip": "10.0.0.1"}
        there = {"X-Real-Ip": "10.0.0.2"}
        resp = await client.get("/t/login?uid=42&name=alice", headers=here)
        token = body(resp)
        assert body(await client.get("/t/user", headers={**here, **bearer(token)})) == "42"
        assert body(await client.get("/t/user", headers={**there, **bearer(token)})) is None
        assert body(await client.get(f"/t/fetch?t={token}", headers=there)) is None
        # logging in from the other address makes a second token; both work from their address
        other = body(await client.get("/t/login?uid=42&name=alice", headers=there))
        assert other != token
        assert body(await client.get("/t/user", headers={**there, **bearer(other)})) == "42"
        assert body(await client.get("/t/user", headers={**here, **bearer(token)})) == "42"


async def test_ignore_change_ip_true_accepts_any_address():
    async with site(token={"ignore_change_ip": True}, XHEADERS=True) as (client, _):
        token = body(await client.get("/t/login?uid=42", headers={"X-Real-Ip": "10.0.0.1"}))
        again = body(await client.get("/t/login?uid=42", headers={"X-Real-Ip": "10.0.0.9"}))
        assert again == token
        resp = await client.get("/t/user", headers={"X-Real-Ip": "10.0.0.2", **bearer(token)})
        assert body(resp) == "42"


# ---------------------------------------------------------------- S8


async def test_s8_revoked_token_is_refused_at_once_by_every_instance():
    """Two Application instances (two workers) sharing Redis."""
    async with site() as (one, prefix), site(prefix=prefix) as (two, _):
        token = await login(one)
        assert body(await two.get("/t/user", headers=bearer(token))) == "42"
        assert body(await one.get("/t/user", headers=bearer(token))) == "42"
        assert body(await two.get("/t/expire", headers=bearer(token))) == [True, None]
        assert body(await one.get("/t/user", headers=bearer(token))) is None
        assert body(await two.get("/t/user", headers=bearer(token))) is None
        # a re-login on either gets a fresh token, honoured by both
        fresh = await login(two)
        assert fresh != token
        assert body(await one.get("/t/user", headers=bearer(fresh))) == "42"


async def test_s8_redis_down_is_503_fail_closed_and_recovers():
    server = RedisProcess()
    await server.astart()
    try:
        async with site(location=server.location) as (client, _):
            token = await login(client)
            server.kill()
            for path in ("/t/user", "/t/whoami", "/t/expire", f"/t/fetch?t={token}"):
                started = time.monotonic()
                resp = await client.get(path, headers=bearer(token))
                assert resp.code == 503, path  # never "anonymous", never 500
                assert time.monotonic() - started < 3
            assert (await client.get("/t/login?uid=1")).code == 503
            resp = await client.get("/t/none", headers=bearer(token))
            assert resp.code == 200  # a request that does not use the token is served
            await server.astart()  # same port, empty (no persistence): the old token is gone
            assert body(await client.get("/t/user", headers=bearer(token))) is None
            fresh = await login(client)
            assert body(await client.get("/t/user", headers=bearer(fresh))) == "42"
    finally:
        server.kill()
