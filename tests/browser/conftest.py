"""Fixtures for the real-browser tests: Debian's Chromium, the example site as a subprocess.

- ``chromium``: the path of ``/usr/bin/chromium`` (and playwright importable); skips with the
  reason when either is missing, fails instead when ``TORNADOPY_REQUIRE_SERVICES=1``.
- ``example_site``: ``examples/helloworld/runserver.py`` started as a real process on a free
  loopback port (one per test module), stopped with SIGTERM (then SIGKILL) afterwards.
- ``browser``: a headless Chromium driven through playwright's sync API, with a fresh profile
  directory; closed (and its driver stopped) after the test, whatever happened.
- ``artifacts``: a per-test directory for screenshots under ``$TORNADOPY_BROWSER_ARTIFACTS``
  (default ``test-artifacts/browser/`` at the top of the repository).

Playwright never downloads a browser here: it launches the Debian binary by its path.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tornadopy.testing import services_required

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "helloworld"
CHROMIUM = "/usr/bin/chromium"

#: Flags for Chromium as root in a container: no sandbox, no GPU, nothing that phones home.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # loopback only: never route the test site through a proxy
]

SERVER_START_TIMEOUT = 30.0  # seconds for the example site to answer its first request
SERVER_STOP_TIMEOUT = 15.0  # seconds to exit after SIGTERM before it is killed
BROWSER_LAUNCH_TIMEOUT_MS = 60_000
ACTION_TIMEOUT_MS = 15_000  # every click, fill and expectation
NAVIGATION_TIMEOUT_MS = 20_000

# The example's own development settings with autoreload off: other work in the checkout must
# not restart the server mid-test (its sessions live in process memory).
SETTINGS_OVERLAY = '''\
"""The helloworld example's settings.setting, with autoreload off, for the browser tests."""

from settings.setting import *  # noqa: F403

TORNADO_CONF = {**TORNADO_CONF, "autoreload": False}  # noqa: F405
'''


def artifacts_root() -> Path:
    """Where screenshots go: ``$TORNADOPY_BROWSER_ARTIFACTS`` or ``test-artifacts/browser``."""
    env = os.environ.get("TORNADOPY_BROWSER_ARTIFACTS")
    return Path(env) if env else ROOT / "test-artifacts" / "browser"


def _unavailable(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} and TORNADOPY_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary; skip (or fail under CI) when it or playwright is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(
            f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver, "
            "or scripts/chromium.sh)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed (pip install playwright)")
    return CHROMIUM


# ---------------------------------------------------------------- artefacts


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Keep each phase's report on the item, so fixtures can tell a failed test at teardown."""
    report = yield
    setattr(item, f"_report_{report.when}", report)
    return report


class Artifacts:
    """A test's artefact directory; ``shot(page, name)`` saves ``NN-name.png`` in step order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.step = 0
        self.files: list[Path] = []

    def shot(self, page: Any, name: str) -> Path:
        self.step += 1
        target = self.path / f"{self.step:02d}-{name}.png"
        page.screenshot(path=str(target), full_page=True)
        self.files.append(target)
        return target


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Artifacts:
    """A fresh directory for this test's screenshots (stale ones of an earlier run removed)."""
    path = artifacts_root() / request.node.name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return Artifacts(path)


# ---------------------------------------------------------------- the example site


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> Any:
    """One GET to the site with a plain HTTP client (no cookies kept, no redirect followed)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        resp.body = resp.read()
        return resp
    finally:
        conn.close()


class Site:
    """The running example site: ``url(path)``, its port, its process and its log directory."""

    def __init__(self, proc: subprocess.Popen, port: int, logs: Path) -> None:
        self.proc = proc
        self.port = port
        self.logs = logs
        self.base_url = f"http://127.0.0.1:{port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def output(self) -> str:
        out = self.logs / "server.out"
        return out.read_text(errors="replace")[-4000:] if out.exists() else ""


def _wait_until_serving(site: Site) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if site.proc.poll() is not None:
            pytest.fail(
                f"the example site exited with {site.proc.returncode} at start-up:\n"
                + site.output(),
                pytrace=False,
            )
        try:
            if http_get(site.port, "/").status == 200:
                return
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    pytest.fail(
        f"the example site did not answer within {SERVER_START_TIMEOUT}s ({last}):\n"
        + site.output(),
        pytrace=False,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(SERVER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture(scope="module")
def example_site(chromium: str, request: pytest.FixtureRequest) -> Iterator[Site]:
    """``python examples/helloworld/runserver.py --port=N`` on a free loopback port."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    logs = artifacts_root() / f"{module}-server"
    shutil.rmtree(logs, ignore_errors=True)
    (logs / "overlay").mkdir(parents=True)
    (logs / "overlay" / "browser_test_settings.py").write_text(SETTINGS_OVERLAY)
    env = dict(os.environ)
    env.pop("tornadopy_APP_SETTINGS", None)
    env.pop("TORNADOPY_APP_SETTINGS", None)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(logs / "overlay"), env.get("PYTHONPATH", "")) if p
    )
    port = free_port()
    with open(logs / "server.out", "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(EXAMPLE / "runserver.py"),
                "--address=127.0.0.1",
                f"--port={port}",
                "--settings=browser_test_settings",
                f"--logging_dir={logs}",
            ],
            cwd=str(EXAMPLE),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    site = Site(proc, port, logs)
    try:
        _wait_until_serving(site)
        yield site
    finally:
        _stop(proc)


# ---------------------------------------------------------------- the browser


@pytest.fixture
def browser(
    chromium: str, artifacts: Artifacts, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A headless Chromium context with a fresh profile; one page is open (``.pages[0]``)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            timeout=BROWSER_LAUNCH_TIMEOUT_MS,
            viewport={"width": 900, "height": 640},
        )
        try:
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
            if not context.pages:
                context.new_page()
            yield context
            report = getattr(request.node, "_report_call", None)
            if report is not None and report.failed:
                for i, page in enumerate(context.pages):
                    try:
                        page.screenshot(path=str(artifacts.path / f"failure-page{i}.png"))
                    except Exception:  # the page may be what broke; the test already failed
                        pass
        finally:
            context.close()  # closes Chromium; leaving the with-block stops the driver
