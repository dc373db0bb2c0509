"""Scale-out (issue 7, SPEC §15, RELIABILITY S8): nginx balancing two tornadopy processes that
share sessions and tokens through Redis.

Real processes on real sockets: nginx (Debian package, foreground, its own files under
``tmp_path``) on a free loopback port, round-robin over two ``relsite`` servers started with
``tornadopy.webserver.run`` on two other ports. Sessions and tokens live in Redis
(127.0.0.1:6379, DB 12, a key prefix of the test, deleted afterwards). The servers run with
``XHEADERS`` and ``TRUSTED_PROXIES = ('127.0.0.1',)``; the test client connects from
127.0.0.2, so a response saying ``ip: 127.0.0.2`` proves the proxy headers were honoured.
Every response names the process that served it (``X-Served-By: <pid>``).
"""

from __future__ import annotations

import asyncio

import pytest
from support.load import HttpConnection, Recorder, Response, run_for
from support.nginx import NginxProcess

from .conftest import REDIS_DB, delete_keys, report

pytestmark = pytest.mark.slow

CLIENT_ADDR = "127.0.0.2"  # loopback, but not the proxy's address


class Cluster:
    def __init__(self, a, b, lb) -> None:
        self.a, self.b, self.lb = a, b, lb

    def client(self, timeout: float = 10.0) -> HttpConnection:
        return HttpConnection("127.0.0.1", self.lb.port, local_addr=CLIENT_ADDR, timeout=timeout)


@pytest.fixture
async def cluster(redis_server, app_servers, prefix, tmp_path):
    env = {
        "RELSITE_REDIS": "127.0.0.1:6379",
        "RELSITE_REDIS_DB": str(REDIS_DB),
        "RELSITE_PREFIX": prefix,
    }
    a = app_servers("a", **env)
    b = app_servers("b", **env)
    lb = NginxProcess([a.port, b.port], workdir=tmp_path / "nginx")
    lb.start()
    try:
        yield Cluster(a, b, lb)
    finally:
        lb.stop()
        await delete_keys("127.0.0.1:6379", REDIS_DB, f"{prefix}*")


def served_by(resp: Response) -> int:
    assert resp.status != 0, resp.error
    return int(resp.header("x-served-by") or 0)


async def test_nginx_forwards_the_client_address_and_both_processes_serve(cluster):
    conn = cluster.client()
    pids = set()
    for _ in range(6):
        resp = await conn.request("GET", "/pid")
        assert resp.status == 200
        assert resp.json()["ip"] == CLIENT_ADDR  # X-Real-IP from a trusted proxy
        pids.add(served_by(resp))
    conn.close()
    assert pids == {cluster.a.pid, cluster.b.pid}


async def test_session_created_through_one_process_is_read_through_the_other(cluster):
    conn = cluster.client()
    login = await conn.request("GET", "/s/login?user=alice")
    assert login.status == 200
    creator = served_by(login)
    sid = login.cookie("relsid")
    assert sid
    cookie = {"Cookie": f"relsid={sid}"}

    readers: dict[int, dict] = {}
    for _ in range(10):
        resp = await conn.request("GET", "/s/whoami", headers=cookie)
        assert resp.status == 200
        readers.setdefault(served_by(resp), resp.json())
        if len(readers) == 2:
            break
    other = ({cluster.a.pid, cluster.b.pid} - {creator}).pop()
    assert other in readers, f"no request reached the other process: {readers}"
    assert readers[other]["user"] == "alice"

    # and a write made on one process is read on the other
    writes: dict[int, int] = {}
    for i in range(1, 11):
        resp = await conn.request("GET", f"/s/put?i={i}", headers=cookie)
        assert resp.status == 200
        pid = served_by(resp)
        writes[pid] = i
        nxt = await conn.request("GET", "/s/whoami", headers=cookie)
        if served_by(nxt) != pid:
            assert nxt.json() == {"user": "alice", "last": i, "pid": served_by(nxt)}
            break
    else:
        pytest.fail(f"reads never alternated between the processes: {writes}")
    conn.close()
    report(
        "scaleout.session_shared",
        creator=creator,
        read_by=sorted(readers),
        write_then_read_on_other=True,
    )


