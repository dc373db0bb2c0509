"""Run the bundled benchmarks and print one table (SPEC §16).

::

    python -m benchmarks.run                       # every default server x test type
    python -m benchmarks.run --only=tornado,tornadopy-stack --duration=10 --rounds=5
    python -m benchmarks.run --only=plaintext --loop=uvloop

Each server of :data:`benchmarks.servers.SERVERS` runs in its own process, pinned to one CPU
(``--server-cpu``, default 0); the load generator (``wrk`` where installed, else
:mod:`benchmarks.loadgen`) runs pinned to another (``--client-cpu``, default 1). After a check
that every server answers every test correctly and a warm-up, the runs are **interleaved**::

    for round in rounds: for server in servers: for test in tests: measure

and the table shows, per test and server, the median over the rounds of requests/s, p50 and p99
latency, and the ratio of the median requests/s to the baseline (raw Tornado) on the same test.
Servers are stopped on exit, whatever the way (they also exit when this process dies).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.servers import SERVERS, TEST_TYPES

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# ---------------------------------------------------------------------- server processes


class ServerProcess:
    """One benchmark server in its own process, on a free loopback port chosen by the OS."""

    def __init__(
        self,
        name: str,
        loop: str,
        cpu: int | None,
        wrapper: list[str] | None = None,
    ) -> None:
        self.name = name
        self.loop = loop
        self.cpu = cpu
        # the server's stderr: an anonymous temporary file (nothing left behind, even on SIGKILL)
        self.log = tempfile.TemporaryFile()
        #: a command the server runs under (e.g. valgrind), or None
        self.wrapper = wrapper or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "benchmarks.servers", self.name, "--loop", self.loop]
        cmd = [*self.wrapper, *cmd]
        if self.cpu is not None:
            cmd += ["--cpu", str(self.cpu)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,  # the server exits when this pipe closes
            stdout=subprocess.PIPE,
            stderr=self.log,
        )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                data = os.read(fd, 1)
                if not data:
                    break
                line += data
                if data == b"\n":
                    text = line.decode(errors="replace").strip()
                    if text.startswith("READY "):
                        self.port = int(text.split()[1])
                        return
                    line = b""
            elif self.proc.poll() is not None:
                break
        raise RuntimeError(f"server {self.name} did not start:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            self.log.seek(0)
            text = self.log.read().decode(errors="replace")
        except (OSError, ValueError):
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 5) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self.log.close()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far (Linux), else NaN."""
        try:
            assert self.proc is not None
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _CLK_TCK
        except (OSError, IndexError, ValueError, AssertionError):
            return float("nan")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


