"""Soak (issue 7): 200,000 requests through the full middleware stack with sessions.

A ``relsite`` process (access log, request ids, sessions and tokens on a private Redis) is driven
by ``wrk`` with a mix of requests: session reads (touch), session writes, new log-ins (new
sessions), token checks, a JSON API and a plain page. After a warm-up of ``WARMUP`` requests the
server's resident memory, open file descriptors and Redis connections are taken; at the end
(client connections closed) they are taken again. Pass: every response 2xx, no socket error,
resident memory grew less than 5 %, no descriptor or Redis connection leaked.

``TORNADOPY_SOAK_REQUESTS`` (default 200000) changes the number of requests, for a quick run.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest
from support.load import HttpConnection
from support.servers import require_binary

from .conftest import report

pytestmark = pytest.mark.slow

TOTAL = int(os.environ.get("TORNADOPY_SOAK_REQUESTS", "200000"))
WARMUP = min(20_000, TOTAL // 10)
DEADLINE = 900  # seconds: a bound, not a target
CONNECTIONS = 16  # wrk connections, i.e. requests in flight at once

MIX = """
counter = 0
request = function()
  counter = counter + 1
  local k = counter % 20
  if k < 9 then return wrk.format("GET", "/s/whoami")
  elseif k < 13 then return wrk.format("GET", "/s/put?i=" .. counter)
  elseif k < 14 then
    return wrk.format("GET", "/s/login?user=u" .. counter, {["Host"] = wrk.headers["Host"]})
  elseif k < 16 then return wrk.format("GET", "/t/whoami")
  elseif k < 18 then return wrk.format("GET", "/api/echo?n=" .. counter)
  else return wrk.format("GET", "/plain") end
end
"""


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def redis_clients(port: int) -> int:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        return int(client.info("clients")["connected_clients"]) - 1  # minus this one
    finally:
        client.close()


def wrk_round(url: str, script: str, seconds: int, headers: list[str]) -> dict[str, int]:
    args = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s", "-s", script]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    m = re.search(r"(\d+) requests in", out)
    assert m, out
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(m.group(1)),
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


async def measure(pid: int, redis_port: int) -> dict[str, int]:
    """Resident memory, descriptors and Redis connections of the server, once the load
    generator's connections are closed (descriptors stable for 0.3 s, at most 5 s)."""
    import asyncio

    count, stable_since, deadline = fds(pid), time.monotonic(), time.monotonic() + 5
    while time.monotonic() - stable_since < 0.3 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        now = fds(pid)
        if now != count:
            count, stable_since = now, time.monotonic()
    return {"rss_kb": rss_kb(pid), "fds": count, "redis_clients": redis_clients(redis_port)}


async def test_soak_200k_requests_full_stack_no_growth_no_leak(
    private_redis, app_servers, tmp_path
):
    require_binary("wrk")
    server = app_servers(
        "soak",
        RELSITE_REDIS=private_redis.location,
        RELSITE_REDIS_DB="0",
        RELSITE_ACCESS_LOG="1",
    )
    conn = HttpConnection("127.0.0.1", server.port)
    login = await conn.request("GET", "/s/login?user=soak")
    token = (await conn.request("GET", "/t/login?uid=soak")).json()["token"]
    conn.close()
    headers = [f"Cookie: relsid={login.cookie('relsid')}", f"Authorization: Bearer {token}"]
    script = tmp_path / "mix.lua"
    script.write_text(MIX)
    url = f"http://127.0.0.1:{server.port}"

    started = time.monotonic()
    done = {"requests": 0, "socket_errors": 0, "non_2xx": 0}
    baseline = None
    while done["requests"] < TOTAL and time.monotonic() - started < DEADLINE:
        # short rounds at first (the warm-up), then 10 s rounds
        seconds = 2 if done["requests"] < WARMUP else 10
        result = wrk_round(url, str(script), seconds, headers)
        for key in done:
            done[key] += result[key]
        if baseline is None and done["requests"] >= WARMUP:
            baseline = await measure(server.pid, private_redis.port)
    elapsed = time.monotonic() - started
    assert baseline is not None
    end = await measure(server.pid, private_redis.port)
    growth = (end["rss_kb"] - baseline["rss_kb"]) / baseline["rss_kb"]
    outcome = {
        **done,
        "seconds": round(elapsed, 1),
        "requests_per_s": round(done["requests"] / elapsed),
        "rss_kb_after_warmup": baseline["rss_kb"],
        "rss_kb_end": end["rss_kb"],
        "rss_growth_pct": round(100 * growth, 2),
        "fds_after_warmup": baseline["fds"],
        "fds_end": end["fds"],
        "redis_clients_after_warmup": baseline["redis_clients"],
        "redis_clients_end": end["redis_clients"],
    }
    report("soak.full_stack", **outcome)
    assert done["requests"] >= TOTAL, f"only {done['requests']} requests in {DEADLINE} s: {outcome}"
    assert done["socket_errors"] == 0 and done["non_2xx"] == 0, outcome
    assert growth < 0.05, outcome
    # Redis pools (sessions, tokens: one each) may still grow to the peak concurrency after the
    # warm-up -- at most one connection per alias per in-flight request -- never beyond
    assert end["redis_clients"] <= 2 * CONNECTIONS, outcome
    # every other descriptor (listening socket, files, client sockets) is back where it was
    redis_growth = end["redis_clients"] - baseline["redis_clients"]
    assert end["fds"] <= baseline["fds"] + max(0, redis_growth), outcome
    assert server.running()
