"""Database pool gauges, read from the pools of :mod:`tornadopy.db.dbalchemy` engines.

For every connection of ``DATABASE_CONNECTION`` in use in this process (``database`` label) and
each of its engines (``role``: ``master``, ``replica0``, ``replica1``...), whose pool has a queue
(``QueuePool``; ``NullPool``/``StaticPool`` have nothing to report):

- ``tornadopy_db_pool_checked_out``: connections in use;
- ``tornadopy_db_pool_checked_in``: idle connections;
- ``tornadopy_db_pool_size``: the configured ``pool_size``;
- ``tornadopy_db_pool_overflow``: connections open beyond ``pool_size``.

:func:`refresh_pool_gauges` reads them; the metrics endpoint calls it before every scrape, and
under ``--processes`` each worker also calls it every ``METRICS['refresh_interval']`` seconds
(the scrape then sums the workers' latest figures). Nothing is read, and SQLAlchemy is not even
imported, when the application never used the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import Any

from tornadopy.metrics.collectors import get_metrics

__all__ = ["pool_figures", "refresh_periodically", "refresh_pool_gauges"]

log = logging.getLogger("tornadopy.metrics")

_ENGINES = "tornadopy.db.dbalchemy.engines"
_seen: set[tuple[str, str]] = set()


def pool_figures() -> dict[tuple[str, str], tuple[int, int, int, int]]:
    """``{(database, role): (checked_out, checked_in, size, overflow)}`` for this loop's pools."""
    engines = sys.modules.get(_ENGINES)
    if engines is None:
        return {}
    registry = engines.registry()
    figures: dict[tuple[str, str], tuple[int, int, int, int]] = {}
    for name, group in list(registry.groups.items()):
        roles: list[tuple[str, Any]] = [("master", group.master)]
        roles.extend((f"replica{i}", r.engine) for i, r in enumerate(group.replicas))
        for role, engine in roles:
            pool = engine.pool
            if not hasattr(pool, "checkedout"):
                continue
            figures[(name, role)] = (
                int(pool.checkedout()),
                int(pool.checkedin()),
                int(pool.size()),
                max(0, int(pool.overflow())),
            )
    return figures


def refresh_pool_gauges() -> None:
    """Set the pool gauges from this process' pools (zero for pools that went away)."""
    metrics = get_metrics()
    figures = pool_figures()
    gauges = (
        metrics.pool_checked_out,
        metrics.pool_checked_in,
        metrics.pool_size,
        metrics.pool_overflow,
    )
    for labels in _seen - set(figures):
        for gauge in gauges:
            gauge.labels(*labels).set(0)
    for labels, values in figures.items():
        for gauge, value in zip(gauges, values, strict=True):
            gauge.labels(*labels).set(value)
    _seen.update(figures)


async def refresh_periodically(interval: float) -> None:
    """Refresh the pool gauges every ``interval`` seconds until cancelled."""
    while True:
        try:
            refresh_pool_gauges()
        except Exception:
            log.exception("metrics: reading the database pools failed")
        await asyncio.sleep(interval)


async def stop(task: asyncio.Task[None] | None) -> None:
    """Cancel a :func:`refresh_periodically` task and wait for it."""
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
