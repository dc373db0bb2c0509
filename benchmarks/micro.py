"""In-process micro-benchmark: CPU time per request through each server's application, no sockets.

::

    python -m benchmarks.micro                        # every default server x test, 5 rounds
    python -m benchmarks.micro --requests 20000 --rounds 7 --only tornado,tornadopy-stack
    python -m benchmarks.micro --profile tornadopy-stack:plaintext   # cProfile, top functions

Each request goes through the application's real entry point (``Application.start_request`` ->
``headers_received`` -> ``finish``, so routing, the handler's Task, every middleware hook and
``RequestHandler.finish``) on an in-memory connection that accepts the response at once. What is
left out is Tornado's HTTP/1 parsing and socket I/O, the same for every server. The figure is
**CPU time** (``time.process_time``) per request, so it holds up better than requests/s when
other processes share the machine, and the difference to raw Tornado is the framework's own cost
per request.

Every (round, server) runs in a fresh process (settings are per process), rounds interleaved.
Each run times ``--batches`` batches and keeps the best one (the least disturbed); the table
shows the median over the rounds of those bests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tornado import httputil

from benchmarks.servers import SERVERS, TEST_TYPES, loop_factory

ROOT = Path(__file__).resolve().parent.parent


class _Context:
    remote_ip = "127.0.0.1"
    protocol = "http"
    address = ("127.0.0.1", 40000)
    trusted_downstream = None


class MemoryConnection:
    """The connection side Tornado's handlers use, answering every write at once."""

    def __init__(self) -> None:
        self.context = _Context()
        self.loop = asyncio.get_running_loop()
        self.finished: asyncio.Future[None] | None = None
        self.status = 0
        self.body = b""

    def set_close_callback(self, callback: Any) -> None:
        pass

    def _done(self) -> asyncio.Future[None]:
        fut = self.loop.create_future()
        fut.set_result(None)
        return fut

    def write_headers(self, start_line: Any, headers: Any, chunk: bytes | None = None) -> Any:
        self.status = start_line.code
        self.body = chunk or b""
        return self._done()

    def write(self, chunk: bytes) -> Any:
        self.body += chunk
        return self._done()

    def finish(self) -> None:
        if self.finished is not None and not self.finished.done():
            self.finished.set_result(None)


async def drive(app: Any, path: str, n: int) -> MemoryConnection:
    """Send ``n`` GET requests for ``path`` through ``app``, one after the other."""
    conn = MemoryConnection()
    loop = asyncio.get_running_loop()
    start_line = httputil.RequestStartLine("GET", path, "HTTP/1.1")
    for _ in range(n):
        conn.finished = loop.create_future()
        headers = httputil.HTTPHeaders(
            {"Host": "127.0.0.1:8888", "User-Agent": "micro", "Accept": "*/*"}
        )
        delegate = app.start_request(None, conn)
        result = delegate.headers_received(start_line, headers)
        if result is not None:
            await result
        delegate.finish()
        await conn.finished
    return conn


