"""A loopback TCP proxy (asyncio) that can delay replies or drop requests -- for fault tests.

::

    async with TcpProxy("127.0.0.1", 11211) as proxy:      # listens on proxy.port
        proxy.delay = 0.3          # every reply chunk from upstream waits 0.3 s
        proxy.drop = True          # new requests: close the client side without answering

Nothing is buffered beyond what asyncio streams hold; ``connections`` counts accepted client
connections, ``active`` the ones still open.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class TcpProxy:
    """Forward 127.0.0.1:<port> to ``upstream``; replies are held ``delay`` seconds each."""

    def __init__(self, host: str, port: int, *, delay: float = 0.0) -> None:
        self.upstream = (host, port)
        self.delay = delay
        self.drop = False
        self.connections = 0
        self.active = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def location(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.active += 1
        self._writers.add(writer)
        up_writer = None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            self._writers.add(up_writer)
            pumps = [
                asyncio.create_task(self._pump(reader, up_writer, to_upstream=True, client=writer)),
                asyncio.create_task(self._pump(up_reader, writer, to_upstream=False)),
            ]
            self._tasks.update(pumps)
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for task in pumps:
                task.cancel()
        except OSError:
            pass
        finally:
            self.active -= 1
            for w in (writer, up_writer):
                if w is not None:
                    w.close()
                    self._writers.discard(w)

    async def _pump(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        *,
        to_upstream: bool,
        client: asyncio.StreamWriter | None = None,
    ) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while True:
                data = await src.read(65536)
                if not data:
                    return
                if to_upstream and self.drop:
                    assert client is not None
                    client.close()  # answer nothing: the client sees EOF mid-command
                    return
                if not to_upstream and self.delay:
                    await asyncio.sleep(self.delay)
                dst.write(data)
                await dst.drain()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for w in list(self._writers):
            w.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
