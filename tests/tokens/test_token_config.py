"""TOKEN is checked when the application is built: token_cache_alias must name a Redis cache."""

import pytest

from tokens.helpers import TOKEN_MW, URLS, redis_entry
from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.middleware.token import TokenMiddleware

ALIAS = r"TOKEN\['token_cache_alias'\]"


def build(caches=None, **token):
    settings = {"MIDDLEWARE_CLASSES": [TOKEN_MW], "TOKEN": token}
    if caches is not None:
        settings["CACHES"] = caches
    with override_settings(**settings):
        return Application(urls=URLS)


def test_default_settings_name_a_redis_alias_that_does_not_exist():
    with pytest.raises(ImproperlyConfigured, match=ALIAS + r".*'default_redis'.*RedisCache"):
        build()


@pytest.mark.parametrize(
    "backend",
    [
        "tornadopy.cache.backends.localcache.LocMemCache",
        "tornadopy.cache.backends.memcached.MemcachedCache",
        "tornadopy.cache.backends.dummy.DummyCache",
    ],
)
def test_a_cache_that_is_not_redis_is_a_start_up_error(backend):
    caches = {"default": {"BACKEND": backend, "LOCATION": "127.0.0.1:11211"}}
    with pytest.raises(ImproperlyConfigured, match=ALIAS + ".*Redis"):
        build(caches, token_cache_alias="default")


def test_a_bad_backend_path_names_the_cache_setting():
    caches = {"t": {"BACKEND": "no.such.Backend"}}
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['t'\]\['BACKEND'\]"):
        build(caches, token_cache_alias="t")


@pytest.mark.parametrize("backend", ["RedisCache", "RedisClient"])
def test_redis_cache_and_redis_client_are_accepted(backend):
    app = build({"t": redis_entry("p", backend=backend)}, token_cache_alias="t")
    config = app.middleware.find(TokenMiddleware).manager.config
    assert config.cache_alias == "t"
    assert config.timeout == 2592000  # the seed's 30 days
    assert config.ignore_change_ip is False


@pytest.mark.parametrize(
    "token,key",
    [
        ({"token_timeout": 0}, "token_timeout"),
        ({"token_timeout": "long"}, "token_timeout"),
        ({"secret_key": ""}, "secret_key"),
    ],
)
def test_bad_token_settings_name_the_key(token, key):
    with pytest.raises(ImproperlyConfigured, match=rf"TOKEN\['{key}'\]"):
        build({"t": redis_entry("p")}, token_cache_alias="t", **token)
