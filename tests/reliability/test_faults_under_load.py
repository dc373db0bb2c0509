"""Faults under load (issue 7; RELIABILITY C2, C3, D2 over real HTTP).

A ``relsite`` server runs as a real process; an asyncio client keeps a steady load on it for a
bounded time while a fault is injected into a backing service that the test started itself:

- a private ``redis-server`` on a free port (``appendonly yes``, ``appendfsync always``) holding
  the sessions: killed with SIGKILL and restarted on the same port; or frozen with
  ``kill -STOP`` and resumed with ``kill -CONT``;
- the replica MariaDB of ``scripts/mariadb-replica.sh`` (3308): stopped, then started again,
  under reads of a database-backed endpoint.

Responses are counted by status per phase. Pass: no 500 and no failed exchange at all; 503 only
in the fault window (from the injection until the service answers again plus the store's
documented 2 s budget); only 200 before and after; no acknowledged session write lost. The
shared Redis (6379) and the system MariaDB (3306) are never touched.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from support.load import HttpConnection, Recorder, percentile, run_for

from tornadopy.testing import require_service

from .conftest import report

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "mariadb-replica.sh")
#: the session store's worst case to notice a fault or a recovery (rediscache time budget)
BUDGET = 2.0
WORKERS = 12


class SessionLoad:
    """``WORKERS`` clients, each with its own logged-in session, writing ``last = n`` in a loop;
    plus one client on ``/plain``, which does not use the session."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.rec = Recorder()
        self.plain = Recorder()
        self.users: list[tuple[str, dict[str, str]]] = []
        self.acked = [0] * WORKERS
        self.tried = [0] * WORKERS
        self.wrong: list[str] = []

    async def login(self) -> None:
        conn = HttpConnection("127.0.0.1", self.port)
        for i in range(WORKERS):
            resp = await conn.request("GET", f"/s/login?user=u{i}")
            assert resp.status == 200, resp
            self.users.append((f"u{i}", {"Cookie": f"relsid={resp.cookie('relsid')}"}))
        conn.close()

    def writer(self, index: int):
        conn = HttpConnection("127.0.0.1", self.port, timeout=10)
        user, cookie = self.users[index]

        async def step() -> None:
            n = self.tried[index] + 1
            self.tried[index] = n
            resp = self.rec.add(await conn.request("GET", f"/s/put?i={n}", headers=cookie))
            if resp.status == 200:
                body = resp.json()
                if body["user"] != user or body["last"] != n:
                    self.wrong.append(f"{user}: {body}")
                self.acked[index] = n
            elif resp.status == 503:
                await asyncio.sleep(0.02)  # a client backing off a little, as real ones do

        return step

    def plain_client(self):
        conn = HttpConnection("127.0.0.1", self.port, timeout=10)

        async def step() -> None:
            self.plain.add(await conn.request("GET", "/plain"))
            await asyncio.sleep(0.01)

        return step

    def workers(self):
        return [self.writer(i) for i in range(WORKERS)] + [self.plain_client()]

    async def sessions_kept(self) -> list[str]:
        """Each user's session after the load: the last acknowledged write (or a later one that
        was applied before its request failed) must be there."""
        conn = HttpConnection("127.0.0.1", self.port)
        lost = []
        for index, (user, cookie) in enumerate(self.users):
            resp = await conn.request("GET", "/s/whoami", headers=cookie)
            body = resp.json() if resp.status == 200 else {}
            last = body.get("last")
            if (
                resp.status != 200
                or body.get("user") != user
                or not isinstance(last, int)
                or not self.acked[index] <= last <= self.tried[index]
            ):
                lost.append(f"{user}: {resp.status} {body} acked={self.acked[index]}")
        conn.close()
        return lost


def phases(rec: Recorder, start: float, restored: float, budget: float = BUDGET):
    """(before, window, after) responses: ended before the fault / overlapping the fault window
    [start, restored + budget] / started after the window."""
    end = restored + budget
    return rec.ended_before(start), rec.overlapping(start, end), rec.started_after(end)


def check_phases(name: str, load: SessionLoad, start: float, restored: float) -> dict:
    rec = load.rec
    before, window, after = phases(rec, start, restored)
    recovered = rec.first_ok_after(restored)
    outcome = {
        "requests": len(rec.responses),
        "before": Recorder.counts(before),
        "fault_window": Recorder.counts(window),
        "after": Recorder.counts(after),
        "fault_seconds": round(restored - start, 2),
        "recovery_seconds": None if recovered is None else round(recovered - restored, 3),
        "plain_requests": Recorder.counts(load.plain.responses),
        "plain_p99_ms": round(1000 * percentile([r.latency for r in load.plain.responses], 99), 1),
    }
    report(name, **outcome)
    errors = [r.error for r in rec.responses if r.status == 0][:3]
    assert set(Recorder.counts(rec.responses)) <= {200, 503}, (outcome, errors)
    assert set(outcome["before"]) == {200}, outcome
    assert set(outcome["fault_window"]) <= {200, 503}, outcome
    assert outcome["fault_window"].get(503), f"the fault was not noticed: {outcome}"
    assert after and set(outcome["after"]) == {200}, outcome
    assert recovered is not None and recovered - restored <= BUDGET, outcome
    assert not load.wrong, load.wrong[:5]
    # a request that does not use the session never fails, even while the store is down
    assert set(outcome["plain_requests"]) == {200}, outcome
    return outcome


