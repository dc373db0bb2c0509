import pytest

from session import helpers


@pytest.fixture(autouse=True)
def _reset_helpers():
    helpers.CALLS.clear()
    helpers.GATES.clear()
    yield
    helpers.CALLS.clear()


@pytest.fixture(params=["locmem", "redis", "memcached"])
def backend(request):
    """Every session store the manual names: local memory, Redis, memcached (real servers)."""
    if request.param == "redis":
        request.getfixturevalue("redis_server")
    elif request.param == "memcached":
        request.getfixturevalue("memcached_server")
    return request.param
