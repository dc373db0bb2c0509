"""Multi-process mode: ``--processes=2`` workers, one scrape adds up both (real processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from support.appserver import AppServer
from tornado.httpclient import AsyncHTTPClient

from metrics.helpers import Scrape

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parent / "project"
REQUESTS = "tornadopy_requests_total"


class Cluster:
    def __init__(self, server: AppServer) -> None:
        self.server = server
        self.http = AsyncHTTPClient(force_instance=True)

    async def get(self, path: str):
        # a new connection per request, so either worker may accept it
        return await self.http.fetch(
            self.server.url + path, raise_error=False, headers={"Connection": "close"}
        )

    async def scrape(self) -> Scrape:
        resp = await self.get("/metrics")
        assert resp.code == 200, resp.body
        return Scrape(resp.body.decode())

    async def until_both_workers(self, path: str, concurrency: int = 8, budget: float = 15.0):
        """GET ``path`` (``concurrency`` at a time) until both workers answered at least once
        and 10 requests were made; returns pid -> requests it served."""
        served: dict[int, int] = {}
        deadline = time.monotonic() + budget
        while len(served) < 2 or sum(served.values()) < 10:
            assert time.monotonic() < deadline, f"only {served} answered"
            answers = await asyncio.gather(*(self.get(path) for _ in range(concurrency)))
            for resp in answers:
                assert resp.code == 200
                pid = int(resp.body)
                served[pid] = served.get(pid, 0) + 1
        return served


@pytest.fixture
async def cluster(tmp_path):
    server = AppServer(
        "mxsite.settings",
        logdir=tmp_path / "logs",
        env={"MXSITE_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/mx.db"},
        pythonpath=[str(PROJECT)],
        args=["--processes=2"],
    )
    server.start()
    c = Cluster(server)
    try:
        yield c
    finally:
        c.http.close()
        server.stop()


async def test_counts_from_both_workers_add_up_in_one_scrape(cluster):
    served = await cluster.until_both_workers("/pid")
    total = sum(served.values())
    assert len(served) == 2 and all(v > 0 for v in served.values())
    # a worker counts a request just after handing its response over: allow it a moment
    deadline = time.monotonic() + 5
    while True:
        scraped = await cluster.scrape()
        if scraped.value(REQUESTS, route="Pid", method="GET", status="200") >= total:
            break
        assert time.monotonic() < deadline, scraped.text
        await asyncio.sleep(0.05)
    for each in [scraped] + [await cluster.scrape() for _ in range(3)]:  # any worker
        assert each.value(REQUESTS, route="Pid", method="GET", status="200") == total
        assert each.value("tornadopy_request_duration_seconds_count", route="Pid") == total
    # the parent logged where the workers share their files, and removes it when it exits
    where = cluster.server.stderr().split("values shared in ", 1)[1].split()[0]
    assert Path(where).is_dir()  # noqa: ASYNC240 - a test's own check
    cluster.server.stop()
    assert not Path(where).exists()  # noqa: ASYNC240


async def test_pool_gauges_sum_live_workers_and_a_dead_worker_drops_out(cluster):
    # one at a time: each worker opens exactly one connection
    served = await cluster.until_both_workers("/db", concurrency=1)
    await asyncio.sleep(0.5)  # every worker refreshes its gauges every 0.1 s
    labels = {"database": "default", "role": "master"}
    before = await cluster.scrape()
    assert before.value("tornadopy_db_pool_checked_in", **labels) == 2  # one idle per worker
    assert before.value("tornadopy_db_pool_size", **labels) == 10
    counted = before.value(REQUESTS, route="Db", method="GET", status="200")
    assert counted == sum(served.values())  # counted well before (0.5 s)

    victim = next(iter(served))
    os.kill(victim, signal.SIGKILL)  # the parent restarts it and marks it dead
    deadline = time.monotonic() + 15
    while True:
        after = await cluster.scrape()
        if after.value("tornadopy_db_pool_size", **labels) == 5:
            break  # the survivor's pool only: the restarted worker has not used the database
        assert time.monotonic() < deadline, after.text
        await asyncio.sleep(0.2)
    assert after.value("tornadopy_db_pool_checked_in", **labels) == 1
    # the dead worker's requests are still counted: totals never go backwards
    assert after.value(REQUESTS, route="Db", method="GET", status="200") == counted
    assert "restarting" in cluster.server.stderr()
