"""Multi-process mode: the ``--processes`` workers share their figures through files.

``prometheus_client`` keeps each worker's values in memory-mapped files of one directory
(``PROMETHEUS_MULTIPROC_DIR``); a scrape, served by whichever worker accepts it, adds up the
files of every worker. The web server calls, in the parent process:

- :func:`prepare_multiprocess` once, **before forking** the workers: it chooses the directory
  (``METRICS['multiprocess_dir']``, else an existing ``PROMETHEUS_MULTIPROC_DIR``, else a new
  temporary directory removed when the parent exits), deletes value files left by an earlier
  run, and exports ``PROMETHEUS_MULTIPROC_DIR`` so every worker inherits it;
- :func:`mark_worker_dead` with the pid of every worker that exited (before any restart), so
  its pool gauges stop counting. Its counters and histograms stay: totals never go backwards.

Both are no-ops when metrics are not in use.
"""

from __future__ import annotations

import atexit
import glob
import logging
import os
import shutil
import sys
import tempfile

from tornadopy.metrics.config import MetricsConfig, metrics_enabled, require_prometheus

__all__ = ["ENV", "is_multiprocess", "mark_worker_dead", "prepare_multiprocess"]

log = logging.getLogger("tornadopy.metrics")

ENV = "PROMETHEUS_MULTIPROC_DIR"
_VALUE_FILES = ("counter_*.db", "gauge_*.db", "histogram_*.db", "summary_*.db")

_prepared_dir: str | None = None


def is_multiprocess() -> bool:
    """True when ``prometheus_client`` keeps values in shared files (``PROMETHEUS_MULTIPROC_DIR``)."""
    return bool(os.environ.get(ENV))


def prepare_multiprocess() -> str | None:
    """Set up the shared directory before the workers are forked; returns it (None when metrics
    are off). Call it in the parent, once, after the settings are loaded."""
    global _prepared_dir
    if not metrics_enabled():
        return None
    require_prometheus()
    config = MetricsConfig.from_settings()
    path = config.multiprocess_dir or os.environ.get(ENV)
    owned = False
    if path:
        os.makedirs(path, exist_ok=True)
    else:
        path = tempfile.mkdtemp(prefix="tornadopy-metrics-")
        owned = True
    for pattern in _VALUE_FILES:  # values of an earlier run would be added to this one's
        for stale in glob.glob(os.path.join(path, pattern)):
            os.remove(stale)
    os.environ[ENV] = path
    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        # prometheus_client picks its value class when imported; it was imported before the
        # directory existed: metrics made from now on (in the workers) must use the files
        values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]
    if owned:
        parent = os.getpid()
        atexit.register(_remove_dir, path, parent)
    _prepared_dir = path
    log.info("metrics: multi-process mode, values shared in %s", path)
    return path


def _remove_dir(path: str, parent: int) -> None:
    if os.getpid() == parent:  # forked workers inherit atexit handlers: only the parent cleans
        shutil.rmtree(path, ignore_errors=True)


def mark_worker_dead(pid: int) -> None:
    """A worker exited: drop its live gauges (pool usage) from the totals."""
    if _prepared_dir is None:
        return
    from prometheus_client import multiprocess

    try:
        multiprocess.mark_process_dead(pid, _prepared_dir)
    except OSError:
        log.warning("metrics: could not clean up after worker %d", pid, exc_info=True)
