"""Slow-header clients (slowloris) in their own process, so the attack does not slow down the
test's own event loop (which measures normal requests meanwhile).

``python -m support.slowloris PORT COUNT SECONDS`` opens COUNT connections to 127.0.0.1:PORT,
each sending a request line and then one header line every 0.2 s, never finishing the head; it
prints one JSON list: per connection the seconds until the server closed it, ``null`` if it was
still open after SECONDS, ``-1`` if it could not connect.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def slow_header_socket(port: int, stop: float) -> float | None:
    opened = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return -1.0
    try:
        writer.write(f"GET /plain HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
        i = 0
        while time.monotonic() < stop:
            i += 1
            writer.write(f"X-Slow-{i}: {i}\r\n".encode())
            try:
                await writer.drain()
                data = await asyncio.wait_for(reader.read(1024), 0.2)
            except TimeoutError:
                continue
            except OSError:
                return time.monotonic() - opened
            if not data:
                return time.monotonic() - opened
        return None
    finally:
        writer.close()


async def attack(port: int, count: int, seconds: float) -> list[float | None]:
    stop = time.monotonic() + seconds
    return list(await asyncio.gather(*(slow_header_socket(port, stop) for _ in range(count))))


def main() -> None:
    port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    print(json.dumps(asyncio.run(attack(port, count, seconds))), flush=True)


if __name__ == "__main__":
    main()
