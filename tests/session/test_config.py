"""SESSION is read and checked when the application is built (start-up errors name the key)."""

import pytest

from session.helpers import SESSION_MW, URLS
from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.middleware.session import SessionMiddleware, SignalMiddleware
from tornadopy.middleware.signal import SignalMiddleware as RealSignalMiddleware
from tornadopy.session import BROWSER_SESSION_TTL, SessionConfig


def build(**session):
    with override_settings(MIDDLEWARE_CLASSES=[SESSION_MW], SESSION=session):
        return Application(urls=URLS)


@pytest.mark.parametrize(
    "session,key",
    [
        ({"session_cache_alias": "nope"}, "session_cache_alias"),
        ({"session_name": "bad name;"}, "session_name"),
        ({"session_name": ""}, "session_name"),
        ({"expires": -1}, "expires"),
        ({"expires": "soon"}, "expires"),
        ({"samesite": "sometimes"}, "samesite"),
        ({"samesite": "None", "secure": False}, "samesite"),
        ({"secret_key": ""}, "secret_key"),
    ],
)
def test_bad_session_settings_stop_the_build(session, key):
    with pytest.raises(ImproperlyConfigured, match=rf"SESSION\['{key}'\]"):
        build(**session)


def test_defaults_are_the_seed_settings_plus_lax():
    with override_settings():
        config = SessionConfig.from_settings()
    assert config.cookie_name == "__TORNADOSSID"
    assert config.cache_alias == "default"
    assert config.cookie_domain is None
    assert config.cookie_path == "/"
    assert config.expires == 0 and config.store_ttl(0) == BROWSER_SESSION_TTL == 86400
    assert config.httponly is True and config.secure is False
    assert config.samesite == "Lax"
    assert config.ignore_change_ip is False
    assert config.version == "EtdHjDO1"


def test_samesite_none_with_secure_is_accepted():
    with override_settings(SESSION={"samesite": "none", "secure": True}):
        assert SessionConfig.from_settings().samesite == "None"


def test_the_middleware_is_built_once_from_the_settings_of_build_time():
    app = build(session_name="built_name")
    middleware = app.middleware.find(SessionMiddleware)
    assert middleware.manager.config.cookie_name == "built_name"


def test_signal_middleware_is_importable_from_the_seed_path():
    assert SignalMiddleware is RealSignalMiddleware
