"""nginx as a load balancer in front of loopback upstreams, run as a child process of the test.

::

    with NginxProcess([8001, 8002], workdir=tmp_path / "nginx") as lb:
        lb.port                      # nginx listens on 127.0.0.1:lb.port

Everything nginx writes (config, pid, error and access logs, temp directories) lives under
``workdir``. nginx runs in the foreground with ``master_process off`` -- a single process, so
stopping or killing it leaves no orphaned worker behind. The upstream block balances round-robin;
a failed connection or a reset before the response started is retried on the next upstream
(``proxy_next_upstream error timeout``, idempotent and not), and a server that fails is taken
out of rotation for ``fail_timeout`` seconds. The proxy sends ``X-Real-IP``/``X-Forwarded-For``/
``X-Forwarded-Proto`` so a tornadopy upstream with ``XHEADERS`` and ``TRUSTED_PROXIES``
loopback sees the real client address.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from support.servers import free_port
from tornadopy.testing import services_required

NGINX = "/usr/sbin/nginx"

CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
{user}
events {{
    worker_connections 2048;
}}
http {{
    access_log {dir}/access.log combined;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream tornadopy {{
{servers}
        keepalive 32;
    }}

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;

        location / {{
            proxy_pass http://tornadopy;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 1s;
            proxy_read_timeout 10s;
            proxy_next_upstream error timeout non_idempotent;
            proxy_next_upstream_tries 2;
        }}
    }}
}}
"""


def require_nginx() -> str:
    path = NGINX if os.path.exists(NGINX) else shutil.which("nginx")
    if path is None:
        msg = "nginx is not installed (Debian package nginx)"
        if services_required():
            pytest.fail(msg + " and TORNADOPY_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(msg)
    return path


class NginxProcess:
    """A foreground, single-process nginx balancing ``upstream_ports`` on 127.0.0.1."""

    def __init__(
        self,
        upstream_ports: Iterable[int],
        *,
        workdir: str | os.PathLike[str],
        port: int | None = None,
        max_fails: int = 1,
        fail_timeout: int = 10,
    ) -> None:
        self.upstream_ports = list(upstream_ports)
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.max_fails = max_fails
        self.fail_timeout = fail_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        servers = "\n".join(
            f"        server 127.0.0.1:{p} max_fails={self.max_fails} "
            f"fail_timeout={self.fail_timeout}s;"
            for p in self.upstream_ports
        )
        user = "user root root;" if os.geteuid() == 0 else ""
        return CONFIG.format(dir=self.workdir, servers=servers, port=self.port, user=user)

    def start(self, timeout: float = 10.0) -> None:
        binary = require_nginx()
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "nginx.conf"
        conf.write_text(self.config())
        with open(self.workdir / "stderr.log", "ab") as err:
            self.proc = subprocess.Popen(
                [
                    binary,
                    "-p",
                    str(self.workdir),
                    "-e",
                    str(self.workdir / "error.log"),
                    "-c",
                    str(conf),
                ],
                stdout=err,
                stderr=err,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited at start-up:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        texts = []
        for name in ("stderr.log", "error.log"):
            path = self.workdir / name
            if path.exists():
                texts.append(path.read_text(errors="replace"))
        return "\n".join(texts)

    def access_log(self) -> list[str]:
        path = self.workdir / "access.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def stop(self) -> None:
        """Fast shutdown (SIGTERM), bounded; SIGKILL if it does not exit."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> NginxProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
