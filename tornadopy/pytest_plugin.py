"""pytest plugin of tornadopy (registered through the ``pytest11`` entry point).

Fixtures (async ones need pytest-asyncio, which the ``dev`` extra installs):

- ``tornadopy_app``: an :class:`~tornadopy.application.Application` built from the settings
  module named by the ``tornadopy_settings`` ini option (``[tool.pytest.ini_options]``), else by
  ``tornadopy_APP_SETTINGS``; a test may change settings with the ``tornadopy_settings`` marker.
- ``tornadopy_client``: a :class:`~tornadopy.testing.Client` for that application served on a
  loopback port (``process_init``/``process_shutdown`` run around the test); it keeps cookies
  across requests and answers XSRF like a browser form.

::

    # pyproject.toml
    [tool.pytest.ini_options]
    tornadopy_settings = "settings.setting"

    # tests/test_home.py
    import pytest

    async def test_home(tornadopy_client):
        resp = await tornadopy_client.get('/')
        assert resp.code == 200

    @pytest.mark.tornadopy_settings(DEBUG=False, SESSION={'expires': 60})
    async def test_with_other_settings(tornadopy_client): ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from tornadopy.conf import override_settings, settings, settings_module_name
from tornadopy.testing import Client, serve


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "tornadopy_settings",
        "settings module of the tornadopy_app fixture (default: tornadopy_APP_SETTINGS)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "tornadopy_settings(**values): override tornadopy settings for this test"
    )


@pytest.fixture
def tornadopy_settings(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The settings of this test: the configured module plus any ``tornadopy_settings`` marker."""
    module = request.config.getini("tornadopy_settings") or settings_module_name()
    saved = settings.__dict__["_wrapped"]
    if module:
        settings.configure(module)
    values: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("tornadopy_settings"))):
        values.update(marker.kwargs)
    try:
        with override_settings(**values) as current:
            yield current
    finally:
        settings.__dict__["_wrapped"] = saved


@pytest.fixture
def tornadopy_app(tornadopy_settings: Any) -> Any:
    """The application built from this test's settings."""
    from tornadopy.application import Application

    return Application()


@pytest_asyncio.fixture
async def tornadopy_client(tornadopy_app: Any) -> AsyncIterator[Client]:
    """A cookie-keeping client of ``tornadopy_app`` served on a loopback port."""
    async with serve(tornadopy_app) as client:
        yield client
