"""Settings (SPEC §1): chosen three ways, layered, attribute access, refusals."""

import os
import subprocess
import sys

import pytest

from tornadopy import settings
from tornadopy.conf import ENVIRONMENT_VARIABLE, check_settings, environment, override_settings
from tornadopy.exception import ImproperlyConfigured, SettingMissing
from tornadopy.webserver import Server

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")


def test_defaults_without_a_settings_module():
    settings.reset()
    with environment(None):
        assert settings.SESSION.session_name == "__TORNADOSSID"
        assert settings.TEMPLATE_CONFIG.template_engine is None
        assert "CACHES" in settings and "NOPE" not in settings


def test_chosen_by_environment_variable_seed_spelling():
    with environment("coreproj.settings.base"):
        settings.reset()
        assert settings.MARKER == "base"


def test_chosen_by_upper_case_environment_variable():
    settings.reset()
    saved = os.environ.pop(ENVIRONMENT_VARIABLE, None)
    os.environ["TORNADOPY_APP_SETTINGS"] = "coreproj.settings.other"
    try:
        assert settings.MARKER == "other"
    finally:
        os.environ.pop("TORNADOPY_APP_SETTINGS")
        if saved:
            os.environ[ENVIRONMENT_VARIABLE] = saved


def test_chosen_by_command_line_wins_over_environment():
    with environment("coreproj.settings.base"):
        Server().parse_command(["prog", "--settings=coreproj.settings.other", "--disable_log"])
        assert settings.MARKER == "other"


def test_dict_settings_merge_one_level_deep_and_allow_attribute_access():
    settings.configure("coreproj.settings.base")
    assert settings.SESSION.session_name == "shop_sid"
    assert settings.SESSION["cookie_path"] == "/"  # default kept
    assert settings.SESSION.samesite == "Lax"
    with pytest.raises(AttributeError, match="no key 'nope'"):
        settings.SESSION.nope


def test_missing_setting_names_it():
    with pytest.raises(SettingMissing, match="'NOT_A_SETTING'"):
        settings.NOT_A_SETTING
    assert getattr(settings, "NOT_A_SETTING", 7) == 7


def test_every_seed_setting_exists():
    for name in (
        "DEBUG",
        "XHEADERS",
        "TORNADO_CONF",
        "MIDDLEWARE_CLASSES",
        "INSTALLED_APPS",
        "COMMON_MODULES",
        "ROUTE_MODULES",
        "CACHES",
        "TRANSLATIONS",
        "TRANSLATIONS_CONF",
        "WHITELIST",
        "LOGGING_DIR",
        "LOGGING",
        "IPV4_ONLY",
        "SESSION",
        "TOKEN",
        "TEMPLATE_CONFIG",
        "DATABASE_CONNECTION",
        "PING_DB",
        "PING_CONN_COUNT",
        "SQLALCHEMY_CONFIGURATION",
        "THREADS_NUM",
        "EVENT_LOOP",
        "PROCESSES",
        "SHUTDOWN_TIMEOUT",
    ):
        assert name in settings, name


def test_override_settings_restores():
    with override_settings(DEBUG=True, SESSION={"expires": 60}):
        assert settings.DEBUG is True and settings.SESSION.expires == 60
        assert settings.SESSION.session_name == "__TORNADOSSID"
    assert settings.DEBUG is False


@pytest.mark.parametrize(
    "setting,key",
    [("SESSION", "secret_key"), ("TOKEN", "secret_key"), ("TORNADO_CONF", "cookie_secret")],
)
def test_refuses_shipped_secret_without_debug(setting, key):
    ok = {
        "SESSION": {"secret_key": "s" * 32},
        "TOKEN": {"secret_key": "t" * 32},
        "TORNADO_CONF": {"cookie_secret": "c" * 32},
    }
    ok.pop(setting)
    settings.configure(None, DEBUG=False, **ok)
    with pytest.raises(ImproperlyConfigured) as info:
        check_settings()
    assert f"{setting}['{key}'] is still the shipped default" in str(info.value)


def test_refuses_empty_secret_and_accepts_real_ones():
    settings.configure(
        None,
        DEBUG=False,
        SESSION={"secret_key": ""},
        TOKEN={"secret_key": "t" * 32},
        TORNADO_CONF={"cookie_secret": "c" * 32},
    )
    with pytest.raises(ImproperlyConfigured, match=r"SESSION\['secret_key'\] is empty"):
        check_settings()
    settings.configure("coreproj.settings.prod_ok")
    check_settings()
    settings.configure(None, DEBUG=True)
    check_settings()  # DEBUG: shipped defaults are fine


def run_server(*args, timeout=20, env=None):
    environ = dict(os.environ, PYTHONPATH=APPS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    environ.pop(ENVIRONMENT_VARIABLE, None)
    environ.update(env or {})
    code = "from tornadopy.webserver import run; run()"
    return subprocess.run(
        [sys.executable, "-c", code, "--port=0", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (["--settings=coreproj.settings.nowhere"], "settings module 'coreproj.settings.nowhere'"),
        (
            ["--settings=coreproj.settings.broken"],
            "failed to import: RuntimeError: settings exploded",
        ),
        (
            ["--settings=coreproj.settings.prod_default_secret"],
            "SESSION['secret_key'] is still the shipped default",
        ),
        (["--settings=coreproj.settings.no_urls_app"], "app 'coreproj.noturls' has no urls.py"),
        (["--settings=coreproj.settings.bad_handler"], "coreproj.badurls.handlers.missing.Handler"),
        (
            ["--settings=coreproj.settings.bad_middleware"],
            "MIDDLEWARE_CLASSES names 'coreproj.nowhere.Middleware'",
        ),
    ],
)
def test_bad_configuration_is_one_line_and_nonzero_exit(args, message):
    result = run_server(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1, result.stderr
