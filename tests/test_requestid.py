"""Request ids (issue 8): taken from trusted proxies or generated, echoed, in every log line."""

import logging

from tornadopy import Url, route
from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.handler import WebHandler
from tornadopy.logger import configure_logging, reset_logging
from tornadopy.testing import serve

app_log = logging.getLogger("tornadopy.app.test")


class Hello(WebHandler):
    async def get(self):
        app_log.info("inside the handler")
        self.write("hi")


def build(**overrides):
    mws = (
        "tornadopy.middleware.requestid.RequestIdMiddleware",
        "tornadopy.middleware.accesslog.AccessLogMiddleware",
    )
    with override_settings(MIDDLEWARE_CLASSES=mws, **overrides):
        return Application(urls=route(Url()("/hello", Hello)))


async def test_generated_id_is_echoed_and_in_every_log_line(tmp_path):
    logging_conf = [
        {"name": "tornadopy.app.test", "level": "INFO", "filename": "app.log"},
        {
            "name": "tornadopy.accesslog",
            "level": "INFO",
            "filename": "access.log",
            "formatter": "%(message)s",
        },
    ]
    with override_settings(LOGGING=logging_conf):
        configure_logging(logging_dir=str(tmp_path))
    try:
        async with serve(build()) as client:
            first = await client.get("/hello")
            second = await client.get("/hello")
            missing = await client.get("/nope")
    finally:
        reset_logging()
    rid1, rid2 = first.headers["X-Request-ID"], second.headers["X-Request-ID"]
    assert len(rid1) == 32 and rid1 != rid2
    assert missing.code == 404 and len(missing.headers["X-Request-ID"]) == 32
    app_lines = (tmp_path / "app.log").read_text().splitlines()
    assert any(rid1 in line and "inside the handler" in line for line in app_lines)
    assert any(rid2 in line and "inside the handler" in line for line in app_lines)
    access = (tmp_path / "access.log").read_text()
    assert f"rid={rid1}" in access and f"rid={rid2}" in access
    assert f"rid={missing.headers['X-Request-ID']}" in access


async def test_id_from_a_trusted_proxy_is_kept_and_from_others_replaced():
    async with serve(build(TRUSTED_PROXIES=("127.0.0.1",))) as client:
        kept = await client.get("/hello", headers={"X-Request-ID": "edge-abc-123"})
        bad = await client.get("/hello", headers={"X-Request-ID": "x" * 200})
    assert kept.headers["X-Request-ID"] == "edge-abc-123"
    assert bad.headers["X-Request-ID"] != "x" * 200
    async with serve(build(TRUSTED_PROXIES=("10.9.9.9",))) as client:
        replaced = await client.get("/hello", headers={"X-Request-ID": "edge-abc-123"})
    assert replaced.headers["X-Request-ID"] != "edge-abc-123"
