"""A tiny HTTP/1.1 client over a raw socket, for what ordinary clients hide: interim 100
responses, duplicate headers, chunk boundaries, HEAD framing, half-sent bodies."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    status: int
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunks: list[bytes] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]


class RawConnection:
    """One keep-alive connection; ``await conn.request(...)`` or send and read by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> RawConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_head(self, timeout: float = 10) -> RawResponse:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ", 2)[:2]
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name.strip().lower(), value.strip()))
        return RawResponse(int(status), version, headers)

    async def read_body(self, resp: RawResponse, head_request: bool = False, timeout: float = 10):
        if head_request or resp.status in (204, 304) or 100 <= resp.status < 200:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            while True:
                size_line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), timeout)
                size = int(size_line.strip().split(b";")[0], 16)
                data = await asyncio.wait_for(self.reader.readexactly(size + 2), timeout)
                if size == 0:
                    break
                resp.chunks.append(data[:-2])
            resp.body = b"".join(resp.chunks)
        elif resp.header("content-length") is not None:
            length = int(resp.header("content-length") or 0)
            resp.body = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        else:
            resp.body = await asyncio.wait_for(self.reader.read(), timeout)
        return resp

    async def read_response(self, head_request: bool = False, timeout: float = 10) -> RawResponse:
        resp = await self.read_head(timeout)
        return await self.read_body(resp, head_request, timeout)

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        version: str = "HTTP/1.1",
    ) -> RawResponse:
        hdrs = {"Host": "127.0.0.1"} if version == "HTTP/1.1" else {}
        hdrs.update(headers or {})
        if body and "Content-Length" not in hdrs:
            hdrs["Content-Length"] = str(len(body))
        head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        await self.send(head.encode("latin-1") + b"\r\n" + body)
        return await self.read_response(head_request=method == "HEAD")

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


async def raw(port: int, method: str, path: str, **kwargs) -> RawResponse:
    """One request on a fresh connection."""
    conn = await RawConnection.open(port)
    try:
        return await conn.request(method, path, **kwargs)
    finally:
        await conn.close()
