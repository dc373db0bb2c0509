"""The limit is global: separate server processes (``tornadopy.webserver.run``, one of them
with ``--processes=2``) count against one budget in the shared Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.appserver import AppServer
from tornado.httpclient import AsyncHTTPClient

from ratelimit.helpers import delete_prefix, new_prefix

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("redis_server")]

PROJECT = Path(__file__).resolve().parent / "project"


async def test_separate_processes_share_one_budget(tmp_path):
    prefix = new_prefix()
    env = {"RLSITE_PREFIX": prefix}
    servers = [
        AppServer("rlsite.settings", logdir=tmp_path, env=env, pythonpath=[str(PROJECT)], name="a"),
        AppServer(
            "rlsite.settings",
            logdir=tmp_path,
            env=env,
            pythonpath=[str(PROJECT)],
            name="b",
            args=["--processes=2"],
        ),
    ]
    http = AsyncHTTPClient(force_instance=True)
    try:
        for server in servers:
            server.start()
        answers = []
        for i in range(12):
            server = servers[i % 2]
            answers.append(
                await http.fetch(
                    f"{server.url}/hit", raise_error=False, headers={"Connection": "close"}
                )
            )
    finally:
        http.close()
        for server in servers:
            server.stop()
        await delete_prefix(prefix)
    codes = [r.code for r in answers]
    assert codes.count(200) == 5, codes
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}
    served_ok = {r.headers["X-Served-By"] for r in answers if r.code == 200}
    assert len(served_ok) >= 2  # admissions came from more than one process
