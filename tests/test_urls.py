"""URLs (SPEC §3): both call styles, include, _url_kwargs isolation, unique names, reverse_url."""

import json

import pytest

from tornadopy import Url, include, route
from tornadopy.application import Application, load_app_urls
from tornadopy.conf import override_settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.testing import TestCase, serve
from tornadopy.urls import join_path, resolve_urls


def app():
    with override_settings(INSTALLED_APPS=("coreproj.shop",), MIDDLEWARE_CLASSES=()):
        return Application()


def test_keyword_and_positional_styles_build_the_same_spec():
    u = Url("pkg.handlers", a=1)
    kw = u(name="N", pattern=r"/x", handler="mod.H", kwargs={"b": 2})
    pos = u(r"/x", "mod.H", {"b": 2}, "N")
    assert kw == pos
    assert kw.handler_path == "pkg.handlers.mod.H"
    assert kw.kwargs == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    "prefix,pattern,expected",
    [
        ("/", "photo/upload/?", "/photo/upload/?"),
        ("/blog/", "/list", "/blog/list"),
        ("/blog", "list", "/blog/list"),
        ("", "/x", "/x"),
        ("/a", "^/b$", "^/a/b$"),
    ],
)
def test_include_joins_with_exactly_one_slash(prefix, pattern, expected):
    assert join_path(prefix, pattern) == expected


def test_include_by_dotted_path_keeps_names():
    specs = include("/sub/", "coreproj.shop.suburls.URLS")
    assert [(s.pattern, s.name) for s in specs] == [("/sub/item/(\\d+)", "SubItem")]


def test_duplicate_route_names_are_a_startup_error():
    u = Url()
    with pytest.raises(ImproperlyConfigured, match="route name 'Dup' is used twice"):
        resolve_urls(route(u("/a", object, name="Dup"), u("/b", object, name="Dup")))


def test_unresolvable_handler_names_it():
    with pytest.raises(ImproperlyConfigured, match="pkg.nowhere.Handler"):
        resolve_urls(route(Url("pkg")("/a", "nowhere.Handler")))


def test_missing_app_is_an_error_naming_it():
    with pytest.raises(ImproperlyConfigured, match="'no_such_app'"):
        load_app_urls(["no_such_app"])


SHOP = pytest.mark.tornadopy_settings(INSTALLED_APPS=("coreproj.shop",), MIDDLEWARE_CLASSES=())


@SHOP
async def test_url_kwargs_per_instance_route_kwargs_win_and_nothing_leaks(tornadopy_client):
    client = tornadopy_client
    a = json.loads((await client.get("/kw/a")).body)
    b = json.loads((await client.get("/kw/b")).body)
    a2 = json.loads((await client.get("/kw/a")).body)
    assert a == {"shared": "url", "both": "routeA", "touched": True}
    assert b == {"shared": "url", "both": "url", "own": "b", "touched": True}
    assert a2 == a  # "touched" set by the earlier request did not persist, "own" did not leak


@SHOP
async def test_reverse_url_and_included_routes(tornadopy_client):
    assert (await tornadopy_client.get("/item/42")).body == b"/item/42"
    assert (await tornadopy_client.get("/sub/item/7")).body == b"/item/7"


async def test_plain_tornado_handler_route_still_works():
    async with serve(app()) as client:
        resp = await client.get("/plain")
    assert resp.code == 200 and resp.body == b"plain tornado"


class ShopTests(TestCase):
    """The unittest flavour of the test kit (tornadopy.testing.TestCase)."""

    settings_module = "coreproj.settings.base"
    settings_overrides = {"MIDDLEWARE_CLASSES": ()}

    async def test_plain_route_through_the_test_case(self):
        resp = await self.client.get("/plain")
        self.assertEqual((resp.code, resp.body), (200, b"plain tornado"))


def test_reverse_url_drops_the_optional_slash_marker():
    u = Url("coreproj.shop.handlers")
    with override_settings(MIDDLEWARE_CLASSES=()):
        application = Application(
            urls=route(
                u(r"/?", "Kwargs", name="Home"),
                u(r"/login/?", "Kwargs", name="Login"),
                u(r"/item/(\d+)/?", "Reverse", name="It"),
            )
        )
    assert application.reverse_url("Home") == "/"
    assert application.reverse_url("Login") == "/login/"
    assert application.reverse_url("It", 5) == "/item/5/"


