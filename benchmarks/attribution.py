"""Where tornadopy's per-request cost goes: instructions per request of pipeline variants.

::

    python -m benchmarks.attribution                  # every variant (about 2 minutes)
    python -m benchmarks.attribution --only=raw,bare,stack

Each variant is one application answering ``GET /plaintext`` (or ``/json``) in process, through
``Application.start_request`` on the in-memory connection of :mod:`benchmarks.micro` (no HTTP
parsing, no sockets), built in its own process and run under
``valgrind --tool=cachegrind --cache-sim=no`` twice (``--warmup`` requests, then
``--warmup + --requests``); the difference per request is exact to ~0.1 % whatever else runs on
the machine. Comparing variants that differ by one thing (the handler class, the application
class, one middleware) gives the cost of that thing. The µs column converts instructions with
the ns/instruction of the raw Tornado variant measured natively (best of several batches), so
it is an estimate for this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import tornado.web

from benchmarks import servers as S
from benchmarks.instructions import count_module
from benchmarks.micro import drive

ROOT = Path(__file__).resolve().parent.parent


class TpJsonDumps(S.WebHandler):
    """WebHandler writing ``json.dumps`` by hand (to separate ``write_api`` from the pipeline)."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps(S.JSON_MESSAGE))


def _raw(handler: type) -> Callable[[], Any]:
    return lambda: tornado.web.Application([(r"/(?:plaintext|json)", handler)])


def _tp(handler: type, **values: Any) -> Callable[[], Any]:
    def build() -> Any:
        from tornadopy.application import Application
        from tornadopy.conf import settings
        from tornadopy.urls import Url, route

        settings.configure(**values)
        return Application(urls=route(Url()(r"/(?:plaintext|json)", handler, name="bench")))

    return build


_NOOP = tuple(f"benchmarks.servers.NoopMiddleware{i}" for i in range(1, 6))
_HTTPMOD = "tornadopy.httpmodule.httpmodule.HttpModuleMiddleware"
_SIGNAL = "tornadopy.middleware.signal.SignalMiddleware"
_MODULES = ("benchmarks.servers.NoopModule1", "benchmarks.servers.NoopModule2")

#: name -> (description, path, app builder, the variant it is compared with)
VARIANTS: dict[str, tuple[str, str, Callable[[], Any], str]] = {
    "raw": ("raw Tornado app + RequestHandler", "/plaintext", _raw(S.RawPlaintext), "raw"),
    "raw+webhandler": (
        "raw Tornado app + WebHandler (handler cost)",
        "/plaintext",
        _raw(S.TpPlaintext),
        "raw",
    ),
    "tpapp+requesthandler": (
        "tornadopy Application + plain RequestHandler (application cost)",
        "/plaintext",
        _tp(S.RawPlaintext, MIDDLEWARE_CLASSES=()),
        "raw",
    ),
    "tpapp-nostatic+requesthandler": (
        "same, TORNADO_CONF static_path=None (the 3 static routes' cost)",
        "/plaintext",
        _tp(S.RawPlaintext, MIDDLEWARE_CLASSES=(), TORNADO_CONF={"static_path": None}),
        "tpapp+requesthandler",
    ),
    "bare": (
        "tornadopy Application + WebHandler, no middleware",
        "/plaintext",
        _tp(S.TpPlaintext, MIDDLEWARE_CLASSES=()),
        "raw",
    ),
    "default": (
        "bare + AccessLogMiddleware (default settings, logging off)",
        "/plaintext",
        _tp(S.TpPlaintext),
        "bare",
    ),
    "noop1": (
        "bare + 1 no-op middleware (4 async hooks)",
        "/plaintext",
        _tp(S.TpPlaintext, MIDDLEWARE_CLASSES=_NOOP[:1]),
        "bare",
    ),
    "noop5": (
        "bare + 5 no-op middlewares",
        "/plaintext",
        _tp(S.TpPlaintext, MIDDLEWARE_CLASSES=_NOOP),
        "bare",
    ),
    "httpmodules": (
        "bare + HttpModuleMiddleware with 2 no-op common modules",
        "/plaintext",
        _tp(S.TpPlaintext, MIDDLEWARE_CLASSES=(_HTTPMOD,), COMMON_MODULES=_MODULES),
        "bare",
    ),
    "signals": (
        "bare + SignalMiddleware, no receivers",
        "/plaintext",
        _tp(S.TpPlaintext, MIDDLEWARE_CLASSES=(_SIGNAL,)),
        "bare",
    ),
    "stack": (
        "bare + 5 no-ops + HttpModuleMiddleware (2 modules) + SignalMiddleware",
        "/plaintext",
        _tp(S.TpPlaintext, **S.STACK_SETTINGS),
        "bare",
    ),
    "raw-json": ("raw Tornado json.dumps", "/json", _raw(S.RawJson), "raw-json"),
    "bare-json-dumps": (
        "WebHandler writing json.dumps (pipeline only)",
        "/json",
        _tp(TpJsonDumps, MIDDLEWARE_CLASSES=()),
        "raw-json",
    ),
    "bare-write-api": (
        "ApiHandler.write_api (write_api's own cost)",
        "/json",
        _tp(S.TpJson, MIDDLEWARE_CLASSES=()),
        "bare-json-dumps",
    ),
}


