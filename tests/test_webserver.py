"""The web server (SPEC §2): real processes, real sockets, real signals."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from tornado.httpclient import AsyncHTTPClient

from tornadopy.application import Application
from tornadopy.conf import ENVIRONMENT_VARIABLE, override_settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.webserver import Server

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(
    *args, settings="coreproj.settings.prod_ok", code="from tornadopy.webserver import run; run()"
):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=APPS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop(ENVIRONMENT_VARIABLE, None)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, f"--port={port}", f"--settings={settings}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {proc.communicate()}") from None
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not start")


async def test_in_flight_request_completes_on_sigterm_and_exit_code_is_0():
    proc, port = start()
    try:
        client = AsyncHTTPClient(force_instance=True)
        pending = asyncio.ensure_future(
            client.fetch(f"http://127.0.0.1:{port}/slow?s=1", raise_error=False, request_timeout=10)
        )
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.2)
        with pytest.raises(OSError):  # no longer accepting
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        resp = await pending
        assert resp.code == 200 and resp.body == b"slow done"
        assert proc.wait(timeout=10) == 0
        client.close()
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_processes_flag_forks_workers_that_share_the_socket():
    proc, port = start("--processes=2")
    try:
        client = AsyncHTTPClient(force_instance=True)
        for _ in range(20):
            resp = await client.fetch(f"http://127.0.0.1:{port}/plain", raise_error=False)
            assert resp.code == 200
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) == 2
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_debug_prints_the_startup_summary():
    proc, port = start(settings="coreproj.settings.base")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "tornadopy is running (DEBUG)" in out
    assert "apps: coreproj.shop" in out and "template engine: tornado" in out
    assert f"http://127.0.0.1:{port}/" in out


def test_user_defines_before_parse_command_work():
    code = (
        "from tornado.options import define, options\n"
        "define('flavour', default='plain', type=str)\n"
        "from tornadopy.webserver import Server\n"
        "s = Server(); s.parse_command(); print('flavour=' + options.flavour)\n"
    )
    env = dict(os.environ, PYTHONPATH=APPS)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "--flavour=mint",
            "--settings=coreproj.settings.base",
            "--disable_log",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=20,
    )
    assert "flavour=mint" in out.stdout, out.stderr


def test_load_application_refuses_non_applications():
    import tornado.web

    server = Server()
    with pytest.raises(ImproperlyConfigured, match="tornado.web.Application"):
        server.load_application(tornado.web.Application)
    with pytest.raises(ImproperlyConfigured, match="instance or subclass"):
        server.load_application("app")
    with override_settings(INSTALLED_APPS=()):

        class MyApp(Application):
            pass

        assert isinstance(server.load_application(MyApp), MyApp)


async def test_server_option_serves_the_same_site_with_uvicorn():
    proc, port = start("--server=uvicorn")
    try:
        client = AsyncHTTPClient(force_instance=True)
        resp = await client.fetch(f"http://127.0.0.1:{port}/plain", raise_error=False)
        assert resp.code == 200 and resp.body == b"plain tornado"
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