@pytest.fixture
async def session_site(private_redis, app_servers):
    server = app_servers("faults", RELSITE_REDIS=private_redis.location, RELSITE_REDIS_DB="0")
    load = SessionLoad(server.port)
    await load.login()
    return load


async def test_redis_killed_and_restarted_under_load(private_redis, session_site):
    load = session_site
    marks: dict[str, float] = {}

    async def fault() -> None:
        await asyncio.sleep(2.0)
        marks["start"] = time.monotonic()
        private_redis.kill()  # SIGKILL: no shutdown, no final save
        await asyncio.sleep(1.0)
        await private_redis.astart()  # same port, replays the append-only file
        marks["restored"] = time.monotonic()

    await run_for(None, load.workers(), during=fault, after=4.0)
    check_phases("faults.redis_restart", load, marks["start"], marks["restored"])
    lost = await load.sessions_kept()
    assert not lost, lost  # the append-only file kept every acknowledged write


async def test_redis_stopped_and_continued_under_load(private_redis, session_site):
    load = session_site
    marks: dict[str, float] = {}

    async def fault() -> None:
        await asyncio.sleep(2.0)
        marks["start"] = time.monotonic()
        private_redis.pause()  # kill -STOP: connections stay open, nothing answers
        await asyncio.sleep(2.5)
        private_redis.resume()  # kill -CONT
        marks["restored"] = time.monotonic()

    await run_for(None, load.workers(), during=fault, after=4.0)
    outcome = check_phases("faults.redis_stop_cont", load, marks["start"], marks["restored"])
    # frozen, not down: each request waits at most the budget, never hangs
    slowest = max(r.latency for r in load.rec.responses)
    assert slowest <= BUDGET + 0.5, (slowest, outcome)
    lost = await load.sessions_kept()
    assert not lost, lost


async def replica_script(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        SCRIPT, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, f"{SCRIPT} {' '.join(args)}: {out.decode()}"


async def test_replica_mariadb_stopped_under_load(app_servers):
    require_service(
        "replica-test MariaDB master (scripts/mariadb-replica.sh start)", "127.0.0.1", 3307
    )
    require_service(
        "replica-test MariaDB replica (scripts/mariadb-replica.sh start)", "127.0.0.1", 3308
    )
    server = app_servers("db", RELSITE_DB="replica")
    rec = Recorder()
    marks: dict[str, float] = {}

    def reader():
        conn = HttpConnection("127.0.0.1", server.port, timeout=15)

        async def step() -> None:
            resp = rec.add(await conn.request("GET", "/db/read"))
            resp.tag = str(resp.json()["server_id"]) if resp.status == 200 else ""

        return step

    async def fault() -> None:
        await asyncio.sleep(2.0)
        marks["start"] = time.monotonic()
        await replica_script("stop", "replica")
        marks["stopped"] = time.monotonic()
        await asyncio.sleep(2.0)
        marks["restart"] = time.monotonic()
        await replica_script("start", "replica")
        marks["restored"] = time.monotonic()

    try:
        await run_for(None, [reader() for _ in range(8)], during=fault, after=4.0)
    finally:
        await replica_script("start", "replica")  # leave the pair running for other tests

    start, restored = marks["start"], marks["restored"]
    before = rec.ended_before(start)
    window = rec.overlapping(start, restored + BUDGET)
    after = rec.started_after(restored + BUDGET)
    stopped = [
        r for r in rec.responses if marks["stopped"] <= r.start and r.end <= marks["restart"]
    ]
    by_server = lambda rs: {t: sum(r.tag == t for r in rs) for t in sorted({r.tag for r in rs})}  # noqa: E731
    outcome = {
        "requests": len(rec.responses),
        "before": Recorder.counts(before),
        "fault_window": Recorder.counts(window),
        "after": Recorder.counts(after),
        "served_by_server_id_before": by_server(before),
        "served_by_server_id_while_stopped": by_server(stopped),
        "served_by_server_id_after": by_server(after),
        "stop_seconds": round(marks["stopped"] - start, 2),
        "start_seconds": round(restored - marks["restart"], 2),
    }
    report("faults.replica_stopped", **outcome)
    errors = [(r.status, r.body[:200], r.error) for r in rec.responses if r.status != 200][:3]
    assert set(Recorder.counts(rec.responses)) <= {200, 503}, (outcome, errors)
    assert set(outcome["before"]) == {200} and set(outcome["after"]) == {200}, outcome
    assert outcome["served_by_server_id_before"] == {"2": len(before)}, outcome  # the replica
    assert stopped and outcome["served_by_server_id_while_stopped"] == {"1": len(stopped)}, outcome
    assert outcome["served_by_server_id_after"].get("2"), outcome  # back in rotation
