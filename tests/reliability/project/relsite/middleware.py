"""Middleware of the reliability test project."""

from __future__ import annotations

import os
from typing import Any


class ShutdownProbe:
    """Prints one line at ``process_shutdown`` saying how many requests were still in flight
    (the web server runs it after draining HTTP and before closing clients and pools)."""

    def process_shutdown(self, application: Any) -> None:
        print(
            f"relsite shutdown pid={os.getpid()} inflight={application.inflight} "
            f"accepting={application.accepting}",
            flush=True,
        )
