"""Throwaway Redis and memcached servers on free loopback ports, for fault tests.

Each one is a child process the test owns: it can be paused (``SIGSTOP``), resumed, killed and
restarted on the same port without touching the shared servers on 6379/11211. Redis runs with
``--save '' --appendonly no`` (no files). Always used as a context manager or fixture, which kills
the process (resuming it first if paused) however the test ends.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from tornadopy.testing import services_required


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_binary(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None
    )
    if path is None:
        msg = f"{name} is not installed"
        if services_required():
            pytest.fail(msg + " and TORNADOPY_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(msg)
    return path



def _all_threads_stopped(pid: int) -> bool:
    """True when every thread of ``pid`` is in the stopped state (``T``) per /proc."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return True
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            continue
        if state not in ("T", "t"):
            return False
    return True

class ServerProcess:
    """A server child process on ``127.0.0.1:port``."""

    name = "server"

    def __init__(self, port: int | None = None, *extra_args: str) -> None:
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def location(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def _answers(self) -> bool:
        raise NotImplementedError

    def start(self, timeout: float = 10.0) -> None:
        """Start the process and wait (bounded) until it answers."""
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise RuntimeError(f"{self.name} on port {self.port} exited at start-up")
            try:
                if self._answers():
                    return
            except OSError:
                pass
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"{self.name} on port {self.port} did not answer within {timeout} s")

    async def astart(self, timeout: float = 10.0) -> None:
        """:meth:`start` without blocking the event loop."""
        await asyncio.to_thread(self.start, timeout)

    def pause(self) -> None:
        """SIGSTOP, and wait until every thread of the server is stopped: the signal is
        delivered asynchronously, and a worker thread still running could answer one more
        request (seen in CI: a memcached get answered right after pause())."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not _all_threads_stopped(self.proc.pid):
            time.sleep(0.001)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        """SIGKILL and reap (resuming first if paused)."""
        if self.proc is None:
            return
        if self.paused:
            self.resume()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def _exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
        s.sendall(request)
        return s.recv(100)


class RedisProcess(ServerProcess):
    """``redis-server`` with no persistence on its own port."""

    name = "redis-server"

    def command(self) -> list[str]:
        return [
            require_binary("redis-server"),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            *self.extra_args,
        ]

    def _answers(self) -> bool:
        return _exchange(self.port, b"PING\r\n").startswith((b"+PONG", b"-NOAUTH"))


class MemcachedProcess(ServerProcess):
    """``memcached`` with 16 MB on its own port."""

    name = "memcached"

    def command(self) -> list[str]:
        cmd = [
            require_binary("memcached"),
            "-l",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-m",
            "16",
            "-U",
            "0",
        ]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        return cmd

    def _answers(self) -> bool:
        return _exchange(self.port, b"version\r\n").startswith(b"VERSION")
