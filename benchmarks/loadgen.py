"""A small HTTP/1.1 keep-alive load generator, used by :mod:`benchmarks.run` when ``wrk`` is absent.

::

    python -m benchmarks.loadgen http://127.0.0.1:PORT/plaintext -c 64 -d 5 [-n REQUESTS]

Reads ``Content-Length`` and chunked responses. Opens ``-c`` keep-alive connections, each sending one GET at a time for ``-d`` seconds (or until
``-n`` requests in all were sent), and
prints one JSON line: ``requests``, ``seconds``, ``rps``, ``p50_ms``, ``p99_ms``, ``errors``
(non-2xx responses and socket errors). Uses uvloop when it imports. It is one Python process on
one core: it saturates at a few tens of thousands of requests/s, well above what one Tornado
process serves, but wrk is the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit


class _Conn(asyncio.Protocol):
    """One keep-alive connection sending the same request again as each response completes."""

    def __init__(self, request: bytes, stats: _Stats, deadline: float) -> None:
        self.request = request
        self.stats = stats
        self.deadline = deadline
        self.buf = b""
        self.sent_at = 0.0
        self.need: int | None = None  # bytes of the current response (headers + body)
        self.status = 0
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check
        self.transport = cast(asyncio.Transport, transport)
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if not self.stats.take():
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.need is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end].decode("latin-1")
                lines = head.split("\r\n")
                try:
                    self.status = int(lines[0].split(" ", 2)[1])
                except (IndexError, ValueError):
                    self._fail()
                    return
                length = 0
                chunked = False
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value.strip())
                    elif name == "transfer-encoding" and "chunked" in value.lower():
                        chunked = True
                self.need = -(end + 4) if chunked else end + 4 + length
            if self.need < 0:  # chunked body from offset -need: complete yet?
                body_end = _chunked_end(self.buf, -self.need)
                if body_end < 0:
                    return
                self.need = body_end
            if len(self.buf) < self.need:
                return
            self.buf = self.buf[self.need :]
            self.need = None
            now = time.perf_counter()
            self.stats.record(now - self.sent_at, 200 <= self.status < 400, self.status)
            if now >= self.deadline:
                assert self.transport is not None
                self.transport.close()
                return
            self._send()

    def _fail(self) -> None:
        self.stats.errors += 1
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self.stats.errors += 1
        if not self.closed.done():
            self.closed.set_result(None)


def _chunked_end(buf: bytes, pos: int) -> int:
    """The end offset of a chunked body starting at ``pos`` in ``buf``, or -1 if incomplete."""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return -1
        size = int(buf[pos:eol].split(b";", 1)[0], 16)
        pos = eol + 2
        if size == 0:  # last chunk, then (no trailers here) an empty line
            end = buf.find(b"\r\n", pos)
            while end > pos:  # skip trailer lines
                pos = end + 2
                end = buf.find(b"\r\n", pos)
            return -1 if end < 0 else end + 2
        pos += size + 2
        if pos > len(buf):
            return -1


class _Stats:
    def __init__(self, limit: int | None = None) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.bad_statuses: dict[int, int] = {}  # status -> count of the non-2xx/3xx answers
        self.limit = limit  # total requests to send (None: until the deadline)

    def take(self) -> bool:
        """May one more request be sent?"""
        if self.limit is None:
            return True
        if self.limit <= 0:
            return False
        self.limit -= 1
        return True

    def record(self, seconds: float, ok: bool, status: int = 0) -> None:
        self.latencies.append(seconds)
        if not ok:
            self.errors += 1
            self.bad_statuses[status] = self.bad_statuses.get(status, 0) + 1


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


async def load(
    url: str,
    connections: int,
    duration: float,
    requests: int | None = None,
    headers: list[str] | None = None,
) -> dict[str, float]:
    """Run the load and return the figures (see the module docstring).

    With ``requests``, stop after that many requests in all (or at ``duration``, if sooner).
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    extra = "".join(f"{h.strip()}\r\n" for h in headers or ())
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: benchmarks.loadgen\r\n"
        f"Accept: */*\r\n{extra}\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    stats = _Stats(requests)
    start = time.perf_counter()
    deadline = start + duration
    conns: list[_Conn] = []
    for _ in range(connections):
        try:
            _, proto = await loop.create_connection(
                lambda: _Conn(request, stats, deadline), host, port
            )
            conns.append(proto)
        except OSError:
            stats.errors += 1
    if conns:
        await asyncio.wait_for(asyncio.gather(*(c.closed for c in conns)), timeout=duration + 30)
    elapsed = time.perf_counter() - start
    lat = sorted(stats.latencies)
    return {
        "requests": len(lat),
        "seconds": elapsed,
        "rps": len(lat) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": _percentile(lat, 0.50) * 1000,
        "p99_ms": _percentile(lat, 0.99) * 1000,
        "errors": stats.errors,
        **({"bad_statuses": stats.bad_statuses} if stats.bad_statuses else {}),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Small HTTP/1.1 keep-alive load generator.")
    parser.add_argument("url")
    parser.add_argument("-c", "--connections", type=int, default=64)
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    parser.add_argument(
        "-H", "--header", action="append", default=[], help="extra header 'Name: value'"
    )
    parser.add_argument("-n", "--requests", type=int, default=None, help="stop after N requests")
    args = parser.parse_args(argv)
    factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        pass
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(
            load(args.url, args.connections, args.duration, args.requests, args.header)
        )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
