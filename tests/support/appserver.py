"""A tornadopy server as a real child process (``tornadopy.webserver.run``) on a loopback port.

::

    server = AppServer("relsite.settings", env={"RELSITE_REDIS": "127.0.0.1:6379"},
                       pythonpath=[PROJECT_DIR], logdir=tmp_path)
    server.start()            # waits (bounded) until the port accepts connections
    server.pid, server.port
    server.terminate()        # SIGTERM; server.wait() -> exit code
    server.kill()             # SIGKILL

stdout and stderr go to files in ``logdir`` (``server.output()`` reads them) so a busy server
never blocks on a full pipe. Always used as a context manager or stopped in a ``finally``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from support.servers import free_port

RUN = "from tornadopy.webserver import run; run()"


class AppServer:
    """``python -c 'run()' --port=P --settings=S`` with its own environment."""

    def __init__(
        self,
        settings: str,
        *,
        logdir: str | os.PathLike[str],
        env: dict[str, str] | None = None,
        pythonpath: Iterable[str] = (),
        port: int | None = None,
        args: Iterable[str] = (),
        name: str = "app",
    ) -> None:
        self.settings = settings
        self.port = port or free_port()
        self.env = dict(env or {})
        self.pythonpath = list(pythonpath)
        self.args = list(args)
        self.name = name
        self.logdir = Path(logdir)
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _files(self) -> tuple[Path, Path]:
        return (
            self.logdir / f"{self.name}-{self.port}.out",
            self.logdir / f"{self.name}-{self.port}.err",
        )

    def start(self, timeout: float = 20.0) -> None:
        env = dict(os.environ)
        env.pop("tornadopy_APP_SETTINGS", None)
        env.pop("TORNADOPY_APP_SETTINGS", None)
        env["PYTHONPATH"] = os.pathsep.join(
            [*self.pythonpath, *filter(None, [env.get("PYTHONPATH")])]
        )
        env.update(self.env)
        self.logdir.mkdir(parents=True, exist_ok=True)
        out, err = self._files()
        with open(out, "ab") as fout, open(err, "ab") as ferr:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    RUN,
                    f"--port={self.port}",
                    f"--settings={self.settings}",
                    *self.args,
                ],
                stdout=fout,
                stderr=ferr,
                env=env,
                cwd=str(self.logdir),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited at start-up ({self.proc.returncode}):\n{self.output()}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.name} did not listen within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        out, err = self._files()
        texts = []
        for path in (out, err):
            if path.exists():
                texts.append(path.read_text(errors="replace"))
        return "\n".join(texts)

    def stderr(self) -> str:
        err = self._files()[1]
        return err.read_text(errors="replace") if err.exists() else ""

    def stdout(self) -> str:
        out = self._files()[0]
        return out.read_text(errors="replace") if out.exists() else ""

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.returncode = self.proc.wait(timeout=timeout)
        return self.returncode

    def kill(self) -> None:
        """SIGKILL and reap (no-op when not running)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.returncode = self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait (bounded), SIGKILL if it did not exit; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.terminate()
            try:
                return self.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.returncode = self.proc.wait(timeout=10)
        return self.returncode

    def __enter__(self) -> AppServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
