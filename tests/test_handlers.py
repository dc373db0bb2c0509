"""Handlers (SPEC §6): ApiHandler formats, jsonp safety, flash, whitelisted, errors."""

import json

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tornadopy import Url, route
from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.exception import ServiceUnavailable
from tornadopy.handler import ApiHandler, WebHandler, valid_jsonp_callback
from tornadopy.testing import serve


def app(**conf):
    with override_settings(INSTALLED_APPS=("coreproj.shop",), MIDDLEWARE_CLASSES=()):
        return Application(**conf)


async def test_api_json_by_default():
    async with serve(app()) as client:
        resp = await client.get("/api")
    assert resp.code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    assert json.loads(resp.body) == {"ok": True, "items": [1, 2], "text": "é"}
    assert b"\\u00e9" in resp.body  # ensure_ascii default


async def test_api_jsonp_with_valid_callback():
    async with serve(app()) as client:
        resp = await client.get("/api?format=jsonp&callback=jQuery_1.cb")
    assert resp.code == 200
    assert resp.headers["Content-Type"].startswith("application/javascript")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.body.startswith(b"/**/jQuery_1.cb({") and resp.body.endswith(b"});")


async def test_api_jsonp_chosen_by_accept_header():
    async with serve(app()) as client:
        resp = await client.get("/api?callback=cb", headers={"Accept": "text/javascript"})
    assert resp.body.startswith(b"/**/cb(")


@pytest.mark.parametrize(
    "callback",
    ["alert(1)//", "a;b", "<script>", "", "1abc", "a..b", "function", "x" * 300, "a b", "a\u2028b"],
)
async def test_api_jsonp_hostile_callback_is_400(callback):
    async with serve(app()) as client:
        from urllib.parse import quote

        resp = await client.get(f"/api?format=jsonp&callback={quote(callback)}")
    assert resp.code == 400
    assert json.loads(resp.body)["code"] == 400


async def test_api_unknown_format_is_400_unless_nofail():
    async with serve(app()) as client:
        bad = await client.get("/api?format=xml")
        ok = await client.get("/api?format=xml&nofail=1")
    assert bad.code == 400
    assert ok.code == 200 and json.loads(ok.body)["ok"] is True


@given(st.text(max_size=80))
@hsettings(max_examples=300, deadline=None)
def test_valid_jsonp_callback_never_accepts_breaking_characters(text):
    if valid_jsonp_callback(text):
        assert all(c.isalnum() or c in "_$." for c in text)
        assert not text[0].isdigit()


async def test_flash_survives_one_redirect_and_is_gone_after_reading():
    async with serve(app()) as client:
        first = await client.get("/flash")
        assert json.loads(first.body) == {"messages": []}
        resp = await client.post("/flash")
        assert resp.code == 302
        shown = await client.get("/flash")
        again = await client.get("/flash")
    assert json.loads(shown.body) == {"messages": [["info", "first"], ["success", "second"]]}
    assert json.loads(again.body) == {"messages": []}


async def test_tampered_flash_cookie_reads_as_no_messages():
    async with serve(app()) as client:
        resp = await client.get("/flash", headers={"Cookie": "_flashes=garbage|1|2"})
    assert resp.code == 200 and json.loads(resp.body) == {"messages": []}


async def test_whitelisted_bare_uses_settings_whitelist():
    async with serve(app()) as client:
        allowed = await client.get("/secret")
        with override_settings(WHITELIST=("10.1.2.3",)):
            denied = await client.get("/secret")
        listed = await client.get("/secret-list")
    assert allowed.code == 200 and allowed.body == b"secret"
    assert denied.code == 403
    assert listed.code == 403


async def test_default_404_and_production_error_page_has_no_internals():
    async with serve(app()) as client:
        missing = await client.get("/no/such/page")
        boom = await client.get("/boom")
    assert missing.code == 404
    assert boom.code == 500
    assert b"internal detail" not in boom.body and b"Traceback" not in boom.body


async def test_debug_error_page_has_the_traceback():
    async with serve(app(debug=True, serve_traceback=True)) as client:
        boom = await client.get("/boom")
    assert boom.code == 500 and b"Traceback" in boom.body and b"internal detail" in boom.body


