import pytest

from ratelimit.helpers import CALLS


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()
    yield
