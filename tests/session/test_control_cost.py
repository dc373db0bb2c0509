"""What each kind of session request costs on Redis, counted by a private redis-server: the
commands it executes (INFO commandstats, script internals included) and the round trips the
application makes (MONITOR: the commands sent by clients, not those run inside Lua scripts).
Session control costs nothing to requests that do not use it."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis
from support.servers import RedisProcess

from session.control_app import browser, control_site, login

#: sent by redis-py when it opens a connection, and by the counting itself
_NOISE = {"info", "client|setinfo", "hello", "select"}


async def _commandstats(port: int) -> dict[str, int]:
    client = aioredis.Redis(port=port)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    out = {}
    for key, value in stats.items():
        name = key.removeprefix("cmdstat_")
        if name not in _NOISE:
            out[name] = value["calls"]
    return out


async def _delta(port: int, client, path: str) -> dict[str, int]:
    before = await _commandstats(port)
    resp = await client.get(path)
    assert resp.code == 200, resp.body
    after = await _commandstats(port)
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


async def test_commands_per_kind_of_request():
    with RedisProcess() as server:
        async with control_site("redis", location=server.location) as ([bound], _):
            anon = browser(bound)
            try:
                await login(bound, "alice")
                await anon.get("/c/anon")
                for client in (bound, anon):  # warm up: connections open, scripts loaded
                    await client.get("/c/read")
                    await client.get("/c/write?n=0")

                # a request that does not use the session: nothing at all
                assert await _delta(server.port, bound, "/c/none") == {}
                assert await _delta(server.port, anon, "/c/none") == {}

                # an unbound session read: one script call (GET + PEXPIRE to the record's own
                # lifetime) and nothing at the end of the request
                assert await _delta(server.port, anon, "/c/read") == {
                    "evalsha": 1,
                    "get": 1,
                    "pexpire": 1,
                }
                # an unbound write: the load script, then "SET unless revoked" (EXISTS + SET)
                assert await _delta(server.port, anon, "/c/write?n=1") == {
                    "evalsha": 2,
                    "get": 1,
                    "pexpire": 1,
                    "set": 1,
                    "exists": 1,
                }

                # a bound session read: two round trips (the load script does not refresh a
                # bound record; one script call refreshes the record and the user's index)
                assert await _delta(server.port, bound, "/c/read") == {
                    "get": 1,
                    "evalsha": 2,
                    # inside the touch script: the record's and the index's expiry, the index
                    "pexpire": 2,
                    "sadd": 1,
                    "pttl": 1,
                }
                # a bound session write: the load script, then one script call (SET + index)
                delta = await _delta(server.port, bound, "/c/write?n=2")
                assert delta.pop("get") == 1 and delta.pop("evalsha") == 2
                assert set(delta) <= {"exists", "set", "sadd", "pttl", "pexpire", "scard"}
            finally:
                anon.close()


async def _sent(port: int, client, path: str) -> list[str]:
    """The commands the application sent to Redis while answering one request (MONITOR lines
    of clients, not of Lua scripts), in order. Without pipelining, one command is one round
    trip."""
    monitor_client = aioredis.Redis(port=port)
    marker_client = aioredis.Redis(port=port)
    marker = f"end-{uuid.uuid4().hex}"
    sent: list[str] = []
    try:
        async with monitor_client.monitor() as monitor:
            resp = await client.get(path)
            assert resp.code == 200, resp.body
            await marker_client.echo(marker)
            while True:
                info = await monitor.next_command()
                if marker in info["command"]:
                    break
                if info["client_type"] != "lua":
                    sent.append(info["command"].split(" ", 1)[0].upper())
    finally:
        await monitor_client.aclose()
        await marker_client.aclose()
    return [name for name in sent if name.lower() not in _NOISE]


async def test_round_trips_per_kind_of_request():
    """One round trip for a request that reads the session, two for one that reads and writes
    it (the raw Tornado benchmark's GET + SET), one to create a session."""
    with RedisProcess() as server:
        async with control_site("redis", location=server.location) as ([anon], _):
            await anon.get("/c/anon")
            await anon.get("/c/write?n=0")  # warm up: connection open, scripts loaded
            assert await _sent(server.port, anon, "/c/none") == []
            assert await _sent(server.port, anon, "/c/read") == ["EVALSHA"]
            assert await _sent(server.port, anon, "/c/write?n=1") == ["EVALSHA", "EVALSHA"]
            assert await _sent(server.port, anon, "/c/read") == ["EVALSHA"]
            # log-out: the load, then the marker and the delete pipelined (one round trip)
            assert await _sent(server.port, anon, "/c/logout") == ["EVALSHA", "SET", "DEL"]
            # a new session: one SET NX
            assert await _sent(server.port, anon, "/c/anon") == ["SET"]


async def test_scripts_are_loaded_again_after_script_flush():
    """A restarted or flushed server has forgotten the scripts: the session still loads and
    saves (NOSCRIPT -> SCRIPT LOAD -> EVALSHA), with no error and no lost write."""
    with RedisProcess() as server:
        async with control_site("redis", location=server.location) as ([anon], _):
            await anon.get("/c/anon")
            assert (await anon.get("/c/write?n=5")).code == 200
            admin = aioredis.Redis(port=server.port)
            try:
                await admin.script_flush()
            finally:
                await admin.aclose()
            resp = await anon.get("/c/whoami")
            assert resp.code == 200
            assert (await anon.get("/c/write?n=6")).code == 200
            admin = aioredis.Redis(port=server.port)
            try:
                await admin.script_flush()
            finally:
                await admin.aclose()
            sent = await _sent(server.port, anon, "/c/write?n=7")
            assert sent[:2] == ["EVALSHA", "SCRIPT"], sent
