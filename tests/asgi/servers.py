"""Run the test site (tests/asgi/project/asgisite) under a real server in a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.join(HERE, "project")
ROOT = os.path.dirname(os.path.dirname(HERE))

SERVERS = ("tornado", "uvicorn", "granian")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(kind: str, port: int, processes: int = 1) -> list[str]:
    """The command line that serves the site with ``kind``.

    ``uvicorn``/``granian`` are the servers' own command lines; ``<server>-serve_with`` goes
    through ``tornadopy.asgi.serve_with`` (``-serve_with-class``: with an Application subclass;
    ``-serve_with-portlogs``: log file names with the port).
    """
    py = sys.executable
    if kind == "tornado":
        return [py, "-m", "asgisite.runserver", f"--port={port}", "--address=127.0.0.1"]
    if kind == "uvicorn":  # the documented command line
        return [
            py, "-m", "uvicorn", "asgisite.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--no-server-header", "--no-date-header", "--no-access-log",
            "--lifespan", "on", "--timeout-graceful-shutdown", "5",
        ]  # fmt: skip
    if kind == "granian":
        return [
            py, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
            "--port", str(port), "--no-ws", "asgisite.asgi:application",
        ]  # fmt: skip
    if "-serve_with" in kind:  # through tornadopy.asgi.serve_with, flags after it
        flags = kind.split("-serve_with")[1].split("-")[1:]
        return [py, "-m", "asgisite.serve", kind.split("-")[0], str(port), str(processes), *flags]
    raise ValueError(kind)


@dataclass
class LiveServer:
    kind: str
    port: int
    proc: subprocess.Popen
    log_path: str
    directory: str
    shutdown_file: str
    extra: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        with open(self.log_path, errors="replace") as fh:
            return fh.read()[-6000:]

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, wait for a clean exit (SIGKILL after ``timeout``); the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(
                    f"{self.kind} did not stop within {timeout}s after SIGTERM\n{self.log()}"
                ) from None
        return self.proc.returncode


def _wait_ready(server: LiveServer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(
                f"{server.kind} exited with {server.proc.returncode} while starting\n{server.log()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1) as sock:
                sock.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                sock.settimeout(5)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    server.proc.kill()
    raise AssertionError(f"{server.kind} did not answer within {timeout}s\n{server.log()}")


def spawn(
    kind: str, directory: str, processes: int = 1, settings: str = "asgisite.settings"
) -> LiveServer:
    """Start serving the site with ``kind`` on a free loopback port (not waiting for it)."""
    os.makedirs(directory, exist_ok=True)
    port = free_port()
    log_path = os.path.join(directory, f"{kind}.log")
    shutdown_file = os.path.join(directory, "shutdown.txt")
    env = dict(os.environ)
    env.pop("TORNADOPY_APP_SETTINGS", None)
    env.update(
        tornadopy_APP_SETTINGS=settings,
        TP_ASGI_DIR=directory,
        TP_ASGI_SHUTDOWN_FILE=shutdown_file,
        PYTHONPATH=os.pathsep.join([PROJECT, ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        PYTHONUNBUFFERED="1",
    )
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command(kind, port, processes),
            cwd=directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return LiveServer(kind, port, proc, log_path, directory, shutdown_file)


@contextlib.contextmanager
def run_server(kind: str, directory: str, processes: int = 1) -> Iterator[LiveServer]:
    """Serve the site with ``kind`` on a free loopback port for the block."""
    server = spawn(kind, directory, processes)
    proc = server.proc
    try:
        _wait_ready(server)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
