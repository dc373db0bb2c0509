"""The same site, the same tests, under Tornado's own server, uvicorn and granian (SPEC §2b).

Each server runs as a real subprocess on a loopback port (see conftest.py); requests go over
real sockets.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid

import pytest
from tornado.httpclient import AsyncHTTPClient

from tornadopy.testing import Client

from .rawhttp import RawConnection, raw

LIMIT = 64 * 1024  # HTTP_SERVER['max_body_size'] of the test site


@pytest.fixture
async def client(live_server):
    c = Client(live_server.url)
    yield c
    c.close()


def token() -> str:
    return uuid.uuid4().hex[:12]


async def state(server) -> dict:
    resp = await raw(server.port, "GET", "/state")
    return json.loads(resp.body)["state"]


async def wait_for_state(server, key: str, timeout: float = 5) -> list:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await state(server)
        if key in current:
            return current[key]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{key!r} never recorded; state: {current}")
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------- basics


async def test_get(client):
    resp = await client.get("/hello")
    assert resp.code == 200
    assert resp.body == b"hello"
    assert resp.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert resp.headers["Content-Length"] == "5"


async def test_one_date_and_one_server_header_from_tornado(live_server):
    resp = await raw(live_server.port, "GET", "/hello")
    assert resp.status == 200
    assert len(resp.all("date")) == 1, resp.headers
    assert resp.all("server") == ["TornadoServer/6.6.1"] or resp.all("server")[0].startswith(
        "TornadoServer/"
    )
    assert len(resp.all("server")) == 1, resp.headers


async def test_head_sends_headers_without_body_and_keeps_the_connection(live_server):
    conn = await RawConnection.open(live_server.port)
    try:
        head = await conn.request("HEAD", "/hello")
        assert head.status == 200
        assert head.header("content-length") == "5"
        assert head.body == b""
        # no stray body bytes: the next response on the same connection parses cleanly
        after = await conn.request("GET", "/ping")
        assert (after.status, after.body) == (200, b"pong")
    finally:
        await conn.close()


async def test_post_form(client):
    resp = await client.post("/hello", data={"name": "zoë"})
    assert resp.code == 200
    data = json.loads(resp.body)
    assert data["name"] == "zoë"
    assert data["body_len"] == len("name=zo%C3%AB")


async def test_post_body_in_several_pieces(live_server):
    body = os.urandom(40 * 1024)
    conn = await RawConnection.open(live_server.port)
    try:
        head = (
            "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        await conn.send(head.encode())
        for i in range(0, len(body), 8192):
            await conn.send(body[i : i + 8192])
            await asyncio.sleep(0.01)
        resp = await conn.read_response()
    finally:
        await conn.close()
    assert resp.status == 200
    data = json.loads(resp.body)
    assert data["body_len"] == len(body)
    assert data["sha"] == hashlib.sha256(body).hexdigest()


async def test_not_found(client):
    resp = await client.get("/no/such/page")
    assert resp.code == 404


async def test_request_info_from_the_server(client):
    data = json.loads((await client.get("/info?a=1&b=%2F")).body)
    assert data["remote_ip"] == "127.0.0.1"
    assert data["protocol"] == "http"
    assert data["version"] == "HTTP/1.1"
    assert data["uri"] == "/info?a=1&b=%2F"
    assert data["query"] == "a=1&b=%2F"


async def test_http10_without_host(live_server):
    # granian reports HTTP/1.0 as "1" and an empty Host: the request is still HTTP/1.0 with
    # Tornado's default host
    resp = await raw(live_server.port, "GET", "/info", version="HTTP/1.0")
    assert resp.status == 200
    data = json.loads(resp.body)
    assert data["version"] == "HTTP/1.0"
    assert data["host"] == "127.0.0.1"


async def test_encoded_slash_in_a_path_argument(client):
    resp = await client.get("/path/a%2Fb/tail")
    assert resp.code == 200
    data = json.loads(resp.body)
    assert data["arg"] == "a/b"
    assert data["uri"] == "/path/a%2Fb/tail"


# ---------------------------------------------------------------------- responses


async def test_several_cookies(client):
    resp = await client.get("/cookies")
    assert resp.code == 200
    cookies = resp.headers.get_list("Set-Cookie")
    assert len(cookies) == 3, cookies
    names = sorted(c.split("=", 1)[0] for c in cookies)
    assert names == ["first", "second", "signed"]
    assert any("HttpOnly" in c for c in cookies if c.startswith("second="))


@pytest.mark.parametrize(("query", "status"), [("", 302), ("?permanent=1", 301)])
async def test_redirect(client, query, status):
    resp = await client.get("/redirect" + query)
    assert resp.code == status
    assert resp.headers["Location"] == "/hello"


async def test_not_modified(client):
    first = await client.get("/etag")
    assert first.code == 200
    etag = first.headers["Etag"]
    resp = await client.get("/etag", headers={"If-None-Match": etag})
    assert resp.code == 304
    assert resp.body == b""
    assert "Content-Length" not in resp.headers or resp.headers["Content-Length"] == "0"


async def test_flushed_response_streams(live_server):
    tok = token()
    conn = await RawConnection.open(live_server.port)
    try:
        await conn.send(f"GET /stream?token={tok} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        resp = await conn.read_head()
        assert resp.status == 200
        assert resp.header("transfer-encoding") == "chunked"
        # the first chunk arrives while the handler still waits for /release
        size_line = await asyncio.wait_for(conn.reader.readuntil(b"\r\n"), 5)
        first = await conn.reader.readexactly(int(size_line, 16) + 2)
        assert first == b"first\n\r\n"
        released = await raw(live_server.port, "GET", f"/release?token={tok}")
        assert released.status == 200
        rest = await conn.read_body(resp)
        assert rest.body == b"chunk-0\nchunk-1\nchunk-2\nlast\n"
    finally:
        await conn.close()


# ---------------------------------------------------------------------- middleware


async def test_middleware_hooks_run(client, live_server):
    tok = token()
    resp = await client.get(f"/hooks?token={tok}")
    assert resp.code == 200
    assert resp.body == b"hooks:call,request"
    assert resp.headers["X-Hooks"] == "call,request,response"
    assert await wait_for_state(live_server, f"endcall:{tok}") == [200]


async def test_lifespan_startup_ran_process_init(client):
    data = json.loads((await client.get("/init")).body)
    assert data["init_pid"] == data["pid"]


# ---------------------------------------------------------------------- request bodies


async def test_streamed_upload(live_server):
    body = os.urandom(300 * 1024)  # over the site's 64 KiB limit: the handler raised its own
    pieces = [body[i : i + 16 * 1024] for i in range(0, len(body), 16 * 1024)]

    async def producer(write):
        for piece in pieces:
            await write(piece)
            await asyncio.sleep(0.005)

    http = AsyncHTTPClient(force_instance=True)
    try:
        resp = await http.fetch(
            f"{live_server.url}/upload",
            method="POST",
            body_producer=producer,
            headers={"Content-Type": "application/octet-stream"},
            raise_error=False,
            request_timeout=30,
        )
    finally:
        http.close()
    assert resp.code == 200, resp.body
    data = json.loads(resp.body)
    assert data["size"] == len(body)
    assert data["sha"] == hashlib.sha256(body).hexdigest()
    assert data["chunks"] > 1


async def test_streamed_upload_answered_while_it_arrives(live_server):
    # the handler flushes a response chunk for every body chunk it gets (and waits for it)
    body = b"abcdefgh" * 4096
    conn = await RawConnection.open(live_server.port)
    try:
        head = f"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n"
        await conn.send(head.encode() + body)
        resp = await conn.read_response(timeout=10)
    finally:
        await conn.close()
    assert resp.status == 200
    assert resp.body == body.upper() + f"|{len(body)}".encode()


async def test_client_gone_during_a_streamed_upload_reaches_on_connection_close(live_server):
    tok = token()
    conn = await RawConnection.open(live_server.port)
    head = f"POST /upload?token={tok} HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"
    await conn.send(head.encode() + b"x" * 20000)
    await asyncio.sleep(0.3)
    await conn.close()
    sizes = await wait_for_state(live_server, f"upload-closed:{tok}")
    assert sizes and 0 < sizes[0] <= 20000


async def test_client_gone_reaches_on_connection_close(live_server):
    tok = token()
    conn = await RawConnection.open(live_server.port)
    await conn.send(f"GET /wait?token={tok} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    await asyncio.sleep(0.3)
    await conn.close()
    assert await wait_for_state(live_server, f"wait-closed:{tok}") == [True]
    await raw(live_server.port, "GET", f"/release?token={tok}")


def _too_large_status(kind: str) -> int:
    # Tornado's own server answers an over-long body with 400 (HTTPInputError) and closes;
    # tornadopy's ASGI adapter answers 413 Payload Too Large
    return 400 if kind == "tornado" else 413


async def test_body_over_the_limit_by_content_length(live_server):
    conn = await RawConnection.open(live_server.port)
    try:
        head = f"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: {LIMIT + 1}\r\n\r\n"
        await conn.send(head.encode())
        resp = await conn.read_response()
    finally:
        await conn.close()
    assert resp.status == _too_large_status(live_server.kind)


async def test_chunked_body_over_the_limit(live_server):
    conn = await RawConnection.open(live_server.port)
    status: int | None = None
    try:
        await conn.send(b"POST /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = b"y" * 16384
        for _ in range(5):  # 80 KiB > 64 KiB
            await conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        status = (await conn.read_response()).status
    except (ConnectionResetError, BrokenPipeError):
        # Tornado's own server answers 400 and closes at once, with the rest of the body
        # unread: the kernel then resets the connection, and a reset that arrives before the
        # client read the answer discards it (seen about 1 run in 10). Still a refusal.
        if live_server.kind != "tornado":
            raise
    finally:
        await conn.close()
    if status is None:  # refused by a reset: the server goes on serving
        assert (await raw(live_server.port, "GET", "/hello")).status == 200
    else:
        assert status == _too_large_status(live_server.kind)


async def test_body_at_the_limit_is_accepted(live_server):
    body = b"z" * LIMIT
    resp = await raw(live_server.port, "POST", "/hello", body=body)
    assert resp.status == 200
    assert json.loads(resp.body)["body_len"] == LIMIT


async def test_expect_100_continue(live_server):
    body = b"name=continued"
    conn = await RawConnection.open(live_server.port)
    try:
        head = (
            "POST /hello HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        await conn.send(head.encode())
        interim = await conn.read_head(timeout=5)  # the body is not sent before this arrives
        assert interim.status == 100
        await conn.send(body)
        resp = await conn.read_response()
    finally:
        await conn.close()
    assert resp.status == 200
    assert json.loads(resp.body)["name"] == "continued"


async def test_expect_100_continue_refused_when_too_large(live_server):
    conn = await RawConnection.open(live_server.port)
    try:
        head = (
            "POST /hello HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
            f"Content-Length: {LIMIT * 4}\r\n\r\n"
        )
        await conn.send(head.encode())
        statuses = [(await conn.read_head(timeout=5)).status]
        if statuses[0] == 100:
            statuses.append((await conn.read_head(timeout=5)).status)
    finally:
        await conn.close()
    if live_server.kind == "tornado":
        assert statuses == [100, 400]  # Tornado checks the length only after its 100 Continue
    else:
        assert statuses == [413]  # refused before any 100 Continue: the body is never sent


# ---------------------------------------------------------------------- errors and streams


async def test_handler_error_is_a_500_page(client):
    resp = await client.get("/boom")
    assert resp.code == 500
    assert b"500: Internal Server Error" in resp.body


async def test_service_unavailable_is_a_503(client):
    resp = await client.get("/unavailable")
    assert resp.code == 503


async def test_invalid_host_is_a_400(live_server):
    resp = await raw(live_server.port, "GET", "/hello", headers={"Host": "a,b"})
    assert resp.status == 400


async def test_client_gone_during_a_streamed_response_fails_the_next_flush(live_server):
    tok = token()
    conn = await RawConnection.open(live_server.port)
    await conn.send(f"GET /ticker?token={tok} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    resp = await conn.read_head()
    assert resp.status == 200
    await asyncio.wait_for(conn.reader.readuntil(b"tick 1\n"), 5)
    await conn.close()
    stopped = await wait_for_state(live_server, f"ticker-stopped:{tok}")
    assert stopped != ["never"]
    assert 1 <= stopped[0] < 100
