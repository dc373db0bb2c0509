"""A small asyncio HTTP/1.1 client and a bounded load runner, for load and fault tests.

The client speaks raw HTTP/1.1 over keep-alive connections (so a test can send any header bytes,
bind a chosen loopback source address and see exactly what the server answered). It never
retries: a failed exchange is recorded as status 0 with the error, and the next request opens a
new connection.

::

    conn = HttpConnection("127.0.0.1", port)
    resp = await conn.request("GET", "/s/whoami", headers={"Cookie": "sid=..."})
    resp.status, resp.header("x-served-by"), resp.json()

    rec = Recorder()
    await run_for(6.0, [worker(i) for i in range(8)], rec)   # each worker: async def (rec)
    rec.mark("fault")                                         # timestamps for phases
    rec.counts(rec.between(0, rec.marks["fault"]))            # {200: 812, 503: 3}

Only loopback addresses are used by the tests that import this; every loop is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

__all__ = ["HttpConnection", "Recorder", "Response", "percentile", "run_for"]


@dataclass
class Response:
    """One request's outcome: ``status`` 0 means no HTTP answer (``error`` says why)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    start: float = 0.0
    end: float = 0.0
    error: str = ""
    tag: str = ""

    @property
    def latency(self) -> float:
        return self.end - self.start

    def header(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def header_list(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def json(self) -> Any:
        return json.loads(self.body)

    def cookie(self, name: str) -> str | None:
        """The value the response sets for cookie ``name`` ('' when it clears it), else None."""
        for header in self.header_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            if name in jar:
                morsel = jar[name]
                expired = (morsel["expires"] and "1970" in morsel["expires"]) or morsel[
                    "max-age"
                ] == "0"
                return "" if expired else morsel.value
        return None


class HttpConnection:
    """One keep-alive HTTP/1.1 connection to ``host:port`` (re-opened after a failure)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        local_addr: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.local_addr = local_addr
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.opened = 0  # connections opened so far

    async def _open(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.local_addr:
            kwargs["local_addr"] = (self.local_addr, 0)
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, **kwargs)
        self.opened += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | Iterable[tuple[str, str | bytes]] | None = None,
        body: bytes | None = None,
        timeout: float | None = None,
        raw_head: bytes | None = None,
    ) -> Response:
        """Send one request and read its response; never raises for HTTP or socket errors.

        ``raw_head`` replaces the request line and headers entirely (bytes up to and including
        the blank line), for hostile input.
        """
        start = time.monotonic()
        try:
            resp = await asyncio.wait_for(
                self._exchange(method, path, headers, body, raw_head), timeout or self.timeout
            )
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            self.close()
            return Response(0, start=start, end=time.monotonic(), error=_describe(exc))
        except TimeoutError:
            self.close()
            return Response(0, start=start, end=time.monotonic(), error="timeout")
        resp.start = start
        resp.end = time.monotonic()
        return resp

    async def _exchange(
        self,
        method: str,
        path: str,
        headers: Any,
        body: bytes | None,
        raw_head: bytes | None,
    ) -> Response:
        if self.writer is None or self.writer.is_closing():
            await self._open()
        assert self.reader is not None and self.writer is not None
        if raw_head is not None:
            head = raw_head
        else:
            items = list(headers.items() if isinstance(headers, dict) else (headers or []))
            names = {k.lower() for k, _ in items}
            lines = [f"{method} {path} HTTP/1.1".encode()]
            if "host" not in names:
                lines.append(f"Host: {self.host}:{self.port}".encode())
            for name, value in items:  # a bytes value is sent as it is
                if isinstance(value, str):
                    value = value.encode("utf-8", "surrogateescape")
                lines.append(name.encode("latin-1") + b": " + value)
            if body is not None and "content-length" not in names:
                lines.append(f"Content-Length: {len(body)}".encode())
            head = b"\r\n".join(lines) + b"\r\n\r\n"
        self.writer.write(head + (body or b""))
        await self.writer.drain()
        return await self._read_response(method)

    async def _read_response(self, method: str) -> Response:
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = []
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        resp = Response(status, headers)
        length = resp.header("content-length")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            resp.body = b""
        elif "chunked" in (resp.header("transfer-encoding") or "").lower():
            resp.body = await self._read_chunked()
        elif length is not None:
            resp.body = await self.reader.readexactly(int(length))
        else:
            resp.body = await self.reader.read()
            self.close()
        if (resp.header("connection") or "").lower() == "close":
            self.close()
        return resp

    async def _read_chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return "closed"
    return f"{type(exc).__name__}: {exc}"


class Recorder:
    """Collects responses and named time marks; counts them by status per time window."""

    def __init__(self) -> None:
        self.responses: list[Response] = []
        self.marks: dict[str, float] = {}
        self.t0 = time.monotonic()

    def add(self, resp: Response) -> Response:
        self.responses.append(resp)
        return resp

    def mark(self, name: str) -> float:
        self.marks[name] = time.monotonic()
        return self.marks[name]

    def ended_before(self, t: float) -> list[Response]:
        return [r for r in self.responses if r.end < t]

    def started_after(self, t: float) -> list[Response]:
        return [r for r in self.responses if r.start >= t]

    def overlapping(self, t1: float, t2: float) -> list[Response]:
        """Responses whose [start, end] overlaps [t1, t2]."""
        return [r for r in self.responses if r.end >= t1 and r.start <= t2]

    @staticmethod
    def counts(responses: Iterable[Response]) -> dict[int, int]:
        return dict(sorted(Counter(r.status for r in responses).items()))

    def summary(self, windows: dict[str, tuple[float, float]]) -> dict[str, dict[int, int]]:
        """Status counts per named window (by overlap), relative to nothing: absolute times."""
        return {name: self.counts(self.overlapping(a, b)) for name, (a, b) in windows.items()}

    def first_ok_after(self, t: float, status: int = 200) -> float | None:
        """End time of the first response with ``status`` that started at or after ``t``."""
        ends = [r.end for r in self.responses if r.start >= t and r.status == status]
        return min(ends) if ends else None


async def run_for(
    duration: float | None,
    workers: Iterable[Callable[[], Awaitable[None]]],
    *,
    during: Callable[[], Awaitable[None]] | None = None,
    after: float = 0.0,
) -> None:
    """Call every worker step in a loop, concurrently, then let the current steps finish.

    The loop lasts ``duration`` seconds; with ``duration=None`` it lasts until ``during`` (e.g.
    fault injection, which runs concurrently once) has returned, plus ``after`` seconds. A
    ``during`` that raises ends the load and re-raises.
    """
    stop = asyncio.Event()
    deadline = None if duration is None else time.monotonic() + duration

    async def loop(step: Callable[[], Awaitable[None]]) -> None:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            await step()

    async def run_during() -> None:
        try:
            if during is not None:
                await during()
            if duration is None:
                await asyncio.sleep(after)
        finally:
            if duration is None:
                stop.set()

    tasks = [asyncio.ensure_future(loop(w)) for w in workers]
    extra = asyncio.ensure_future(run_during())
    try:
        await asyncio.gather(*tasks, extra)
    finally:
        stop.set()
        for task in (*tasks, extra):
            if not task.done():
                task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*tasks, extra, return_exceptions=True)


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
