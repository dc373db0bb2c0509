"""A real replica stopped and restarted under read traffic (RELIABILITY.md D2)."""

import asyncio
import time

import pytest
from sqlalchemy import text

from tornadopy.conf import override_settings
from tornadopy.db.dbalchemy import get_group, session_scope

MASTER_ID, REPLICA_ID = 1, 2

pytestmark = pytest.mark.slow


class Traffic:
    """Workers reading @@server_id in fresh scopes (= requests) until stopped."""

    def __init__(self, workers: int = 6) -> None:
        self.records: list[tuple[float, float, object]] = []  # (start, end, server_id | error)
        self.running = True
        self.tasks = [asyncio.create_task(self._work()) for _ in range(workers)]

    async def _work(self) -> None:
        while self.running:
            start = time.monotonic()
            try:
                async with session_scope() as s:
                    result: object = (await s.execute(text("SELECT @@server_id"))).scalar()
            except Exception as exc:
                result = exc
            self.records.append((start, time.monotonic(), result))
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self.running = False
        await asyncio.gather(*self.tasks)

    def since(self, t: float) -> list[object]:
        return [r for start, _, r in self.records if start >= t]


async def test_replica_stopped_and_restarted_under_traffic(replica_servers):
    conns = replica_servers.connections(OPTIONS={"connect_args": {"connect_timeout": 2}})
    settings = {"default": {"connections": conns, "REPLICA_RETRY": 0.3}}
    with override_settings(DATABASE_CONNECTION=settings):
        replica = get_group().replicas[0]
        traffic = Traffic()
        try:
            await asyncio.sleep(0.5)
            before = traffic.since(0)
            assert before and all(r == REPLICA_ID for r in before), before[:5]

            stop = asyncio.create_task(replica_servers.script("stop", "replica"))
            detected = None
            while not stop.done() or detected is None:
                if detected is None and not replica.healthy:
                    detected = time.monotonic()
                await asyncio.sleep(0.01)
                assert not (stop.done() and stop.exception())
                if stop.done() and detected is None:
                    # stopped before any request noticed: the next reads must notice
                    await asyncio.sleep(0.5)
                    assert not replica.healthy, "a stopped replica stayed in the read rotation"
                    detected = time.monotonic()
            await stop
            await asyncio.sleep(1.0)
            after = traffic.since(detected)
            failed = [r for r in after if isinstance(r, Exception)]
            assert not failed, (
                f"{len(failed)} requests failed after the replica was detected down: {failed[:3]}"
            )
            stopped_at = time.monotonic() - 0.9
            assert traffic.since(stopped_at) and all(
                r == MASTER_ID for r in traffic.since(stopped_at)
            )

            await replica_servers.script("start", "replica")
            for _ in range(200):  # up to 10 s
                if replica.healthy:
                    break
                await asyncio.sleep(0.05)
            assert replica.healthy, "the restarted replica did not come back into rotation"
            back = time.monotonic()
            await asyncio.sleep(0.5)
            again = traffic.since(back)
            assert again and all(r == REPLICA_ID for r in again), again[:5]
        finally:
            await traffic.stop()
            await replica_servers.script("start", "replica")  # leave it running for other tests
        total_failed = sum(isinstance(r, Exception) for _, _, r in traffic.records)
        print(f"{len(traffic.records)} reads, {total_failed} failed while the replica went down")
        # only requests in flight while the server went down may fail
        assert total_failed <= len(traffic.tasks), total_failed


async def test_master_restart_only_fails_requests_in_flight(replica_servers):
    """D1: the master restarts; pooled connections are dead; the next request still works."""
    conns = replica_servers.connections()
    with override_settings(DATABASE_CONNECTION={"default": {"connections": conns}}):
        async with session_scope(master=True) as s:
            assert (await s.execute(text("SELECT @@server_id"))).scalar() == MASTER_ID
        try:
            await replica_servers.script("stop", "master")
            await replica_servers.script("start", "master")
            async with session_scope(master=True) as s:  # the pooled connection died: replaced
                assert (await s.execute(text("SELECT @@server_id"))).scalar() == MASTER_ID
        finally:
            await replica_servers.script("start")  # both up, replication running
        await asyncio.to_thread(replica_servers.wait_replicated)