# ---------------------------------------------------------------------- load generation


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    #: server CPU time per request (µs): robust when other processes share the machine
    cpu_us: float = float("nan")


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(output: str) -> Sample:
    """Requests/s, p50, p99, request count and errors from ``wrk --latency`` output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rps is None:
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    pct = {
        m.group(1): _ms(m.group(2), m.group(3))
        for m in re.finditer(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    }
    total = re.search(r"(\d+) requests in", output)
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return Sample(
        rps=float(rps.group(1)),
        p50_ms=pct.get("50", float("nan")),
        p99_ms=pct.get("99", float("nan")),
        requests=int(total.group(1)) if total else 0,
        errors=errors,
    )


class LoadGenerator:
    """``wrk`` (``-t1 -c<connections>``) or the bundled Python fallback."""

    def __init__(self, kind: str, connections: int, threads: int) -> None:
        wrk = shutil.which("wrk")
        if kind == "auto":
            kind = "wrk" if wrk else "python"
        if kind == "wrk" and not wrk:
            raise SystemExit("wrk is not installed (apt-get install wrk), or use --loadgen=python")
        self.kind = kind
        self.wrk = wrk
        self.connections = connections
        self.threads = threads

    def describe(self) -> str:
        if self.kind == "wrk":
            return f"wrk -t{self.threads} -c{self.connections} --latency"
        return f"python -m benchmarks.loadgen -c {self.connections}"

    def run(self, url: str, duration: float, headers: dict[str, str] | None = None) -> Sample:
        header_args = [arg for k, v in (headers or {}).items() for arg in ("-H", f"{k}: {v}")]
        if self.kind == "wrk":
            assert self.wrk is not None
            secs = max(1, round(duration))
            cmd = [
                self.wrk,
                f"-t{self.threads}",
                f"-c{self.connections}",
                f"-d{secs}s",
                "--timeout",
                "10s",
                "--latency",
                *header_args,
                url,
            ]
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=secs + 30, check=False
            )
            if out.returncode != 0:
                raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
            return parse_wrk(out.stdout)
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.loadgen",
            url,
            "-c",
            str(self.connections),
            "-d",
            str(duration),
            *header_args,
        ]
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=duration + 60, check=False, cwd=ROOT
        )
        if out.returncode != 0:
            raise RuntimeError(f"loadgen failed ({out.returncode}): {out.stderr}")
        data = json.loads(out.stdout.strip().splitlines()[-1])
        return Sample(
            rps=data["rps"],
            p50_ms=data["p50_ms"],
            p99_ms=data["p99_ms"],
            requests=int(data["requests"]),
            errors=int(data["errors"]),
        )


# ---------------------------------------------------------------------- checks and rows


def _get(url: str, headers: dict[str, str], timeout: float) -> tuple[int, str, bytes, list[str]]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return (
            resp.status,
            resp.headers.get("Content-Type", ""),
            resp.read(),
            resp.headers.get_all("Set-Cookie") or [],
        )


def verify(server: ServerProcess, test: str, timeout: float = 10) -> dict[str, str]:
    """Check the server answers ``test`` right; returns the headers to send with the load.

    For a test that ``uses_cookies`` (a session) the first request makes the state and the
    cookies it sets are replayed on a second request (and then on every benchmark request).
    """
    tt = TEST_TYPES[test]
    url = server.url(tt.path)
    headers: dict[str, str] = {}
    try:
        status, ctype, body, cookies = _get(url, headers, timeout)
        if tt.uses_cookies and status == 200:
            jar = "; ".join(c.split(";", 1)[0] for c in cookies)
            if not jar:
                raise RuntimeError("no cookie was set")
            headers = {"Cookie": jar}
            status, ctype, body, _ = _get(url, headers, timeout)
    except Exception as exc:
        raise RuntimeError(f"{server.name} {tt.path}: {exc}") from exc
    if status != 200 or not ctype.startswith(tt.content_type) or not tt.check(body):
        raise RuntimeError(
            f"{server.name} {tt.path}: wrong answer: {status} {ctype!r} {body[:200]!r}"
        )
    return headers


@dataclass
class Row:
    server: str
    test: str
    samples: list[Sample] = field(default_factory=list)
    failure: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def median(self, attr: str) -> float:
        values = [getattr(s, attr) for s in self.samples]
        return statistics.median(values) if values else float("nan")


#: test types run when neither ``--only`` nor ``--tests`` names any (the quick default)
DEFAULT_TESTS = ("plaintext", "json")


def select_rows(only: str | None, tests_arg: str | None) -> tuple[list[str], list[str]]:
    """Servers and tests from ``--only`` (server names, test names, or ``server:test``) and
    ``--tests`` (a comma list, or ``all``). Default: every default server, :data:`DEFAULT_TESTS`.
    """
    servers = [n for n, s in SERVERS.items() if s.default]
    tests = list(DEFAULT_TESTS)
    if only:
        chosen_servers: list[str] = []
        chosen_tests: list[str] = []
        for token in filter(None, (t.strip() for t in only.split(","))):
            server, _, test = token.partition(":")
            if server in SERVERS:
                chosen_servers.append(server)
                if test:
                    chosen_tests.append(test)
            elif server in TEST_TYPES and not test:
                chosen_tests.append(server)
            else:
                raise SystemExit(
                    f"--only: unknown server or test {token!r} "
                    f"(servers: {', '.join(SERVERS)}; tests: {', '.join(TEST_TYPES)})"
                )
        for test in chosen_tests:
            if test not in TEST_TYPES:
                raise SystemExit(f"--only: unknown test {test!r}")
        if chosen_servers:
            servers = list(dict.fromkeys(chosen_servers))
        if chosen_tests:
            tests = list(dict.fromkeys(chosen_tests))
    if tests_arg == "all":
        tests = list(TEST_TYPES)
    elif tests_arg:
        tests = [t.strip() for t in tests_arg.split(",") if t.strip()]
        for test in tests:
            if test not in TEST_TYPES:
                raise SystemExit(f"--tests: unknown test {test!r}")
    # every server's baseline runs too (the ratio column needs it), first
    baselines = [SERVERS[s].baseline for s in servers]
    servers = list(dict.fromkeys([*baselines, *servers]))
    return servers, tests


def run_setups(tests: list[str]) -> None:
    """Run each selected test type's ``setup`` (once each), e.g. create and fill tables."""
    for setup in dict.fromkeys(TEST_TYPES[t].setup for t in tests):
        if setup is not None:
            setup()


