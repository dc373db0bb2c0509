"""Run the bundled benchmarks and print one table (SPEC §16).

::

    python -m benchmarks.run                       # every server x every test type (~15 min)
    python -m benchmarks.run --short               # the same matrix in under 3 minutes
    python -m benchmarks.run --only=tornado,tornadopy-stack --duration=10 --rounds=5
    python -m benchmarks.run --only=plaintext --loop=uvloop

Each server of :data:`benchmarks.servers.SERVERS` runs in its own process (granian: its
supervisor and worker processes), pinned to one CPU (``--server-cpu``, default 0); the load
generator (``wrk`` where installed, else :mod:`benchmarks.loadgen`) runs pinned to another
(``--client-cpu``, default 1). Multi-process rows (``--processes``) are not pinned: they share the
cores with the load generator. After a check that every server answers every test correctly and
a warm-up, the runs are **interleaved**::

    for round in rounds: for server in servers: for test in tests: measure

and the table shows, per test and server, the median over the rounds of requests/s, p50 and p99
latency, the ratio of the median requests/s to the baseline (raw Tornado) on the same test, and
the CPU time the server's whole process tree used per request. The table goes to stdout and to
``benchmarks/RESULTS.md`` (machine, versions, command) with a bar chart of the ratios
(``benchmarks/results.png``). Servers or tests that cannot run here (a package or a service
missing, a server that does not start or answers wrongly) are rows marked skipped or failed;
the run goes on. Servers are stopped on exit, whatever the way (they also exit when this
process dies).
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
import socket
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
        processes: int | None = None,
        pin_late: bool = False,
    ) -> None:
        self.name = name
        #: ``--processes`` for a multi-process server (None: the registry's)
        self.processes = processes
        self.loop = loop
        self.cpu = cpu
        #: pin ``cpu`` once the server is ready (every thread of its process tree) rather than
        #: at its start: the servers then start in parallel on every CPU
        self.pin_late = pin_late
        # the server's stderr: an anonymous temporary file (nothing left behind, even on SIGKILL)
        self.log = tempfile.TemporaryFile()
        #: a command the server runs under (e.g. valgrind), or None
        self.wrapper = wrapper or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "benchmarks.servers", self.name, "--loop", self.loop]
        cmd = [*self.wrapper, *cmd]
        if self.cpu is not None and not self.pin_late:
            cmd += ["--cpu", str(self.cpu)]
        if self.processes is not None:
            cmd += ["--processes", str(self.processes)]
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
                        self._wait_listening(deadline)
                        if self.pin_late and self.cpu is not None:
                            pin_tree(self.proc.pid, {self.cpu})
                        return
                    line = b""
            elif self.proc.poll() is not None:
                break
        raise RuntimeError(f"server {self.name} did not start:\n{self.log_tail()}")

    def _wait_listening(self, deadline: float) -> None:
        """Until a TCP connection to the port is accepted (granian's worker prints ``READY``
        when its application is built; it starts listening a moment later). Polled from here,
        so the server counts no instruction for the attempts that fail."""
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port or 0), timeout=5):
                    return
            except OSError:
                if time.monotonic() > deadline or not self.alive():
                    raise RuntimeError(
                        f"server {self.name} printed READY but does not listen:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.05)

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
        """CPU time (user + system) the server's process tree has used so far (Linux), else NaN.

        The tree: the server process and every live descendant (granian's workers, forked
        Tornado processes), read from ``/proc/*/stat``.
        """
        if self.proc is None:
            return float("nan")
        return tree_cpu_seconds(self.proc.pid)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used) of every process (Linux ``/proc``)."""
    table: dict[int, tuple[int, float]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLK_TCK)
        except (OSError, IndexError, ValueError):
            continue
    return table


def _descendants(pid: int, table: dict[int, tuple[int, float]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for child, (parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, ()))
    return out


def pin_tree(pid: int, cpus: set[int]) -> None:
    """Pin every thread of ``pid`` and its descendants to ``cpus`` (threads created later
    inherit their creator's affinity)."""
    for proc in _descendants(pid, _proc_table()):
        try:
            tids = os.listdir(f"/proc/{proc}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                os.sched_setaffinity(int(tid), cpus)
            except OSError:
                pass


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants, or NaN when ``pid`` is gone."""
    table = _proc_table()
    if pid not in table:
        return float("nan")
    return sum(table[p][1] for p in _descendants(pid, table))


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

    def run(
        self,
        url: str,
        duration: float,
        headers: dict[str, str] | None = None,
        connections: int | None = None,
    ) -> Sample:
        connections = connections or self.connections
        header_args = [arg for k, v in (headers or {}).items() for arg in ("-H", f"{k}: {v}")]
        # wrk takes whole seconds: a shorter run (a --short warm-up) uses the Python generator
        if self.kind == "wrk" and duration >= 1:
            assert self.wrk is not None
            secs = max(1, round(duration))
            cmd = [
                self.wrk,
                f"-t{self.threads}",
                f"-c{connections}",
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
            str(connections),
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


def warm_up_requests(server: ServerProcess, test: str, headers: dict[str, str], n: int) -> None:
    """``n`` requests on one keep-alive connection from this process (cheap: no process)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for _ in range(n):
            conn.request("GET", TEST_TYPES[test].path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{server.name} {TEST_TYPES[test].path}: status {resp.status}")
    except (OSError, http.client.HTTPException) as exc:
        raise RuntimeError(f"{server.name} {TEST_TYPES[test].path}: {exc}") from exc
    finally:
        conn.close()


@dataclass
class Row:
    server: str
    test: str
    samples: list[Sample] = field(default_factory=list)
    failure: str | None = None
    #: why the row did not run at all (a package or a service missing)
    skipped: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def median(self, attr: str) -> float:
        values = [getattr(s, attr) for s in self.samples]
        return statistics.median(values) if values else float("nan")

    @property
    def ok(self) -> bool:
        return bool(self.samples) and not self.failure and not self.skipped


#: test types run when neither ``--only`` nor ``--tests`` names any: every one (those whose
#: service is not reachable become skipped rows)
DEFAULT_TESTS: tuple[str, ...] = tuple(TEST_TYPES)


def select_rows(
    only: str | None, tests_arg: str | None, default_tests: tuple[str, ...] | None = None
) -> tuple[list[str], list[str]]:
    """Servers and tests from ``--only`` (server names, test names, or ``server:test``) and
    ``--tests`` (a comma list, or ``all``). Default: every default server, ``default_tests``
    (:data:`DEFAULT_TESTS`).
    """
    servers = [n for n, s in SERVERS.items() if s.default]
    tests = list(DEFAULT_TESTS if default_tests is None else default_tests)
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
    # every server's baseline (and a multi-process row's one-process row) runs too, first
    extra = [SERVERS[s].baseline for s in servers]
    extra += [SERVERS[s].single for s in servers if SERVERS[s].single]
    chosen = {*(e for e in extra if e), *servers}
    return [s for s in SERVERS if s in chosen], tests


def run_setups(tests: list[str]) -> None:
    """Run each selected test type's ``setup`` (once each), e.g. create and fill tables."""
    for setup in dict.fromkeys(TEST_TYPES[t].setup for t in tests):
        if setup is not None:
            setup()


def plan_rows(servers: list[str], tests: list[str]) -> list[Row]:
    """One row per (server, test) the server answers; skipped rows name what is missing."""
    test_reasons = {t: TEST_TYPES[t].requires() for t in tests}
    server_reasons = {s: SERVERS[s].requires() for s in servers}
    rows: list[Row] = []
    for test in tests:
        for server in servers:
            if test not in SERVERS[server].handlers:
                continue
            reason = server_reasons[server] or test_reasons[test]
            rows.append(Row(server, test, skipped=reason))
    return rows


# ---------------------------------------------------------------------- output


def _fmt_ms(value: float) -> str:
    if value != value:  # nan
        return "-"
    return f"{value * 1000:.0f} µs" if value < 1 else f"{value:.2f} ms"


def _ratio(row: Row, base: Row | None) -> tuple[float, float]:
    """(req/s ratio, CPU-per-request ratio) of ``row`` to ``base``; NaN where unknown."""
    nan = float("nan")
    if base is None or not base.ok or not row.ok or not base.median("rps"):
        return nan, nan
    cpu = row.median("cpu_us")
    cpu_ratio = base.median("cpu_us") / cpu if cpu == cpu and cpu > 0 else nan
    return row.median("rps") / base.median("rps"), cpu_ratio


def _f3(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"


def render_table(rows: list[Row], tests: list[str]) -> str:
    header = (
        "| test | server | req/s (median) | p50 | p99 | x raw Tornado | req/s min-max "
        "| server CPU µs/req | x raw by CPU | errors |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by_key = {(r.server, r.test): r for r in rows}
    for test in tests:
        for row in (r for r in rows if r.test == test):
            if row.skipped:
                lines.append(f"| {test} | {row.server} | skipped: {row.skipped} | | | | | | | |")
                continue
            if row.failure or not row.samples:
                failure = (row.failure or "no sample").replace("|", "/")
                lines.append(f"| {test} | {row.server} | failed: {failure} | | | | | | | |")
                continue
            ratio, cpu_ratio = _ratio(row, by_key.get((SERVERS[row.server].baseline, test)))
            spread = (
                f"{min(s.rps for s in row.samples):,.0f}-{max(s.rps for s in row.samples):,.0f}"
            )
            errors = sum(s.errors for s in row.samples)
            lines.append(
                f"| {test} | {row.server} | {row.median('rps'):,.0f} | "
                f"{_fmt_ms(row.median('p50_ms'))} | {_fmt_ms(row.median('p99_ms'))} | "
                f"{_f3(ratio)} | {spread} | {row.median('cpu_us'):.0f} | {_f3(cpu_ratio)} "
                f"| {errors} |"
            )
    return "\n".join(lines)


def render_multiprocess(rows: list[Row]) -> list[str]:
    """One line per multi-process row: its req/s and CPU per request against one process."""
    by_key = {(r.server, r.test): r for r in rows}
    out = []
    for row in rows:
        single = SERVERS[row.server].single
        if not single or not row.ok:
            continue
        ratio, cpu_ratio = _ratio(row, by_key.get((single, row.test)))
        out.append(
            f"- {row.test}: {row.server} = {_f3(ratio)}x {single} by req/s "
            f"({_f3(cpu_ratio)}x by CPU per request)"
        )
    return out


def _cpu_model() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def machine_summary() -> str:
    import tornado

    return (
        f"{_cpu_model()}, {os.cpu_count()} CPUs; Python {platform.python_version()}, "
        f"Tornado {tornado.version}, {platform.system()} {platform.release()}"
    )


#: distributions whose versions RESULTS.md lists
VERSIONED = (
    "tornado",
    "uvicorn",
    "httptools",
    "granian",
    "starlette",
    "aiohttp",
    "django",
    "sqlalchemy",
    "aiomysql",
    "pymysql",
    "mysqlclient",
    "redis",
    "uvloop",
)


def versions() -> dict[str, str]:
    import importlib.metadata

    out = {"python": platform.python_version()}
    for dist in VERSIONED:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def _busy_note(load_before: str) -> str | None:
    """A warning when the machine was already busy (1-minute load above the CPU count)."""
    try:
        first = float(load_before.split()[0])
    except (ValueError, IndexError):
        return None
    cpus = os.cpu_count() or 1
    if first <= cpus:
        return None
    return (
        f"The machine was busy before the run (load average {first:.1f} on {cpus} CPUs): "
        "req/s and their ratios mostly measure the other processes; CPU µs/req holds up "
        "better, and `python -m benchmarks.instructions` is the reliable comparison."
    )


def write_chart(rows: list[Row], tests: list[str], path: Path) -> str | None:
    """A bar chart of each row's ratio to raw Tornado (req/s and CPU per request); returns
    None when written, else the reason (matplotlib missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'tornadopy[bench]')"
    by_key = {(r.server, r.test): r for r in rows}
    panels = []
    for test in tests:
        bars = []
        for row in rows:
            if row.test != test or not row.ok:
                continue
            ratio, cpu_ratio = _ratio(row, by_key.get((SERVERS[row.server].baseline, test)))
            if ratio == ratio:
                bars.append((row.server, ratio, cpu_ratio))
        if bars:
            panels.append((test, bars))
    if not panels:
        return "no row to chart"
    heights = [0.32 * len(b) + 0.9 for _, b in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(9, sum(heights)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, (test, bars) in zip(axes[:, 0], panels, strict=True):
        names = [b[0] for b in bars][::-1]
        rps = [b[1] for b in bars][::-1]
        cpu = [b[2] if b[2] == b[2] else 0 for b in bars][::-1]
        ys = range(len(bars))
        ax.barh([y + 0.2 for y in ys], rps, height=0.4, label="req/s", color="#3a7bd5")
        ax.barh([y - 0.2 for y in ys], cpu, height=0.4, label="by CPU/req", color="#f0a030")
        for y, value in zip(ys, rps, strict=True):
            ax.text(value, y + 0.2, f" {value:.2f}", va="center", fontsize=7)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_yticks(list(ys))
        ax.set_yticklabels(names, fontsize=8)
        ax.set_title(f"{test}: x raw Tornado (higher is better)", fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=8)
    axes[0, 0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


@dataclass
class RunInfo:
    command: str
    loadgen: str
    settings: str
    pinned: str
    load_before: str
    load_after: str = "?"
    started_utc: str = ""
    seconds: float = 0.0


def write_results(
    path: Path, chart: Path | None, rows: list[Row], tests: list[str], info: RunInfo
) -> None:
    vers = versions()
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m benchmarks.run` (see `benchmarks/README.md` for what each row "
        "and column is). Re-run it to replace this file and the chart.",
        "",
        f"- command: `{info.command}`",
        f"- run: {info.started_utc}, {info.seconds:.0f} s",
        f"- machine: {_cpu_model()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}",
        f"- load average (1/5/15 min) before: {info.load_before}; after: {info.load_after}",
        f"- load: {info.loadgen}; {info.settings}",
        f"- pinning: {info.pinned}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
    ]
    if any(r.server == "django-uvicorn" for r in rows):
        from benchmarks.peers.django_bench import driver

        lines.append(f"- Django's MySQL driver: {driver()}")
    busy = _busy_note(info.load_before)
    if busy:
        lines += ["", f"**{busy}**"]
    lines += [
        "",
        render_table(rows, tests),
        "",
    ]
    multi = render_multiprocess(rows)
    if multi:
        lines += ["Multi-process rows against the same server with one process:", "", *multi, ""]
    if chart is not None:
        lines += [f"![ratios to raw Tornado]({chart.name})", ""]
    path.write_text("\n".join(lines))


# ---------------------------------------------------------------------- main


def _on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


#: ``--short``: the whole matrix in under 3 minutes (on 2 CPUs, ~50 rows)
SHORT = {"duration": 2.0, "rounds": 1, "warmup": 0.0, "warmup_requests": 10}
NORMAL = {"duration": 5.0, "rounds": 3, "warmup": 1.0, "warmup_requests": 50}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Interleaved benchmark of tornadopy against raw Tornado and its peers "
        "(SPEC §16).",
    )
    parser.add_argument("--duration", type=float, help="seconds per run (5; --short 2)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (3; --short 1)")
    parser.add_argument("--connections", type=int, default=64, help="connections (64)")
    parser.add_argument(
        "--db-connections",
        type=int,
        default=16,
        help="connections for the database test types (16: MariaDB is shared, max_connections "
        "151, Django opens one connection per concurrent request, and 16 requests in flight "
        "keep one server process busy)",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument(
        "--warmup",
        type=float,
        help="warm-up seconds of load per row, after --warmup-requests (1; --short 0)",
    )
    parser.add_argument(
        "--warmup-requests",
        type=int,
        help="requests on one connection that warm each row up first (50; --short 10)",
    )
    parser.add_argument(
        "--short",
        action="store_true",
        help="1 round of 2 s, warm-up of 10 requests only: the whole matrix in under 3 minutes",
    )
    parser.add_argument(
        "--only", help="comma list of servers, tests, or server:test (the baseline is added)"
    )
    parser.add_argument(
        "--tests",
        help="comma list of test types, or 'all' (the default; session and the database types "
        "need Redis/MariaDB on 127.0.0.1 and are skipped rows without them)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=2,
        help="processes (Tornado, forked) or workers (granian) of the multi-process rows (2)",
    )
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    parser.add_argument("--loadgen", default="auto", choices=("auto", "wrk", "python"))
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--json", metavar="FILE", help="also write every sample as JSON")
    parser.add_argument(
        "--results",
        metavar="FILE",
        default=str(Path(__file__).with_name("RESULTS.md")),
        help="the Markdown report (benchmarks/RESULTS.md); the chart goes next to it (results.png)",
    )
    parser.add_argument(
        "--no-results", action="store_true", help="write neither RESULTS.md nor the chart"
    )
    parser.add_argument("--list", action="store_true", help="list servers and tests, then exit")
    args = parser.parse_args(argv)
    preset = SHORT if args.short else NORMAL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    if args.list:
        for name, spec in SERVERS.items():
            default = "" if spec.default else " (only with --only)"
            reason = spec.requires()
            missing = f" [cannot run here: {reason}]" if reason else ""
            print(
                f"{name:22} {spec.description}{default}; tests: {', '.join(spec.handlers)}{missing}"
            )
        for name, tt in TEST_TYPES.items():
            print(f"{name:22} {tt.description}")
        return 0

    load_before = _loadavg()
    started_utc = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    servers, tests = select_rows(args.only, args.tests)
    rows = plan_rows(servers, tests)
    runnable_tests = [t for t in tests if any(r.test == t and not r.skipped for r in rows)]
    try:
        run_setups(runnable_tests)
    except Exception as exc:  # a database that refuses the set-up: its rows are skipped
        for row in rows:
            if TEST_TYPES[row.test].setup is not None and not row.skipped:
                row.skipped = f"set-up failed: {exc}"
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
    multi = [s for s in servers if SERVERS[s].processes > 1]
    pinned = (
        f"servers on CPU {args.server_cpu}, load generator on CPU {args.client_cpu}"
        + (
            f"; the {args.processes}-process rows ({', '.join(multi)}) are not pinned and share "
            "the cores with the load generator (on 2 CPUs their req/s is bounded by that "
            "competition: compare their CPU µs/req too)"
            if multi
            else ""
        )
        if pin
        else "none (fewer than 2 CPUs, or --no-pin)"
    )

    active = [r for r in rows if not r.skipped]
    servers = [s for s in servers if any(r.server == s for r in active)]
    runs = len(active) * args.rounds
    estimate = len(active) * (max(args.warmup, 0) + 0.3) + runs * (args.duration + 0.3) + 10
    command = " ".join(["python -m benchmarks.run", *(sys.argv[1:] if argv is None else argv)])
    settings_line = (
        f"{args.duration:g}s per run, {args.rounds} interleaved round(s), warm-up "
        f"{args.warmup_requests} requests + {args.warmup:g}s of load per row, loop {args.loop}"
    )
    print(f"machine: {machine_summary()}; load average {load_before}")
    print(
        f"load: {loadgen.describe()} ({args.db_connections} for the database types), {settings_line}"
    )
    print(f"pinning: {pinned}")
    print(
        f"{len(active)} rows ({len(rows) - len(active)} skipped), {runs} runs, "
        f"about {estimate:.0f}s",
        flush=True,
    )

    def conns(row: Row) -> int:
        return args.db_connections if TEST_TYPES[row.test].database else args.connections

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    procs: dict[str, ServerProcess] = {}
    started = time.monotonic()
    interrupted = False
    try:
        for name in servers:
            spec = SERVERS[name]
            multi_proc = spec.processes > 1
            proc = ServerProcess(
                name,
                args.loop,
                args.server_cpu if pin and not multi_proc else None,
                processes=args.processes if multi_proc else None,
                pin_late=True,
            )
            procs[name] = proc
            proc.start()
        down: dict[str, str] = {}
        for name, proc in procs.items():
            try:
                proc.wait_ready()
            except RuntimeError as exc:
                down[name] = str(exc).replace("\n", " / ")[-300:]
        print(f"servers ready in {time.monotonic() - started:.1f}s", flush=True)
        for row in active:
            if row.server in down:
                row.failure = f"did not start: {down[row.server]}"
                continue
            try:
                row.headers = verify(procs[row.server], row.test)
            except RuntimeError as exc:
                row.failure = str(exc).splitlines()[0][:300]
        for row in active:
            if row.failure:
                continue
            try:
                warm_up_requests(procs[row.server], row.test, row.headers, args.warmup_requests)
            except RuntimeError as exc:
                row.failure = f"warm-up: {str(exc).splitlines()[0][:200]}"
                continue
            if args.warmup > 0:
                url = procs[row.server].url(TEST_TYPES[row.test].path)
                try:
                    loadgen.run(url, args.warmup, row.headers, conns(row))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    row.failure = f"warm-up: {str(exc).splitlines()[0][:200]}"
        print(f"checked and warmed up in {time.monotonic() - started:.1f}s", flush=True)
        for rnd in range(args.rounds):
            for row in active:
                proc = procs[row.server]
                if row.failure:
                    continue
                if not proc.alive():
                    row.failure = f"server exited ({proc.log_tail(5)!r})"
                    continue
                cpu0 = proc.cpu_seconds()
                try:
                    url = proc.url(TEST_TYPES[row.test].path)
                    sample = loadgen.run(url, args.duration, row.headers, conns(row))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    row.failure = str(exc).splitlines()[0]
                    continue
                if not sample.requests:
                    row.failure = "no request completed in the run"
                    continue
                sample.cpu_us = (proc.cpu_seconds() - cpu0) / sample.requests * 1e6
                row.samples.append(sample)
                print(
                    f"  round {rnd + 1}/{args.rounds} {row.test:10} {row.server:22} "
                    f"{sample.rps:10,.0f} req/s  p99 {_fmt_ms(sample.p99_ms)}  "
                    f"server CPU {sample.cpu_us:.0f} µs/req"
                    + (f"  errors {sample.errors}" if sample.errors else ""),
                    flush=True,
                )
    except KeyboardInterrupt:
        print("interrupted: stopping servers", file=sys.stderr)
        interrupted = True
    finally:
        for proc in procs.values():
            proc.stop()
    if interrupted:
        return 130

    seconds = time.monotonic() - started
    info = RunInfo(
        command=command,
        loadgen=f"{loadgen.describe()} ({args.db_connections} connections for the database types)",
        settings=settings_line,
        pinned=pinned,
        load_before=load_before,
        load_after=_loadavg(),
        started_utc=started_utc,
        seconds=seconds,
    )
    print()
    print(render_table(rows, tests))
    multi_lines = render_multiprocess(rows)
    if multi_lines:
        print("\nMulti-process rows against the same server with one process:")
        print("\n".join(multi_lines))
    print(f"\nload average before: {info.load_before}; after: {info.load_after}")
    print(f"{seconds:.0f}s; command: {command}")
    if not args.no_results:
        results = Path(args.results)
        chart = results.with_name("results.png")
        reason = write_chart(rows, tests, chart)
        if reason:
            print(f"no chart: {reason}", file=sys.stderr)
        write_results(results, None if reason else chart, rows, tests, info)
        print(f"wrote {results}" + ("" if reason else f" and {chart}"))
    if args.json:
        payload = {
            "machine": machine_summary(),
            "versions": versions(),
            "command": command,
            "loadgen": loadgen.describe(),
            "loop": args.loop,
            "duration": args.duration,
            "rounds": args.rounds,
            "pinned": pin,
            "load_before": info.load_before,
            "load_after": info.load_after,
            "rows": [
                {
                    "server": r.server,
                    "test": r.test,
                    "failure": r.failure,
                    "skipped": r.skipped,
                    "samples": [s.__dict__ for s in r.samples],
                }
                for r in rows
            ],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
    return 1 if any(r.failure for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
