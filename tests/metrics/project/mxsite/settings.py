"""Settings of the metrics site run as real processes by ``test_processes.py``."""

import os

DEBUG = True
INSTALLED_APPS = ("mxsite",)
MIDDLEWARE_CLASSES = ("tornadopy.middleware.metrics.MetricsMiddleware",)
METRICS = {"path": "/metrics", "refresh_interval": 0.1}
DATABASE_CONNECTION = {
    "default": {"connections": [{"ROLE": "master", "URL": os.environ["MXSITE_DB_URL"]}]}
}
PING_DB = 0
LOGGING_DIR = "."