async def _run(name: str, n: int, timed: bool) -> float:
    _desc, path, build, _base = VARIANTS[name]
    app = build()
    if hasattr(app, "startup"):
        await app.startup()
    conn = await drive(app, path, max(n, 1) if not timed else 500)
    if conn.status != 200:
        raise SystemExit(f"{name}: status {conn.status}")
    if not timed:
        return 0.0
    best = float("inf")
    for _ in range(10):
        t0 = time.process_time()
        await drive(app, path, n)
        best = min(best, (time.process_time() - t0) / n * 1e6)
    return best


def _count(name: str, n: int, log_dir: Path) -> int:
    log = log_dir / f"{name}-{n}.valgrind"
    args = ["--child", name, "--n", str(n)]
    return count_module("benchmarks.attribution", args, log, name, timeout=1800)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.attribution", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--only", help="comma list of variants (their comparison bases added)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--timed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        value = asyncio.run(_run(args.child, args.n, args.timed))
        print(json.dumps(value))
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    names = list(VARIANTS)
    if args.only:
        chosen = [v.strip() for v in args.only.split(",") if v.strip()]
        for v in chosen:
            if v not in VARIANTS:
                raise SystemExit(f"unknown variant {v!r} ({', '.join(VARIANTS)})")
        names = [n for n in VARIANTS if n in chosen or any(VARIANTS[c][3] == n for c in chosen)]
        names = list(dict.fromkeys(["raw", *names]))
    log_dir = Path(tempfile.mkdtemp(prefix="tornadopy-attr-"))
    print(f"{len(names)} variants x 2 valgrind runs, {args.jobs} jobs ...", flush=True)
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {
                (v, n): pool.submit(_count, v, n, log_dir)
                for v in names
                for n in (args.warmup, args.warmup + args.requests)
            }
            totals = {k: f.result() for k, f in futures.items()}
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    per = {v: (totals[(v, args.warmup + args.requests)] - totals[(v, args.warmup)]) for v in names}
    per = {v: x / args.requests for v, x in per.items()}
    timed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.attribution",
            "--child",
            "raw",
            "--n",
            "2000",
            "--timed",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    raw_us = float(json.loads(timed.stdout.strip().splitlines()[-1]))
    ns_per_instr = raw_us * 1000 / per["raw"]
    print(
        f"\nraw Tornado in process: {per['raw']:,.0f} instructions/request, best {raw_us:.1f} µs "
        f"CPU/request here -> {ns_per_instr:.3f} ns/instruction\n"
    )
    print("| variant | what | instructions/request | vs | + instructions | ≈ + µs |")
    print("|---|---|---:|---|---:|---:|")
    for v in names:
        desc, _path, _build, base = VARIANTS[v]
        delta = per[v] - per[base] if base in per else float("nan")
        print(
            f"| {v} | {desc} | {per[v]:,.0f} | {base} | {delta:+,.0f} | "
            f"{delta * ns_per_instr / 1000:+.1f} |"
        )
    return 0


if __name__ == "__main__":
    from benchmarks.attribution import main as _main

    sys.exit(_main())