# ---------------------------------------------------------------- static routes (StaticMatcher)


def static_app(tmp_path, **conf):
    (tmp_path / "static" / "css").mkdir(parents=True)
    (tmp_path / "static" / "css" / "a b.css").write_text("body{}")
    (tmp_path / "static" / "favicon.ico").write_bytes(b"ICO")
    (tmp_path / "static" / "robots.txt").write_text("User-agent: *")
    (tmp_path / "secret.txt").write_text("no")

    from tornado.web import RequestHandler

    class CatchAll(RequestHandler):
        def get(self, path):
            self.write(f"app:{path}")

    with override_settings(MIDDLEWARE_CLASSES=()):
        return Application(
            [(r"/(.*)", CatchAll)],
            static_path=str(tmp_path / "static"),
            **conf,
        )


async def test_static_routes_stay_in_front_of_application_routes(tmp_path):
    async with serve(static_app(tmp_path)) as client:
        css = await client.get("/static/css/a%20b.css")
        ico = await client.get("/favicon.ico")
        robots = await client.get("/robots.txt")
        other = await client.get("/staticx/y")
        missing = await client.get("/static/nope.css")
        escape = await client.get("/static/..%2Fsecret.txt")
    assert (css.code, css.body) == (200, b"body{}")
    assert (ico.code, ico.body) == (200, b"ICO")
    assert robots.body == b"User-agent: *"
    assert other.body == b"app:staticx/y"  # only the prefix, favicon and robots are static
    assert missing.code == 404
    assert escape.code in (403, 404) and b"no" not in escape.body


async def test_static_url_prefix_and_static_url_still_work(tmp_path):
    application = static_app(tmp_path, static_url_prefix="/assets/")
    assert application.settings["static_path"] == str(tmp_path / "static")
    async with serve(application) as client:
        css = await client.get("/assets/css/a%20b.css")
        old = await client.get("/static/css/a%20b.css")
    assert css.code == 200 and old.body == b"app:static/css/a b.css"


# ---------------------------------------------------------------- exact routes (dict lookup)


def _routes_app(urls):
    with override_settings(MIDDLEWARE_CLASSES=()):
        return Application(urls, static_path=None)


def _named(text):
    from tornado.web import RequestHandler

    class H(RequestHandler):
        def get(self, *args):
            self.write(text + (f":{args[0]}" if args else ""))

    return H


def test_literal_routes_are_found_by_lookup_and_regex_routes_by_walk():
    from tornadopy.application import exact_routes

    application = _routes_app(
        [(r"/about", _named("about")), (r"/item/(\d+)", _named("item")), (r"/a\.b", _named("dot"))]
    )
    assert set(application._exact_routes) == {"/about", "/healthz", "/readyz"}
    assert exact_routes([]) == {}


async def test_exact_lookup_answers_like_tornados_first_match_walk():
    application = _routes_app(
        [
            (r"/about", _named("about")),
            (r"/item/(\d+)", _named("item")),
            (r"/(cat|dog)", _named("pet")),
            (r"/cat", _named("never")),  # shadowed by the regex before it, as in Tornado
            (r"/about", _named("second")),  # shadowed by the first /about
        ]
    )
    assert "/cat" not in application._exact_routes
    async with serve(application) as client:
        about = await client.get("/about")
        item = await client.get("/item/7")
        cat = await client.get("/cat")
        slash = await client.get("/about/")
        missing = await client.get("/nope")
    assert about.body == b"about" and item.body == b"item:7" and cat.body == b"pet:cat"
    assert slash.code == 404 and missing.code == 404


async def test_host_routes_added_later_take_precedence_over_the_lookup():
    application = _routes_app([(r"/about", _named("about"))])
    application.add_handlers(r"127\.0\.0\.1", [(r"/about", _named("host"))])
    assert application._exact_routes == {}
    async with serve(application) as client:
        resp = await client.get("/about")
    assert resp.body == b"host"
