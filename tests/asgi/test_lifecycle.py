"""Start-up, shutdown, workers and launchers of the ASGI serving (SPEC §2b)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess

import pytest

from tornadopy.asgi import check_server
from tornadopy.exception import ImproperlyConfigured

from .rawhttp import raw
from .servers import spawn


def read_lines(path: str) -> list[str] | None:
    """The lines of a file the server wrote, or None when it does not exist."""
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return fh.read().splitlines()


LAUNCHERS = ("tornado", "uvicorn", "granian", "uvicorn-serve_with", "granian-serve_with")


@pytest.mark.parametrize("kind", LAUNCHERS)
async def test_startup_and_shutdown_hooks_run(start_server, kind):
    server = start_server(kind)
    resp = await raw(server.port, "GET", "/init")
    data = json.loads(resp.body)
    assert data["init_pid"] == data["pid"], "process_init did not run in the serving process"
    assert read_lines(server.shutdown_file) is None
    code = server.stop()
    # the uvicorn command re-raises SIGTERM after its graceful shutdown; the others exit 0
    assert code == (-signal.SIGTERM if kind == "uvicorn" else 0), server.log()
    lines = read_lines(server.shutdown_file)
    # process_shutdown ran once, in the process that served (and initialised) the site
    assert lines == [f"shutdown {data['pid']} init={data['pid']} state=0"], lines


@pytest.mark.parametrize("kind", ["uvicorn-serve_with", "granian-serve_with"])
async def test_serve_with_leaves_date_and_server_to_tornado(start_server, kind):
    server = start_server(kind)
    resp = await raw(server.port, "GET", "/hello")
    assert resp.status == 200
    assert len(resp.all("date")) == 1
    assert len(resp.all("server")) == 1
    assert resp.header("server").startswith("TornadoServer/")


@pytest.mark.parametrize("kind", ["uvicorn-serve_with", "granian-serve_with"])
async def test_serve_with_two_workers(start_server, kind):
    server = start_server(kind, processes=2)
    pids = set()
    for _ in range(60):
        resp = await raw(server.port, "GET", "/init")
        data = json.loads(resp.body)
        assert data["init_pid"] == data["pid"]  # every worker ran its own process_init
        pids.add(data["pid"])
        if len(pids) == 2:
            break
        await asyncio.sleep(0.01)
    assert len(pids) == 2, f"60 connections all went to {pids}"
    assert server.stop() == 0, server.log()
    shut = sorted(int(line.split()[1]) for line in read_lines(server.shutdown_file) or [])
    assert shut == sorted(pids)


async def test_uvicorn_proxy_headers_are_the_servers(start_server):
    # uvicorn trusts X-Forwarded-* from 127.0.0.1 by default (--forwarded-allow-ips)
    server = start_server("uvicorn")
    resp = await raw(
        server.port,
        "GET",
        "/info",
        headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
    )
    data = json.loads(resp.body)
    assert data["remote_ip"] == "203.0.113.7"
    assert data["protocol"] == "https"


async def test_granian_ignores_proxy_headers(start_server):
    server = start_server("granian")
    resp = await raw(server.port, "GET", "/info", headers={"X-Forwarded-For": "203.0.113.7"})
    data = json.loads(resp.body)
    assert data["remote_ip"] == "127.0.0.1"
    assert data["protocol"] == "http"


def test_check_server_names():
    assert check_server("tornado") == "tornado"
    assert check_server(" Uvicorn ") == "uvicorn"
    assert check_server("granian") == "granian"
    with pytest.raises(ImproperlyConfigured, match="SERVER is 'gunicorn'"):
        check_server("gunicorn")


@pytest.mark.parametrize("kind", ["tornado", "uvicorn", "granian"])
async def test_shutdown_lets_an_inflight_request_finish(start_server, kind):
    server = start_server(kind)
    conn_task = asyncio.ensure_future(raw(server.port, "GET", "/slow?seconds=1.5"))
    await asyncio.sleep(0.4)  # the request is in the handler now
    await asyncio.get_running_loop().run_in_executor(None, server.stop)
    resp = await asyncio.wait_for(conn_task, 10)
    assert (resp.status, resp.body) == (200, b"slow done")
    assert len(read_lines(server.shutdown_file) or []) == 1


@pytest.mark.parametrize(("kind", "processes"), [("uvicorn", 1), ("granian", 2)])
async def test_serve_with_an_application_subclass(start_server, kind, processes):
    server = start_server(f"{kind}-serve_with-class", processes=processes)
    pids = set()
    for _ in range(40):
        info = json.loads((await raw(server.port, "GET", "/info")).body)
        assert info["app_class"] == "SiteApplication"
        init = json.loads((await raw(server.port, "GET", "/init")).body)
        assert init["init_pid"] == init["pid"]
        pids.add(info["pid"])
        if len(pids) == processes:
            break
    assert len(pids) == processes
    assert server.stop() == 0, server.log()
    assert len(read_lines(server.shutdown_file) or []) == processes


def test_uvicorn_cannot_serve_a_given_application_with_several_processes():
    from tornadopy.application import Application
    from tornadopy.asgi import serve_with

    with pytest.raises(ImproperlyConfigured, match="uvicorn cannot serve a given Application"):
        serve_with("uvicorn", "127.0.0.1", 0, processes=2, application=Application)


async def test_serve_with_uvicorn_trusts_proxy_headers_only_with_xheaders(start_server):
    # the site has XHEADERS = False: uvicorn started by serve_with must not believe the header
    server = start_server("uvicorn-serve_with")
    resp = await raw(server.port, "GET", "/info", headers={"X-Forwarded-For": "203.0.113.7"})
    assert json.loads(resp.body)["remote_ip"] == "127.0.0.1"


@pytest.mark.parametrize("kind", LAUNCHERS)
def test_a_broken_site_does_not_start(tmp_path, kind):
    server = spawn(kind, str(tmp_path), settings="asgisite.settings_bad")
    try:
        code = server.proc.wait(60)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(5)
        raise AssertionError(f"{kind} kept running with a broken site\n{server.log()}") from None
    assert code != 0
    assert "asgisite.middleware.NoSuchMiddleware" in server.log()


@pytest.mark.parametrize("kind", ["uvicorn", "granian"])
async def test_serve_with_hands_the_logging_options_to_the_workers(start_server, kind):
    server = start_server(f"{kind}-serve_with-portlogs")
    resp = await raw(server.port, "GET", "/hello")
    assert resp.status == 200
    server.stop()
    logs = os.path.join(server.directory, "logs")
    assert read_lines(os.path.join(logs, f"access.{server.port}.log")), os.listdir(logs)
    assert read_lines(os.path.join(logs, "access.log")) is None
