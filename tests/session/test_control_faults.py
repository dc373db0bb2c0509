"""Session control with the Redis store down: 503 within the store's time budget (never a 500
or a hang), and working again once Redis is back, without a restart."""

from __future__ import annotations

import time

import pytest
from support.servers import RedisProcess

from session.control_app import browser, control_site, login, whoami
from tornadopy.cache import CacheError
from tornadopy.session import revoke_user_sessions, sessions_of


async def test_redis_down_is_503_for_bound_sessions_and_control_then_recovers():
    server = RedisProcess()
    await server.astart()
    try:
        async with control_site("redis", location=server.location) as ([a], _):
            b = browser(a)
            try:
                await login(a, "alice")
                await login(b, "alice")
                server.kill()
                for path in ("/c/whoami", "/c/list", "/c/revoke_others", "/c/revoke_all"):
                    started = time.monotonic()
                    resp = await (a.post(path) if "revoke" in path else a.get(path))
                    assert resp.code == 503, (path, resp.code)
                    assert time.monotonic() - started < 3
                    assert b"Traceback" not in resp.body
                resp = await a.get("/c/none")  # not using the session: served
                assert resp.code == 200
                started = time.monotonic()
                with pytest.raises(CacheError):
                    await sessions_of("alice")  # outside requests: the error, not a 503
                assert time.monotonic() - started < 3

                await server.astart()  # same port, empty store: everybody logged out
                assert (await whoami(a))["user"] is None
                await login(a, "alice")
                await login(b, "alice")
                assert len(await sessions_of("alice")) == 2
                assert await revoke_user_sessions("alice") == 2
                assert (await whoami(b))["user"] is None
            finally:
                b.close()
    finally:
        server.kill()


async def test_redis_frozen_mid_revocation_fails_closed_and_a_retry_completes():
    server = RedisProcess()
    await server.astart()
    try:
        async with control_site("redis", location=server.location) as ([a], _):
            b = browser(a)
            try:
                await login(a, "alice")
                await login(b, "alice")
                server.pause()
                started = time.monotonic()
                resp = await a.post("/c/revoke_others")
                assert resp.code == 503 and time.monotonic() - started < 3
                server.resume()
                # revocation is idempotent (and its writes are one MULTI): retried, it completes
                resp = await a.post("/c/revoke_others")
                assert resp.code == 200
                assert (await whoami(b))["user"] is None
                assert (await whoami(a))["user"] == "alice"
            finally:
                b.close()
    finally:
        server.kill()