# ---------------------------------------------------------------------- output


def _fmt_ms(value: float) -> str:
    if value != value:  # nan
        return "-"
    return f"{value * 1000:.0f} µs" if value < 1 else f"{value:.2f} ms"


def render_table(rows: list[Row], tests: list[str]) -> str:
    header = (
        "| test | server | req/s (median) | p50 | p99 | x raw Tornado | req/s min-max "
        "| server CPU µs/req | x raw by CPU | errors |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by_key = {(r.server, r.test): r for r in rows}
    for test in tests:
        for row in (r for r in rows if r.test == test):
            if row.failure or not row.samples:
                lines.append(f"| {test} | {row.server} | failed: {row.failure} | | | | | | | |")
                continue
            rps = row.median("rps")
            base = by_key.get((SERVERS[row.server].baseline, test))
            cpu = row.median("cpu_us")
            ratio = cpu_ratio = "-"
            if base is not None and base.samples and not base.failure and base.median("rps"):
                ratio = f"{rps / base.median('rps'):.3f}"
                if cpu == cpu and cpu > 0:
                    cpu_ratio = f"{base.median('cpu_us') / cpu:.3f}"
            spread = (
                f"{min(s.rps for s in row.samples):,.0f}-{max(s.rps for s in row.samples):,.0f}"
            )
            errors = sum(s.errors for s in row.samples)
            lines.append(
                f"| {test} | {row.server} | {rps:,.0f} | {_fmt_ms(row.median('p50_ms'))} | "
                f"{_fmt_ms(row.median('p99_ms'))} | {ratio} | {spread} | {cpu:.0f} | {cpu_ratio} "
                f"| {errors} |"
            )
    return "\n".join(lines)


def machine_summary() -> str:
    import tornado

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs; Python {platform.python_version()}, "
        f"Tornado {tornado.version}, {platform.system()} {platform.release()}"
    )


# ---------------------------------------------------------------------- main


