import os
import sys

import pytest

from tornadopy.conf import settings
from tornadopy.testing import require_service

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# test apps live in tests/apps (importable as top-level packages, like a project's apps)
sys.path.insert(0, os.path.join(HERE, "apps"))


@pytest.fixture(autouse=True)
def _fresh_settings():
    """Every test starts from the defaults (plus DEBUG so no secret is required)."""
    settings.configure(None, DEBUG=False)
    yield
    settings.reset()


@pytest.fixture
def redis_server():
    require_service("Redis", "127.0.0.1", 6379)
    return ("127.0.0.1", 6379)


@pytest.fixture
def memcached_server():
    require_service("memcached", "127.0.0.1", 11211)
    return ("127.0.0.1", 11211)


@pytest.fixture
def mysql_server():
    require_service("MariaDB", "127.0.0.1", 3306)
    return ("127.0.0.1", 3306)
