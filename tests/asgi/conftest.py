"""Fixtures serving the test site (tests/asgi/project/asgisite) under real servers.

``live_server`` is parametrized over Tornado's own server, uvicorn and granian (one process per
server for the whole module); ``start_server`` starts a private one for a test that stops it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from .servers import SERVERS, LiveServer, run_server


@pytest.fixture(scope="module", params=SERVERS)
def live_server(request, tmp_path_factory) -> Iterator[LiveServer]:
    """The site under each server in turn (one process per server for the module)."""
    directory = str(tmp_path_factory.mktemp(f"asgi-{request.param}"))
    with run_server(request.param, directory) as server:
        yield server


@pytest.fixture
def start_server(tmp_path):
    """``start_server(kind, processes=1)``: a private server for this test, stopped after it."""
    stack = contextlib.ExitStack()

    def start(kind: str, processes: int = 1) -> LiveServer:
        return stack.enter_context(run_server(kind, str(tmp_path / kind), processes))

    with stack:
        yield start
