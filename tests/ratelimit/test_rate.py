"""``Rate`` parsing and the module's start-up checks (no Redis needed)."""

import pytest

from ratelimit.helpers import MODULES_MW, path, redis_caches
from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.ratelimit import Rate, RateLimitModule, rate_limit
from tornadopy.ratelimit.window import Decision


@pytest.mark.parametrize(
    ("text", "limit", "seconds"),
    [
        ("5/minute", 5, 60),
        ("5/min", 5, 60),
        ("100/hour", 100, 3600),
        ("1000/day", 1000, 86400),
        ("10/second", 10, 1),
        ("10/s", 10, 1),
        ("10/30s", 10, 30),
        ("3/10m", 3, 600),
        (" 7 / 2 hours ", 7, 7200),
        ("2/0.5s", 2, 0.5),
        ((4, 90), 4, 90),
    ],
)
def test_rates_parse(text, limit, seconds):
    rate = Rate.parse(text)
    assert (rate.limit, rate.seconds) == (limit, seconds)
    assert rate.window_ms == round(seconds * 1000)


@pytest.mark.parametrize(
    "bad", ["", "5", "5/", "/minute", "5/fortnight", "0/minute", "-1/minute", "5/0s", (0, 1), 5]
)
def test_bad_rates_are_refused_with_the_setting_named(bad):
    with pytest.raises(ImproperlyConfigured, match=r"LoginLimit\.rate"):
        Rate.parse(bad, setting="LoginLimit.rate")


def test_retry_after_is_whole_seconds_and_at_least_one():
    assert Decision(False, 0, 1).retry_after == 1
    assert Decision(False, 0, 1000).retry_after == 1
    assert Decision(False, 0, 1001).retry_after == 2
    assert Decision(True, 3, 0).retry_after == 0


class BadRate(RateLimitModule):
    rate = "lots"
    cache_alias = "rl"


class UnknownAlias(RateLimitModule):
    cache_alias = "nope"


class LocMemAlias(RateLimitModule):
    cache_alias = "default"


class BadKey(RateLimitModule):
    key = "email"
    cache_alias = "rl"


class BadMethods(RateLimitModule):
    methods = "POST"
    cache_alias = "rl"


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (BadRate, r"BadRate\.rate = 'lots' is not a rate"),
        (UnknownAlias, r"UnknownAlias\.cache_alias = 'nope' names no alias of CACHES"),
        (
            LocMemAlias,
            r"LocMemAlias\.cache_alias = 'default' names CACHES\['default'\] whose BACKEND",
        ),
        (BadKey, r"BadKey\.key = 'email' is not a known key"),
        (BadMethods, r"BadMethods\.methods must be a list"),
    ],
)
def test_a_misconfigured_module_stops_the_application_from_being_built(cls, message):
    with override_settings(
        MIDDLEWARE_CLASSES=(MODULES_MW,),
        CACHES=redis_caches("unused"),
        ROUTE_MODULES={"^/x": [path(cls)]},
    ):
        with pytest.raises(ImproperlyConfigured, match=message):
            Application(urls=[])


def test_the_factory_makes_a_named_subclass_in_the_callers_module():
    Limit = rate_limit("5/minute", name="Limit", key="ip", methods=("POST",))
    assert issubclass(Limit, RateLimitModule)
    assert Limit.__module__ == __name__ and Limit.__qualname__ == "Limit"
    assert Limit.rate == "5/minute" and Limit.methods == ("POST",)
    with pytest.raises(TypeError, match="unknown options"):
        rate_limit("5/minute", name="Typo", keys="ip")


def test_routes_without_a_limit_get_no_module_at_all():
    from ratelimit.helpers import URLS, ThreePerMinute
    from tornadopy.httpmodule.httpmodule import HttpModuleMiddleware

    with override_settings(
        MIDDLEWARE_CLASSES=(MODULES_MW,),
        CACHES=redis_caches("unused"),
        ROUTE_MODULES={"Login": [path(ThreePerMinute)]},
    ):
        app = Application(urls=URLS)
    modules = app.middleware.find(HttpModuleMiddleware)
    modules.process_init(app)
    assert modules.chain_for("Free", "/free").begin_request == ()
    assert [type(m) for m in modules.chain_for("Login", "/login").modules] == [ThreePerMinute]
