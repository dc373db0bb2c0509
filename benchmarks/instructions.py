"""Instructions per request of each server, counted by valgrind: a figure no neighbour can disturb.

::

    python -m benchmarks.instructions                       # every one-process server, plaintext + json
    python -m benchmarks.instructions --only=tornadopy-stack --tests=plaintext --requests=2000

Requests/s on a shared machine move by 10-30 % from run to run with what else runs there; the
number of instructions the server process executes per request does not (it repeats to ~0.1 %).
For each server and test this starts the real server process (the same
``python -m benchmarks.servers``, same ``HTTPServer``, real loopback sockets) under
``valgrind --tool=cachegrind --cache-sim=no`` twice: once answering ``--warmup`` requests, once
``--warmup + --requests``; the difference of the two totals divided by ``--requests`` is the
cost of one request, start-up and warm-up cancelled out. The load is one keep-alive connection
(:mod:`benchmarks.loadgen` ``-c 1 -n N``) so every request takes the same path through the event
loop. Kernel work (the socket system calls) is not counted; it is the same for every server.

Servers of several processes (granian: a supervisor and its forked worker; the multi-process
rows) are counted whole: valgrind follows a ``fork()`` by itself (the child keeps running under
it; ``--trace-children=yes`` is only needed across ``exec``), every process writes its own log
(``--log-file=...%p``), and the count is the sum over the processes. granian's supervisor sits
idle in a wait, so its share is start-up only and cancels out; its worker's Rust threads are
counted like the Python ones (valgrind runs the threads of a process one at a time).

Instructions are not time (a cache miss costs more than an add), but for the same interpreter
running the same kind of code the ratio tracks the requests/s ratio of a quiet machine closely;
use ``benchmarks.run`` on a quiet machine for the time figures. Across servers written in
different languages (granian's HTTP layer is Rust, aiohttp's parser C, uvicorn's httptools C)
instructions remain a fair count of work, less so of time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.run import ROOT, ServerProcess, run_setups, select_rows, verify
from benchmarks.servers import SERVERS, TEST_TYPES

#: valgrind counting instructions only (no cache simulation, no output file)
CACHEGRIND = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]


def instructions_in(log: Path, what: str) -> int:
    """The instruction count (``I refs``) valgrind wrote to ``log``."""
    text = log.read_text(errors="replace")
    match = re.search(r"I\s+refs:\s+([\d,]+)", text)
    if match is None:
        raise RuntimeError(f"{what}: no instruction count in {log.name}:\n{text[-2000:]}")
    return int(match.group(1).replace(",", ""))


def count_module(module: str, args: list[str], log: Path, what: str, timeout: float) -> int:
    """Instructions of a whole ``python -m module *args`` run under cachegrind (the in-process
    benchmarks run a child of themselves this way)."""
    cmd = [*CACHEGRIND, f"--log-file={log}", sys.executable, "-m", module, *args]
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{what}: {out.stderr[-3000:]}")
    return instructions_in(log, what)


def count(
    server: str, test: str, requests: int, loop: str, log_dir: Path, tag: str, connections: int
) -> int:
    """Total instructions of one server process that answered ``requests`` requests."""
    prefix = f"{server}-{test}{tag}"
    wrapper = [*CACHEGRIND, f"--log-file={log_dir / prefix}.%p.valgrind"]
    proc = ServerProcess(server, loop, None, wrapper=wrapper)
    try:
        proc.start()
        proc.wait_ready(timeout=300)
        headers = verify(
            proc, test, timeout=300
        )  # 1-2 requests; same in both runs, so they cancel out
        header_args = [arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}")]
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.loadgen",
                proc.url(TEST_TYPES[test].path),
                "-c",
                str(connections),
                "-n",
                str(requests),
                "-d",
                "3600",
                *header_args,
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
            cwd=ROOT,
        )
        if out.returncode != 0 or f'"requests": {requests},' not in out.stdout:
            raise RuntimeError(f"{server} {test}: load failed: {out.stdout} {out.stderr}")
        if '"errors": 0' not in out.stdout:
            raise RuntimeError(f"{server} {test}: errors: {out.stdout}")
    finally:
        proc.stop(timeout=120)
    total = 0
    logs = sorted(log_dir.glob(f"{prefix}.*.valgrind"))
    for vg_log in logs:  # one per process (granian's supervisor and worker(s), forked children)
        total += instructions_in(vg_log, f"{server} {test}")
    if not logs:
        raise RuntimeError(f"{server} {test}: no valgrind log")
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="measured requests (1000)")
    parser.add_argument("--warmup", type=int, default=200, help="requests in both runs (200)")
    parser.add_argument("--only", help="comma list of servers, tests or server:test")
    parser.add_argument("--tests", help="comma list of test types")
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    parser.add_argument(
        "--connections", type=int, default=1, help="keep-alive connections of the load (1)"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel runs")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    os.environ.setdefault("PYTHONHASHSEED", "0")  # same dict/set layout in every run
    servers, tests = select_rows(args.only, args.tests, default_tests=("plaintext", "json"))
    if not args.only:  # by default one process per server: the multi-process rows need --only
        servers = [s for s in servers if SERVERS[s].processes == 1]
    for server in list(servers):
        reason = SERVERS[server].requires()
        if reason:
            print(f"skipped {server}: {reason}", file=sys.stderr)
            servers.remove(server)
    for test in list(tests):
        reason = TEST_TYPES[test].requires()
        if reason:
            print(f"skipped {test}: {reason}", file=sys.stderr)
            tests.remove(test)
    run_setups(tests)
    pairs = [(s, t) for s in servers for t in tests if t in SERVERS[s].handlers]
    log_dir = Path(tempfile.mkdtemp(prefix="tornadopy-instr-"))
    print(
        f"{len(pairs)} rows; valgrind cachegrind, {args.requests} requests (+{args.warmup} "
        f"warm-up), {args.connections} keep-alive connection(s), loop {args.loop}, {args.jobs} jobs",
        flush=True,
    )
    jobs = [(s, t, n) for s, t in pairs for n in (args.warmup, args.warmup + args.requests)]
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {
                job: pool.submit(count, *job, args.loop, log_dir, f"-{job[2]}", args.connections)
                for job in jobs
            }
            totals: dict[tuple[str, str, int], int] = {}
            failures: dict[tuple[str, str], str] = {}
            for job, fut in futures.items():
                try:
                    totals[job] = fut.result()
                except (RuntimeError, subprocess.TimeoutExpired) as exc:  # one row, not the run
                    failures.setdefault(job[:2], str(exc).splitlines()[0][:300])
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    per_request = {
        (s, t): (totals[(s, t, args.warmup + args.requests)] - totals[(s, t, args.warmup)])
        / args.requests
        for s, t in pairs
        if (s, t) not in failures
    }
    print()
    print("| test | server | instructions/request | + vs raw Tornado | x raw (by instructions) |")
    print("|---|---|---:|---:|---:|")
    for test in tests:
        for server, t in pairs:
            if t != test:
                continue
            if (server, test) in failures:
                print(f"| {test} | {server} | failed: {failures[(server, test)]} | | |")
                continue
            value = per_request[(server, test)]
            base = per_request.get((SERVERS[server].baseline, test))
            extra = ratio = "-"
            if base:
                extra = f"{value - base:+,.0f} ({(value - base) / base:+.1%})"
                ratio = f"{base / value:.3f}"
            print(f"| {test} | {server} | {value:,.0f} | {extra} | {ratio} |")
    return 1 if failures else 0


if __name__ == "__main__":
    from benchmarks.instructions import main as _main

    sys.exit(_main())
