"""Hardening the framework owns (RELIABILITY S7, H3): proxy headers, hosts, redirects, XSRF."""

import json

import pytest

from tornadopy import Url, route
from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.handler import ApiHandler, WebHandler, is_safe_url
from tornadopy.testing import serve


class Who(WebHandler):
    def get(self):
        self.write({"ip": self.request.remote_ip, "scheme": self.request.protocol})


class Form(WebHandler):
    def post(self):
        self.write("posted")


class Api(ApiHandler):
    def post(self):
        self.write_api({"ok": True})


class Next(WebHandler):
    def get(self):
        self.redirect(self.get_safe_redirect(self.get_argument("next", None), "/home"))


def build(**overrides):
    with override_settings(MIDDLEWARE_CLASSES=(), **overrides):
        u = Url()
        return Application(
            urls=route(u("/who", Who), u("/form", Form), u("/api", Api), u("/next", Next))
        )


FORGED = {"X-Real-Ip": "6.6.6.6", "X-Forwarded-For": "7.7.7.7", "X-Forwarded-Proto": "https"}


async def test_direct_client_cannot_forge_ip_or_scheme_with_xheaders_on():
    app = build(XHEADERS=True, TRUSTED_PROXIES=("10.9.9.9",))  # the test client is not a proxy
    async with serve(app) as client:
        body = json.loads((await client.get("/who", headers=FORGED)).body)
    assert body == {"ip": "127.0.0.1", "scheme": "http"}


async def test_trusted_proxy_headers_are_believed():
    app = build(XHEADERS=True, TRUSTED_PROXIES=("127.0.0.1",))
    async with serve(app) as client:
        body = json.loads((await client.get("/who", headers=FORGED)).body)
        chain = json.loads(
            (
                await client.get("/who", headers={"X-Forwarded-For": "1.2.3.4, 5.6.7.8, 127.0.0.1"})
            ).body
        )
        junk = json.loads((await client.get("/who", headers={"X-Real-Ip": "not-an-ip"})).body)
    assert body == {"ip": "7.7.7.7", "scheme": "https"}
    assert chain["ip"] == "5.6.7.8"  # right-most address that is not a trusted proxy
    assert junk["ip"] == "127.0.0.1"


async def test_xheaders_off_ignores_proxy_headers():
    async with serve(build(XHEADERS=False)) as client:
        body = json.loads((await client.get("/who", headers=FORGED)).body)
    assert body == {"ip": "127.0.0.1", "scheme": "http"}


async def test_allowed_hosts():
    app = build(ALLOWED_HOSTS=("example.com", ".example.org"))
    async with serve(app) as client:
        ok = await client.get("/who", headers={"Host": "example.com:8000"})
        sub = await client.get("/who", headers={"Host": "api.example.org"})
        evil = await client.get("/who", headers={"Host": "evil.com"})
    assert ok.code == 200 and sub.code == 200
    assert evil.code == 400


@pytest.mark.parametrize(
    "target,expected",
    [
        ("/account", "/account"),
        ("//evil.com", "/home"),
        ("/\\evil.com", "/home"),
        ("\\\\evil.com", "/home"),
        ("https://evil.com/x", "/home"),
        ("javascript:alert(1)", "/home"),
        ("http:evil.com", "/home"),
        ("/ok?next=//evil.com", "/ok?next=//evil.com"),
    ],
)
async def test_redirect_helper_refuses_off_site_targets(target, expected):
    async with serve(build()) as client:
        from urllib.parse import quote

        resp = await client.get("/next?next=" + quote(target, safe=""))
    assert resp.code == 302 and resp.headers["Location"] == expected


def test_is_safe_url_same_host():
    assert is_safe_url("http://myhost:8000/x", "myhost:8000")
    assert not is_safe_url("http://myhost:8000.evil.com/x", "myhost:8000")


async def test_xsrf_is_on_by_default_for_web_handler_forms():
    async with serve(build()) as client:
        missing = await client.post("/form", data={"a": "1"}, xsrf=False)
        client.cookies["_xsrf"] = "00112233445566778899aabbccddeeff"
        wrong = await client.post(
            "/form",
            data={"a": "1"},
            xsrf=False,
            headers={"X-Xsrftoken": "ffeeddccbbaa99887766554433221100"},
        )
        ok = await client.post("/form", data={"a": "1"})
    assert missing.code == 403 and b"XSRF" in missing.body
    assert wrong.code == 403
    assert ok.code == 200 and ok.body == b"posted"


async def test_api_handler_checks_xsrf_only_for_cookie_requests():
    async with serve(build()) as client:
        bare = await client.post("/api", body=b"{}", cookies=False)
        bearer = await client.post(
            "/api", body=b"{}", xsrf=False, headers={"Cookie": "sid=1", "Authorization": "Bearer x"}
        )
        cookie = await client.post("/api", body=b"{}", xsrf=False, headers={"Cookie": "sid=1"})
    assert bare.code == 200 and bearer.code == 200
    assert cookie.code == 403