class _Down(WebHandler):
    async def get(self):
        raise ServiceUnavailable("cache 'default' did not answer")


class _DownApi(ApiHandler):
    async def get(self):
        raise ServiceUnavailable("db down")


async def test_service_unavailable_becomes_503_with_a_generic_body():
    with override_settings(MIDDLEWARE_CLASSES=()):
        application = Application(urls=route(Url()("/down", _Down), Url()("/down-api", _DownApi)))
    async with serve(application) as client:
        page = await client.get("/down")
        api = await client.get("/down-api")
    assert page.code == 503 and b"did not answer" not in page.body
    assert api.code == 503 and json.loads(api.body) == {
        "code": 503,
        "message": "Service Unavailable",
    }


class _Greet(WebHandler):
    def get(self):
        self.write(self.locale.translate("Hello"))


async def test_translations_from_settings_follow_accept_language():
    tdir = __import__("os").path.join(
        __import__("os").path.dirname(__file__), "apps", "translations"
    )
    conf = {"translations_dir": tdir, "locale_default": "en_US", "use_accept_language": True}
    with override_settings(MIDDLEWARE_CLASSES=(), TRANSLATIONS=True, TRANSLATIONS_CONF=conf):
        application = Application(urls=route(Url()("/greet", _Greet)))
    async with serve(application) as client:
        es = await client.get("/greet", headers={"Accept-Language": "es-ES"})
        en = await client.get("/greet", headers={"Accept-Language": "en-US"})
    assert es.body == b"Hola" and en.body == b"Hello"
    with override_settings(
        MIDDLEWARE_CLASSES=(),
        TRANSLATIONS=True,
        TRANSLATIONS_CONF=dict(conf, use_accept_language=False),
    ):
        application = Application(urls=route(Url()("/greet", _Greet)))
    async with serve(application) as client:
        es = await client.get("/greet", headers={"Accept-Language": "es-ES"})
    assert es.body == b"Hello"


# ---------------------------------------------------------------- lean clear() (Date per second)


def test_lean_clear_leaves_the_handler_as_tornados_clear_does():
    """WebHandler.clear() copies Tornado 6's body (to format Date once per second): this pins
    that it sets the same attributes to the same values as RequestHandler.clear()."""
    import tornado.web
    from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

    from tornadopy.application import Application
    from tornadopy.conf import override_settings

    class Conn:
        context = None

        def set_close_callback(self, cb):
            pass

    with override_settings(MIDDLEWARE_CLASSES=()):
        application = Application(urls=[])

    def made(cls):
        request = HTTPServerRequest(
            connection=Conn(),
            start_line=RequestStartLine("GET", "/", "HTTP/1.1"),
            headers=HTTPHeaders({"Host": "x"}),
        )
        handler = cls(application, request)
        handler.set_header("X-Extra", "1")
        handler.write("junk")
        handler.set_status(404)
        handler.clear()
        return handler

    ours = made(WebHandler)
    tornados = made(tornado.web.RequestHandler)
    tornado.web.RequestHandler.clear(tornados)
    ours_state = {k: v for k, v in vars(ours).items() if not k.startswith("_tp")}
    theirs = vars(tornados)
    for name in ("_write_buffer", "_status_code", "_reason"):
        assert ours_state[name] == theirs[name], name
    assert dict(ours._headers) == dict(tornados._headers) | {"Date": ours._headers["Date"]}
    assert ours._headers["Date"].endswith(" GMT") and "X-Extra" not in ours._headers


def test_date_header_is_current_to_the_second():
    import email.utils
    import time

    from tornadopy.handler import _http_date

    first = email.utils.parsedate_to_datetime(_http_date()).timestamp()
    assert abs(first - time.time()) <= 1.5


async def test_jsonp_callback_is_checked_exactly_as_sent():
    """Tornado strips argument whitespace by default: " cb " must not become a valid "cb"."""
    async with serve(app()) as client:
        for callback in ("cb%20", "%20cb", "cb%0A"):
            resp = await client.get(f"/api?format=jsonp&callback={callback}")
            assert resp.code == 400, callback
        ok = await client.get("/api?format=jsonp&callback=cb")
    assert ok.code == 200 and ok.body.startswith(b"/**/cb(")