async def measure(server: str, test: str, n: int, warmup: int, batches: int) -> dict[str, float]:
    """CPU µs per request: the best and the median of ``batches`` batches of ``n // batches``."""
    spec = SERVERS[server]
    app = spec.make_app()
    if hasattr(app, "startup"):
        await app.startup()
    tt = TEST_TYPES[test]
    conn = await drive(app, tt.path, warmup)
    if conn.status != 200 or not tt.check(conn.body):
        raise SystemExit(f"{server} {tt.path}: wrong answer {conn.status} {conn.body[:100]!r}")
    size = max(1, n // batches)
    per_request = []
    for _ in range(batches):
        cpu0 = time.process_time()
        await drive(app, tt.path, size)
        per_request.append((time.process_time() - cpu0) / size * 1e6)
    if hasattr(app, "shutdown"):
        await app.shutdown()
    return {"best_us": min(per_request), "median_us": statistics.median(per_request)}


async def profile(server: str, test: str, n: int, top: int) -> None:
    import cProfile
    import pstats

    spec = SERVERS[server]
    app = spec.make_app()
    if hasattr(app, "startup"):
        await app.startup()
    path = TEST_TYPES[test].path
    await drive(app, path, 1000)
    prof = cProfile.Profile()
    prof.enable()
    await drive(app, path, n)
    prof.disable()
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime")
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((tt, ct, nc, f"{_short(filename)}:{line}:{func}"))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    print(f"cProfile {server} {test}: {n} requests, {total / n * 1e6:.1f} µs/request profiled")
    print(f"{'own µs/req':>10} {'cum µs/req':>10} {'calls/req':>9}  function")
    for tt, ct, nc, name in rows[:top]:
        print(f"{tt / n * 1e6:10.2f} {ct / n * 1e6:10.2f} {nc / n:9.2f}  {name}")
    own = sum(r[0] for r in rows if "tornadopy/" in r[3] or "benchmarks/" in r[3])
    print(f"\ntornadopy + benchmark code, own time: {own / n * 1e6:.1f} µs/request (profiled)")


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/main/", "python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def child(args: argparse.Namespace) -> None:
    server, _, test = args.child.partition(":")
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        if args.profile:
            runner.run(profile(server, test, args.requests, args.top))
            return
        result = runner.run(measure(server, test, args.requests, args.warmup, args.batches))
    print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.micro", description=__doc__)
    parser.add_argument("--requests", type=int, default=20000, help="requests per run (20000)")
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--batches", type=int, default=5, help="batches per run; best kept (5)")
    parser.add_argument("--only", help="comma list of servers (the baseline is added)")
    parser.add_argument("--tests", help="comma list of test types")
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    parser.add_argument("--cpu", type=int, default=None, help="pin the runs to this CPU")
    parser.add_argument("--profile", metavar="SERVER:TEST", help="cProfile one server and test")
    parser.add_argument("--top", type=int, default=40, help="rows of the profile (40)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    if args.child:
        child(args)
        return 0
    if args.profile:
        args.child = args.profile if ":" in args.profile else args.profile + ":plaintext"
        child(args)
        return 0

    # in process, only the application matters: servers run on something else than Tornado skipped
    servers = [n for n, s in SERVERS.items() if s.default and s.server == "tornado"]
    if args.only:
        servers = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in servers if s not in SERVERS]
        if unknown:
            raise SystemExit(f"unknown server(s): {', '.join(unknown)}")
        servers = list(dict.fromkeys([SERVERS[s].baseline for s in servers] + servers))
    tests = [t.strip() for t in args.tests.split(",")] if args.tests else ["plaintext", "json"]
    pairs = [(s, t) for s in servers for t in tests if t in SERVERS[s].handlers]
    results: dict[tuple[str, str], list[dict[str, float]]] = {p: [] for p in pairs}
    print(
        f"{len(pairs)} rows x {args.rounds} rounds, {args.requests} requests each, "
        f"loop {args.loop}",
        flush=True,
    )
    for _ in range(args.rounds):
        for server, test in pairs:
            cmd = [
                sys.executable, "-m", "benchmarks.micro", "--child", f"{server}:{test}",
                "--requests", str(args.requests), "--warmup", str(args.warmup),
                "--loop", args.loop, "--batches", str(args.batches),
            ]  # fmt: skip
            if args.cpu is not None:
                cmd += ["--cpu", str(args.cpu)]
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=600, check=False, cwd=ROOT
            )
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                raise SystemExit(f"{server}:{test} failed")
            results[(server, test)].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print()
    print(
        "| test | server | CPU us/request (median of best) | min-max | + us vs raw Tornado "
        "| x raw (requests per CPU-second) |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for test in tests:
        for server, t in pairs:
            if t != test:
                continue
            best = [r["best_us"] for r in results[(server, test)]]
            med = statistics.median(best)
            base = results.get((SERVERS[server].baseline, test))
            extra = ratio = "-"
            if base:
                base_med = statistics.median(r["best_us"] for r in base)
                extra = f"{med - base_med:+.1f}"
                ratio = f"{base_med / med:.3f}"
            print(
                f"| {test} | {server} | {med:.1f} | {min(best):.1f}-{max(best):.1f} | {extra} "
                f"| {ratio} |"
            )
    return 0


if __name__ == "__main__":
    from benchmarks.micro import main as _main

    sys.exit(_main())
