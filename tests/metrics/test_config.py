"""``METRICS`` checks, what is (not) installed when metrics are off, and the multi-process
helpers (each in a fresh interpreter: they change the process environment)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.metrics import metrics_routes
from tornadopy.metrics.config import MetricsConfig, metrics_enabled

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"paht": "/metrics"}, r"METRICS has unknown keys \['paht'\]"),
        ({"path": "metrics"}, r"METRICS\['path'\] = 'metrics' must be a URL path"),
        ({"buckets": ["fast"]}, r"METRICS\['buckets'\]"),
        ({"buckets": []}, r"METRICS\['buckets'\] must not be empty"),
        ({"allow": ["not-an-ip"]}, r"METRICS\['allow'\]: 'not-an-ip'"),
        ({"refresh_interval": 0}, r"METRICS\['refresh_interval'\]"),
        ("on", r"METRICS must be a dict"),
    ],
)
def test_bad_settings_name_the_key(value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        MetricsConfig.from_settings(value)


def test_a_bad_setting_stops_the_application_from_being_built():
    with override_settings(METRICS={"path": "nope"}):
        with pytest.raises(ImproperlyConfigured, match=r"METRICS\['path'\]"):
            Application(urls=[])


def test_off_by_default():
    assert metrics_routes() == []
    assert not metrics_enabled()
    app = Application(urls=[])
    assert "tornadopy-metrics" not in {r["name"] for r in app.route_table}


def test_enabled_by_the_middleware_or_the_path():
    with override_settings(MIDDLEWARE_CLASSES=("tornadopy.middleware.metrics.MetricsMiddleware",)):
        assert metrics_enabled()
    with override_settings(METRICS={"path": "/m"}):
        assert metrics_enabled()
        assert [r[3] for r in metrics_routes()] == ["tornadopy-metrics"]


def run_python(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line."""
    full_env = {**os.environ, **env}
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_metrics_off_installs_nothing_and_imports_nothing():
    result = run_python(
        """
        import asyncio, json, sys
        from tornadopy.conf import settings
        settings.configure(None, DEBUG=True)
        from tornadopy import Url, route
        from tornadopy.application import Application
        from tornadopy.cache import caches
        from tornadopy.cache.backends.localcache import LocMemCache
        from tornadopy.handler import WebHandler
        from tornadopy.metrics import prepare_multiprocess
        from tornadopy.testing import serve

        class Home(WebHandler):
            async def get(self):
                await caches['default'].get('x')
                self.write('ok')

        async def main():
            app = Application(urls=route(Url('')(r'/', Home, name='Home')))
            async with serve(app) as client:
                code = (await client.get('/')).code
                cache_type_is_plain = type(caches['default']) is LocMemCache
            return {
                'code': code,
                'prometheus_imported': 'prometheus_client' in sys.modules,
                'hook': caches.backend_hook is not None,
                'cache_type_is_plain': cache_type_is_plain,
                'routes': sorted(r['name'] for r in app.route_table),
                'metrics_middleware': any(
                    type(m).__name__ == 'MetricsMiddleware' for m in app.middleware.instances
                ),
                'multiprocess_dir': prepare_multiprocess(),
            }

        print(json.dumps(asyncio.run(main())))
        """
    )
    assert result == {
        "code": 200,
        "prometheus_imported": False,
        "hook": False,
        "cache_type_is_plain": True,
        "routes": ["Home", "tornadopy-healthz", "tornadopy-readyz"],
        "metrics_middleware": False,
        "multiprocess_dir": None,
    }


def test_prepare_multiprocess_exports_a_clean_directory(tmp_path):
    stale = tmp_path / "counter_4242.db"
    stale.write_bytes(b"old")
    keep = tmp_path / "notes.txt"
    keep.write_text("not ours")
    result = run_python(
        f"""
        import json, os
        import prometheus_client   # imported before the directory exists, as user code may
        from tornadopy.conf import settings
        settings.configure(None, DEBUG=True, METRICS={{'path': '/metrics',
                           'multiprocess_dir': {str(tmp_path)!r}}})
        from tornadopy.metrics import prepare_multiprocess
        path = prepare_multiprocess()
        from prometheus_client import values
        print(json.dumps({{
            'path': path,
            'env': os.environ.get('PROMETHEUS_MULTIPROC_DIR'),
            'multiprocess_values': getattr(values.ValueClass, '_multiprocess', False),
        }}))
        """
    )
    assert result == {"path": str(tmp_path), "env": str(tmp_path), "multiprocess_values": True}
    assert not stale.exists() and keep.exists()


def test_a_temporary_directory_is_removed_when_the_parent_exits():
    result = run_python(
        """
        import json, os
        from tornadopy.conf import settings
        settings.configure(None, DEBUG=True, METRICS={'path': '/metrics'})
        from tornadopy.metrics import prepare_multiprocess
        path = prepare_multiprocess()
        pid = os.fork()
        if pid == 0:
            raise SystemExit(0)  # a worker exiting runs atexit too: it must not remove it
        os.waitpid(pid, 0)
        print(json.dumps({'path': path, 'exists_after_worker_exit': os.path.isdir(path)}))
        """
    )
    assert result["exists_after_worker_exit"] is True
    assert os.path.basename(result["path"]).startswith("tornadopy-metrics-")
    assert not os.path.exists(result["path"])  # removed when the parent exited