async def test_token_revoked_on_one_process_is_refused_on_the_other_at_once(cluster):
    conn = cluster.client()
    login = await conn.request("GET", "/t/login?uid=42")
    assert login.status == 200
    bearer = {"Authorization": f"Bearer {login.json()['token']}"}

    accepted = set()
    for _ in range(6):
        resp = await conn.request("GET", "/t/whoami", headers=bearer)
        assert resp.status == 200 and resp.json()["user"] == "42"
        accepted.add(served_by(resp))
    assert accepted == {cluster.a.pid, cluster.b.pid}

    revoke = await conn.request("GET", "/t/revoke", headers=bearer)
    assert revoke.status == 200 and revoke.json()["revoked"] is True
    revoker = served_by(revoke)

    after: list[tuple[int, int]] = []
    for _ in range(6):  # no pause: the very next requests, whichever process they reach
        resp = await conn.request("GET", "/t/whoami", headers=bearer)
        after.append((served_by(resp), resp.status))
    conn.close()
    assert all(status == 401 for _, status in after), after
    refusers = {pid for pid, _ in after}
    assert refusers == {cluster.a.pid, cluster.b.pid}, after
    first_other = next(i for i, (pid, _) in enumerate(after) if pid != revoker)
    report(
        "scaleout.token_revoked",
        revoked_on=revoker,
        refused_by=sorted(refusers),
        first_request_on_other_process=first_other + 1,
        statuses_after=[s for _, s in after],
    )


async def test_one_process_killed_mid_load_the_other_serves_every_session(cluster):
    workers = 16
    sessions: list[tuple[str, dict[str, str]]] = []
    setup = cluster.client()
    for i in range(workers):
        resp = await setup.request("GET", f"/s/login?user=w{i}")
        assert resp.status == 200
        sessions.append((f"w{i}", {"Cookie": f"relsid={resp.cookie('relsid')}"}))
    setup.close()

    rec = Recorder()
    acked = [0] * workers
    wrong: list[str] = []

    def worker(index: int):
        conn = cluster.client(timeout=15)
        user, cookie = sessions[index]
        n = 0

        async def step() -> None:
            nonlocal n
            n += 1
            resp = rec.add(await conn.request("GET", f"/s/put?i={n}", headers=cookie))
            if resp.status == 200:
                body = resp.json()
                if body["user"] != user or body["last"] != n:
                    wrong.append(f"{user}: {body}")
                acked[index] = n

        return step

    async def kill_a() -> None:
        await asyncio.sleep(2.0)
        rec.mark("kill")
        cluster.a.kill()  # SIGKILL mid-load

    await run_for(6.0, [worker(i) for i in range(workers)], during=kill_a)

    killed = rec.marks["kill"]
    statuses = Recorder.counts(rec.responses)
    before = [r for r in rec.responses if r.end < killed]
    after = rec.started_after(killed + 0.2)
    pids_before = {served_by(r) for r in before}
    pids_after = {served_by(r) for r in after}
    errors = [r.error for r in rec.responses if r.status == 0][:3]
    around = [r.latency for r in rec.overlapping(killed - 0.1, killed + 1.0)]
    report(
        "scaleout.kill_one_process",
        requests=len(rec.responses),
        statuses=statuses,
        before_kill_by_pid={p: sum(served_by(r) == p for r in before) for p in pids_before},
        after_kill_by_pid={p: sum(served_by(r) == p for r in after) for p in pids_after},
        max_latency_around_kill=round(max(around, default=0), 3),
    )
    assert statuses == {200: len(rec.responses)}, (statuses, errors, cluster.lb.log()[-2000:])
    assert not wrong, wrong[:5]
    assert pids_before == {cluster.a.pid, cluster.b.pid}
    assert pids_after == {cluster.b.pid}
    assert len(after) > 100, "the surviving process served too little after the kill"

    # no lost session: every user's last acknowledged write is there, read through nginx
    check = cluster.client()
    for index, (user, cookie) in enumerate(sessions):
        resp = await check.request("GET", "/s/whoami", headers=cookie)
        assert resp.status == 200
        assert resp.json()["user"] == user and resp.json()["last"] == acked[index]
    check.close()
    assert not cluster.a.running() and cluster.b.running()
