"""Fixtures of the reliability suite: the ``relsite`` project as real processes, a private
Redis with an append-only file, nginx in front, and a report of what each test measured."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from support.appserver import AppServer
from support.servers import RedisProcess

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "project"
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

#: Redis DB of the shared server (6379) used by the scale-out and hostile-input tests
REDIS_DB = 12


def report(name: str, **measured: object) -> None:
    """Print what a test measured (shown with ``-s`` or in the captured output of a failure)
    and append it as one JSON line to ``$TORNADOPY_RELIABILITY_REPORT`` when that is set."""
    line = json.dumps({"test": name, **measured}, sort_keys=True, default=str)
    print(f"RELIABILITY {line}")
    target = os.environ.get("TORNADOPY_RELIABILITY_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(line + "\n")


@pytest.fixture
def prefix() -> str:
    return f"rel{uuid.uuid4().hex[:10]}"


@pytest.fixture
def app_servers(tmp_path):
    """``make(name, **env)`` -> a started ``relsite`` AppServer; all are stopped at the end."""
    made: list[AppServer] = []

    def make(name: str = "app", *, args=(), start: bool = True, **env: str) -> AppServer:
        server = AppServer(
            "relsite.settings",
            logdir=tmp_path / "logs",
            env=env,
            pythonpath=[str(PROJECT)],
            args=args,
            name=name,
        )
        made.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in made:
        server.stop(timeout=10)


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of this test on a free port, persisting every write to an append-only file
    (``appendfsync always``) in ``tmp_path`` so a SIGKILL loses no acknowledged write."""
    data = tmp_path / "redis"
    data.mkdir()
    server = RedisProcess(
        None, "--appendonly", "yes", "--appendfsync", "always", "--dir", str(data)
    )
    server.start()
    yield server
    server.kill()


async def delete_keys(location: str, db: int, pattern: str) -> None:
    import redis.asyncio as aioredis

    host, _, port = location.partition(":")
    client = aioredis.Redis(host=host, port=int(port), db=db)
    try:
        keys = [k async for k in client.scan_iter(match=pattern, count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