def _on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Interleaved benchmark of tornadopy against raw Tornado (SPEC §16).",
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--connections", type=int, default=64, help="connections (64)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per row (1)")
    parser.add_argument(
        "--only", help="comma list of servers, tests, or server:test (the baseline is added)"
    )
    parser.add_argument(
        "--tests",
        help="comma list of test types, or 'all' (default: plaintext,json; the others need "
        "Redis/MariaDB on 127.0.0.1)",
    )
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    parser.add_argument("--loadgen", default="auto", choices=("auto", "wrk", "python"))
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--json", metavar="FILE", help="also write every sample as JSON")
    parser.add_argument("--list", action="store_true", help="list servers and tests, then exit")
    args = parser.parse_args(argv)

    if args.list:
        for name, spec in SERVERS.items():
            default = "" if spec.default else " (only with --only)"
            print(f"{name:20} {spec.description}{default}; tests: {', '.join(spec.handlers)}")
        for name, tt in TEST_TYPES.items():
            print(f"{name:20} {tt.description}")
        return 0

    servers, tests = select_rows(args.only, args.tests)
    skipped: list[str] = []
    for test in list(tests):
        reason = TEST_TYPES[test].requires()
        if reason:
            skipped.append(f"{test}: {reason}")
            tests.remove(test)
    for note in skipped:
        print(f"skipped {note}", file=sys.stderr)
    run_setups(tests)
    loadgen = LoadGenerator(args.loadgen, args.connections, args.threads)

    pin = not args.no_pin and hasattr(os, "sched_setaffinity")
    if pin:
        cpus = os.sched_getaffinity(0)
        if len(cpus) < 2 or {args.server_cpu, args.client_cpu} - cpus:
            print(f"note: CPUs {sorted(cpus)} available: not pinning", file=sys.stderr)
            pin = False
    if pin:
        # this process and the load generator it starts on the client CPU; servers pin themselves
        os.sched_setaffinity(0, {args.client_cpu})

    rows = [Row(s, t) for s in servers for t in tests if t in SERVERS[s].handlers]
    servers = [s for s in servers if any(r.server == s for r in rows)]  # only those with rows
    runs = len(rows) * args.rounds
    estimate = len(rows) * args.warmup + runs * (args.duration + 0.3) + 3
    command = " ".join(["python -m benchmarks.run", *sys.argv[1:]]) if argv is None else ""
    print(f"machine: {machine_summary()}")
    print(
        f"load: {loadgen.describe()}, {args.duration:g}s per run, {args.rounds} interleaved "
        f"rounds, loop {args.loop}, "
        + (f"server on CPU {args.server_cpu}, load on CPU {args.client_cpu}" if pin else "unpinned")
    )
    print(f"{len(rows)} rows, {runs} runs, about {estimate:.0f}s", flush=True)

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    procs: dict[str, ServerProcess] = {}
    started = time.monotonic()
    try:
        for name in servers:
            proc = ServerProcess(name, args.loop, args.server_cpu if pin else None)
            procs[name] = proc
            proc.start()
        for proc in procs.values():
            proc.wait_ready()
        for row in rows:
            row.headers = verify(procs[row.server], row.test)
        for row in rows:
            if args.warmup > 0:
                url = procs[row.server].url(TEST_TYPES[row.test].path)
                loadgen.run(url, args.warmup, row.headers)
        for rnd in range(args.rounds):
            for row in rows:
                proc = procs[row.server]
                if row.failure:
                    continue
                if not proc.alive():
                    row.failure = f"server exited ({proc.log_tail(5)!r})"
                    continue
                cpu0 = proc.cpu_seconds()
                try:
                    url = proc.url(TEST_TYPES[row.test].path)
                    sample = loadgen.run(url, args.duration, row.headers)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    row.failure = str(exc).splitlines()[0]
                    continue
                if not sample.requests:
                    row.failure = "no request completed in the run"
                    continue
                sample.cpu_us = (proc.cpu_seconds() - cpu0) / sample.requests * 1e6
                row.samples.append(sample)
                print(
                    f"  round {rnd + 1}/{args.rounds} {row.test:10} {row.server:18} "
                    f"{sample.rps:10,.0f} req/s  p99 {_fmt_ms(sample.p99_ms)}  "
                    f"server CPU {sample.cpu_us:.0f} µs/req"
                    + (f"  errors {sample.errors}" if sample.errors else ""),
                    flush=True,
                )
    except KeyboardInterrupt:
        print("interrupted: stopping servers", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for proc in procs.values():
            proc.stop()

    print()
    print(render_table(rows, tests))
    for note in skipped:
        print(f"skipped {note}")
    print(f"\n{time.monotonic() - started:.0f}s" + (f"; command: {command}" if command else ""))
    if args.json:
        payload = {
            "machine": machine_summary(),
            "loadgen": loadgen.describe(),
            "loop": args.loop,
            "duration": args.duration,
            "rounds": args.rounds,
            "pinned": pin,
            "rows": [
                {
                    "server": r.server,
                    "test": r.test,
                    "failure": r.failure,
                    "samples": [s.__dict__ for s in r.samples],
                }
                for r in rows
            ],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
    return 1 if any(r.failure for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
