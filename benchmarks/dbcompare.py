"""The database layers side by side, in process: round trips, CPU time and instructions per request.

::

    python -m benchmarks.dbcompare                                  # round trips + CPU time
    python -m benchmarks.dbcompare --tests=db,updates --sides=tp,orm --drivers=aiomysql,asyncmy
    python -m benchmarks.dbcompare --instructions --requests=200 --warmup=50   # valgrind too
    python -m benchmarks.dbcompare --profile tp-db                  # cProfile of one variant

A variant is ``side-test`` or ``side-test-driver`` (driver ``aiomysql`` unless named):

- ``core``: raw Tornado handlers on SQLAlchemy Core (``benchmarks.dbtests.RAW_HANDLERS``);
- ``orm``: raw Tornado handlers on SQLAlchemy's own ``AsyncSession`` (issue 5's baseline);
- ``tp``: tornadopy's ``Model.Q``/``Model.session`` through ``DBAlchemyMiddleware`` (the only
  middleware), tornadopy's default ``SQLALCHEMY_CONFIGURATION``;
- ``basedb``: raw Tornado handlers calling :mod:`tornadopy.db.basedb` (a ``DB`` made from a URL:
  its own engine, in autocommit on MySQL drivers, like the ``driver`` side);
- ``driver``: raw Tornado handlers calling the driver's own pool (autocommit on).

Each request goes through the application's real entry point on an in-memory connection
(:func:`benchmarks.micro.drive`), against the real MariaDB on 127.0.0.1:3306. Every variant runs
in its own process (settings are per process); rounds are interleaved. Figures:

- **round trips/request**: commands the driver sent to the server (aiomysql's and asyncmy's
  ``_execute_command`` counted, by kind: ``SELECT``, ``UPDATE``, ``ROLLBACK``, ``COMMIT``,
  ``PING``...), measured over ``--requests`` requests after the warm-up;
- **CPU µs/request**: ``time.process_time`` of the client process (the best of 5 batches; the
  median of the rounds) -- the database server's time is not in it;
- **instructions/request** (``--instructions``): valgrind's count of the client process for
  ``warmup + requests`` minus ``warmup`` requests, divided by ``requests``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("core", "orm", "tp", "basedb", "driver")
TESTS = ("db", "queries", "fortunes", "updates")
#: the baseline of each side in the ratio column
BASELINE = {"tp": "orm", "core": "core", "orm": "orm", "basedb": "driver", "driver": "driver"}

_counts: collections.Counter[str] = collections.Counter()


def _count_commands() -> None:
    """Count every command the MySQL drivers send (one command = one round trip)."""
    import aiomysql.connection

    def wrap(cls: Any) -> None:
        original = cls._execute_command

        async def _execute_command(self: Any, command: int, sql: Any) -> Any:
            if command == 3:  # COM_QUERY
                text = sql.decode("utf-8", "replace") if isinstance(sql, bytes) else str(sql)
                _counts[text.split(None, 1)[0].upper() if text.strip() else "?"] += 1
            else:
                _counts[{14: "PING", 1: "QUIT", 2: "INIT_DB"}.get(command, f"COM_{command}")] += 1
            return await original(self, command, sql)

        cls._execute_command = _execute_command

    wrap(aiomysql.connection.Connection)
    try:
        import asyncmy.connection

        wrap(asyncmy.connection.Connection)
    except (ImportError, TypeError, AttributeError):  # pragma: no cover - not patchable
        pass


def _app(side: str, driver: str) -> Any:
    import tornado.web

    from benchmarks import dbtests
    from benchmarks.servers import TEST_TYPES

    dbtests.RAW_DRIVER[0] = driver
    if side == "tp":
        from tornadopy.application import Application
        from tornadopy.conf import settings
        from tornadopy.urls import Url, route

        settings.configure(
            MIDDLEWARE_CLASSES=("tornadopy.middleware.dbalchemy.DBAlchemyMiddleware",),
            TORNADO_CONF={"template_path": dbtests.TEMPLATE_PATH},
            **dbtests.tp_settings(driver),
        )
        u = Url()
        return Application(
            urls=route(*(u(TEST_TYPES[t].route, h, name=t) for t, h in dbtests.TP_HANDLERS.items()))
        )
    handlers = {
        "core": dbtests.RAW_HANDLERS,
        "orm": dbtests.RAW_ORM_HANDLERS,
        "basedb": dbtests.BASEDB_HANDLERS,
        "driver": dbtests.DRIVER_HANDLERS,
    }[side]
    return tornado.web.Application(
        [(TEST_TYPES[t].route, h) for t, h in handlers.items()],
        template_path=dbtests.TEMPLATE_PATH,
    )


def parse(variant: str) -> tuple[str, str, str]:
    parts = variant.split("-")
    if len(parts) == 2:
        parts.append("aiomysql")
    if len(parts) != 3 or parts[0] not in SIDES or parts[1] not in TESTS:
        raise SystemExit(f"unknown variant {variant!r} (side-test[-driver]; sides {SIDES})")
    return parts[0], parts[1], parts[2]


async def _child(variant: str, n: int, warmup: int, mode: str) -> dict[str, Any]:
    from benchmarks.micro import drive
    from benchmarks.servers import TEST_TYPES

    side, test, driver = parse(variant)
    if mode == "roundtrips":
        _count_commands()
    app = _app(side, driver)
    if hasattr(app, "startup"):
        await app.startup()
    tt = TEST_TYPES[test]
    conn = await drive(app, tt.path, max(warmup, 1))
    if conn.status != 200 or not tt.check(conn.body):
        raise SystemExit(f"{variant}: wrong answer {conn.status} {conn.body[:200]!r}")
    out: dict[str, Any] = {}
    if mode == "roundtrips":
        _counts.clear()
        await drive(app, tt.path, n)
        out = {k: v / n for k, v in sorted(_counts.items())}
    elif mode == "timed":
        size = max(1, n // 5)
        best = []
        for _ in range(5):
            t0 = time.process_time()
            await drive(app, tt.path, size)
            best.append((time.process_time() - t0) / size * 1e6)
        out = {"us": min(best)}
    elif mode == "profile":
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        await drive(app, tt.path, n)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(40)
    elif n:  # valgrind: just run
        await drive(app, tt.path, n)
    if hasattr(app, "shutdown"):
        await app.shutdown()
    await _dispose()
    return out


async def _dispose() -> None:
    from benchmarks import dbtests
    from tornadopy.db.dbalchemy import dispose_all

    await dispose_all()
    for engine in dbtests._engines.values():
        await engine.dispose()
    for pool in dbtests._pools.values():
        pool.close()
        await pool.wait_closed()


def _run_child(variant: str, n: int, warmup: int, mode: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.dbcompare", "--child", variant, "--n", str(n),
           "--warmup", str(warmup), "--mode", mode]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{variant}: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _valgrind(variant: str, n: int, warmup: int, log_dir: Path) -> int:
    from benchmarks.instructions import count_module  # (the children import no other benchmark)

    log = log_dir / f"{variant}-{n}.valgrind"
    args = ["--child", variant, "--n", str(n), "--warmup", str(warmup), "--mode", "count"]
    return count_module("benchmarks.dbcompare", args, log, variant, timeout=3600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dbcompare", description=__doc__)
    parser.add_argument("--tests", default=",".join(TESTS))
    parser.add_argument("--sides", default=",".join(SIDES))
    parser.add_argument("--drivers", default="aiomysql")
    parser.add_argument("--only", help="comma list of variants (instead of tests x sides)")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instructions", action="store_true", help="valgrind counts too")
    parser.add_argument("--no-timed", action="store_true", help="skip the CPU-time rounds")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--profile", metavar="VARIANT", help="cProfile one variant")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="timed", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_child(args.child, args.n, args.warmup, args.mode))))
        return 0
    from benchmarks import dbtests

    dbtests.setup()
    if args.profile:
        asyncio.run(_child(args.profile, args.requests, args.warmup, "profile"))
        return 0
    if args.only:
        variants = [v.strip() for v in args.only.split(",") if v.strip()]
    else:
        variants = [
            f"{s}-{t}" + ("" if d == "aiomysql" else f"-{d}")
            for t in args.tests.split(",")
            for d in args.drivers.split(",")
            for s in args.sides.split(",")
        ]
    for v in variants:
        parse(v)
    rts = {v: _run_child(v, min(args.requests, 200), args.warmup, "roundtrips") for v in variants}
    cpu: dict[str, float] = {}
    if not args.no_timed:
        runs: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(args.rounds):
            for v in variants:
                runs[v].append(_run_child(v, args.requests, args.warmup, "timed")["us"])
        cpu = {v: statistics.median(x) for v, x in runs.items()}
    instr: dict[str, float] = {}
    if args.instructions:
        if shutil.which("valgrind") is None:
            raise SystemExit("valgrind is not installed")
        log_dir = Path(tempfile.mkdtemp(prefix="tornadopy-dbcompare-"))
        try:
            with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
                futures = {
                    (v, n): pool.submit(_valgrind, v, n, args.warmup, log_dir)
                    for v in variants
                    for n in (0, args.requests)
                }
                totals = {k: f.result() for k, f in futures.items()}
        finally:
            shutil.rmtree(log_dir, ignore_errors=True)
        instr = {v: (totals[(v, args.requests)] - totals[(v, 0)]) / args.requests for v in variants}
    print("| variant | round trips/request | CPU µs/request | instructions/request | x base |")
    print("|---|---|---:|---:|---:|")
    for v in variants:
        side, test, driver = parse(v)
        base = f"{BASELINE[side]}-{test}" + ("" if driver == "aiomysql" else f"-{driver}")
        rt = rts[v]
        total = sum(rt.values())
        kinds = ", ".join(f"{k} {c:g}" for k, c in rt.items())
        figures = instr or cpu
        ratio = (
            f"{figures[base] / figures[v]:.3f} vs {base}"
            if base in figures and base != v and figures.get(v)
            else ""
        )
        print(
            f"| {v} | {total:g} ({kinds}) | {cpu.get(v, float('nan')):.0f} | "
            f"{instr.get(v, float('nan')):,.0f} | {ratio} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
