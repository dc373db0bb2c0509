"""The test kit itself: plugin fixtures, settings marker, cookie-keeping client."""

import json

import pytest

from tornadopy import settings


@pytest.mark.tornadopy_settings(
    INSTALLED_APPS=("coreproj.shop",), MIDDLEWARE_CLASSES=(), DEBUG=True
)
async def test_marker_overrides_settings_for_one_test(tornadopy_client):
    assert settings.DEBUG is True and settings.INSTALLED_APPS == ("coreproj.shop",)
    assert (await tornadopy_client.get("/plain")).code == 200


async def test_settings_are_back_after_the_marked_test():
    assert settings.DEBUG is False


@pytest.mark.tornadopy_settings(INSTALLED_APPS=("coreproj.shop",), MIDDLEWARE_CLASSES=())
async def test_client_keeps_cookies_across_requests(tornadopy_client):
    await tornadopy_client.post("/flash")  # sets the signed flash cookie, XSRF like a form
    shown = json.loads((await tornadopy_client.get("/flash")).body)
    assert shown["messages"] == [["info", "first"], ["success", "second"]]
