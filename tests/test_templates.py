"""SPEC §5: Tornado, Mako and Jinja2 templates behind ``render()`` / ``render_string()``."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tornado.template import BaseLoader
from tornado.web import Application, RequestHandler, url

from tornadopy.application import Application as TornadopyApplication
from tornadopy.conf import override_settings, settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.handler import WebHandler
from tornadopy.template import TemplateNotFound, create_loader
from tornadopy.template.jinja2_loader import Jinja2TemplateLoader
from tornadopy.template.mako_loader import MakoTemplateLoader
from tornadopy.testing import serve
from tornadopy.urls import Url, route

TEMPLATES = Path(__file__).parent / "templates"
STATIC = TEMPLATES / "static"
ENGINES = {
    "tornado": None,
    "mako": "tornadopy.template.mako_loader.MakoTemplateLoader",
    "jinja2": "tornadopy.template.jinja2_loader.Jinja2TemplateLoader",
}
LOADERS: dict[str, type[BaseLoader]] = {"mako": MakoTemplateLoader, "jinja2": Jinja2TemplateLoader}
PAGE_ARGS = {"title": "Fruit & Veg", "items": ["apple", "pear <3"], "unsafe": "<b>Tom & Jerry</b>"}
XSRF_VALUE = re.compile(r'(name="_xsrf" value=")[^"]+(")')


@pytest.fixture(autouse=True)
def _forget_tornado_loaders():
    """Tornado caches loaders per template_path in a class attribute; isolate every test."""
    with RequestHandler._template_loader_lock:
        RequestHandler._template_loaders.clear()
    yield
    with RequestHandler._template_loader_lock:
        RequestHandler._template_loaders.clear()


class PageHandler(RequestHandler):
    def get(self, name: str) -> None:
        self.render("page.html", **PAGE_ARGS)


class StringHandler(RequestHandler):
    def get(self) -> None:
        html = self.render_string("page.html", **PAGE_ARGS)
        self.finish({"type": type(html).__name__, "text": html.decode("utf-8")})


class ValueHandler(RequestHandler):
    def get(self) -> None:
        self.render(self.get_argument("t"), value=self.get_argument("v", "<i>x</i>"))


def make_app(template_path: Path | str, loader: BaseLoader | None, **settings: Any) -> Application:
    if loader is not None:
        settings["template_loader"] = loader
    return Application(
        [
            url(r"/page/(\w+)", PageHandler, name="page"),
            url(r"/string", StringHandler),
            url(r"/value", ValueHandler),
        ],
        template_path=str(template_path),
        static_path=str(STATIC),
        **settings,
    )


def engine_loader(engine: str, root: Path | str, **options: Any) -> BaseLoader | None:
    config = {"template_engine": ENGINES[engine], "cache_directory": None, **options}
    return create_loader(str(root), config)


def normalize(html: str) -> str:
    """The per-request random XSRF token replaced; no final newline (Jinja2 drops it)."""
    return XSRF_VALUE.sub(r"\1TOKEN\2", html).rstrip("\n")


def copy_templates(engine: str, dest: Path) -> Path:
    root = dest / "templates"
    shutil.copytree(TEMPLATES / engine, root)
    return root


def rewrite(path: Path, text: str) -> None:
    """Change a template and move its mtime clearly forward (engines compare whole seconds)."""
    path.write_text(text, encoding="utf-8")
    later = time.time() + 10
    os.utime(path, (later, later))


# ---------------------------------------------------------------- the same page in every engine


async def render_page(engine: str) -> str:
    loader = engine_loader(engine, TEMPLATES / engine)
    async with serve(make_app(TEMPLATES / engine, loader)) as client:
        resp = await client.get("/page/home")
    assert resp.code == 200, resp.body
    return resp.body.decode("utf-8")


@pytest.mark.parametrize("engine", list(ENGINES))
async def test_page_renders_over_http_in_each_engine(engine):
    html = await render_page(engine)
    assert "<h1>Fruit &amp; Veg</h1>" in html
    assert "<li>apple</li>" in html and "<li>pear &lt;3</li>" in html
    assert "<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>" in html
    assert "<p>path=/page/home</p>" in html
    assert "<p>Hello en_US None</p>" in html
    assert '<a href="/page/other">other</a>' in html
    assert re.search(r'href="/static/app\.css\?v=[0-9a-f]+"', html)
    assert re.search(r'<form method="post"><input type="hidden" name="_xsrf" value="[^"]+"/>', html)


async def test_page_output_is_the_same_across_engines():
    outputs = {engine: normalize(await render_page(engine)) for engine in ENGINES}
    assert outputs["mako"] == outputs["tornado"]
    assert outputs["jinja2"] == outputs["tornado"]


@pytest.mark.parametrize("engine", list(ENGINES))
async def test_render_string_returns_utf8_bytes(engine):
    loader = engine_loader(engine, TEMPLATES / engine)
    async with serve(make_app(TEMPLATES / engine, loader)) as client:
        resp = await client.get("/string")
    data = json.loads(resp.body)
    assert data["type"] == "bytes"
    assert "<h1>Fruit &amp; Veg</h1>" in data["text"]
    assert "<p>path=/string</p>" in data["text"]


@pytest.mark.parametrize("engine", ["mako", "jinja2"])
def test_generate_encodes_utf8(engine, tmp_path):
    (tmp_path / "u.html").write_text("caf\u00e9 \u2603", encoding="utf-8")
    loader = LOADERS[engine](str(tmp_path), cache_directory=None)
    assert loader.load("u.html").generate() == "caf\u00e9 \u2603".encode()


# ---------------------------------------------------------------- jinja2 autoescape


@pytest.mark.parametrize(
    ("autoescape", "expected"),
    [(True, "v=&lt;i&gt;x&lt;/i&gt;"), (False, "v=<i>x</i>"), (["html"], "v=&lt;i&gt;x&lt;/i&gt;")],
)
async def test_jinja2_autoescape_setting(tmp_path, autoescape, expected):
    (tmp_path / "v.html").write_text("v={{ value }} {{ xsrf_form_html() }}", encoding="utf-8")
    loader = engine_loader("jinja2", tmp_path, autoescape=autoescape)
    async with serve(make_app(tmp_path, loader)) as client:
        resp = await client.get("/value?t=v.html")
    html = resp.body.decode()
    assert html.startswith(expected + " ")
    # the XSRF field is markup: never escaped, whatever autoescape says
    assert '<input type="hidden" name="_xsrf"' in html


def test_jinja2_autoescape_by_extension_leaves_other_files_alone(tmp_path):
    (tmp_path / "v.txt").write_text("{{ value }}", encoding="utf-8")
    loader = Jinja2TemplateLoader(str(tmp_path), autoescape=["html"], cache_directory=None)
    assert loader.load("v.txt").generate(value="<i>") == b"<i>"


def test_mako_default_filters_pass_through_and_keep_xsrf_markup(tmp_path):
    (tmp_path / "v.html").write_text("${value} ${xsrf_form_html()}", encoding="utf-8")
    loader = MakoTemplateLoader(str(tmp_path), default_filters=["h"], cache_directory=None)
    out = loader.load("v.html").generate(value="<i>", xsrf_form_html=lambda: "<input/>")
    assert out == b"&lt;i&gt; <input/>"


# ---------------------------------------------------------------- compiled-template caches on disk


def test_mako_cache_directory_is_written(tmp_path):
    cache = tmp_path / "mako-cache"
    loader = MakoTemplateLoader(str(TEMPLATES / "mako"), cache_directory=str(cache))
    loader.load("page.html")
    assert (cache / "page.html.py").is_file()
    assert "def render_body" in (cache / "page.html.py").read_text()


@pytest.mark.parametrize("engine", ["mako", "jinja2"])
def test_relative_cache_directory_is_relative_to_the_template_directory(engine, tmp_path):
    root = copy_templates(engine, tmp_path)
    loader = LOADERS[engine](str(root), cache_directory="../_tmpl_cache")
    loader.load("page.html")
    written = os.listdir(tmp_path / "_tmpl_cache")
    assert written, "nothing compiled into cache_directory"
    if engine == "mako":
        assert written == ["page.html.py"]
    else:
        assert all(name.startswith("__jinja2_") for name in written)


def test_jinja2_cache_directory_holds_bytecode_used_by_a_new_loader(tmp_path):
    root = copy_templates("jinja2", tmp_path)
    cache = tmp_path / "bc"
    Jinja2TemplateLoader(str(root), cache_directory=str(cache)).load("page.html")
    (cache_file,) = cache.iterdir()
    first = cache_file.stat().st_mtime_ns
    Jinja2TemplateLoader(str(root), cache_directory=str(cache)).load("page.html")
    assert cache_file.stat().st_mtime_ns == first  # loaded, not compiled and written again


@pytest.mark.parametrize("engine", ["mako", "jinja2"])
def test_cache_directory_none_writes_nothing(engine, tmp_path):
    root = copy_templates(engine, tmp_path)
    LOADERS[engine](str(root), cache_directory=None).load("page.html")
    assert sorted(os.listdir(tmp_path)) == ["templates"]
    assert sorted(os.listdir(root)) == ["page.html"]


# ---------------------------------------------------------------- reloading


@pytest.mark.parametrize("engine", ["mako", "jinja2"])
def test_filesystem_checks_pick_up_a_changed_template(engine, tmp_path):
    (tmp_path / "t.html").write_text("one", encoding="utf-8")
    loader = LOADERS[engine](
        str(tmp_path), filesystem_checks=True, cache_size=50, cache_directory=None
    )
    assert loader.load("t.html").generate() == b"one"
    rewrite(tmp_path / "t.html", "two")
    assert loader.load("t.html").generate() == b"two"


@pytest.mark.parametrize("engine", ["mako", "jinja2"])
def test_without_filesystem_checks_the_compiled_template_stays_until_reset(engine, tmp_path):
    (tmp_path / "t.html").write_text("one", encoding="utf-8")
    loader = LOADERS[engine](
        str(tmp_path), filesystem_checks=False, cache_size=50, cache_directory=None
    )
    assert loader.load("t.html").generate() == b"one"
    rewrite(tmp_path / "t.html", "two")
    assert loader.load("t.html").generate() == b"one"
    loader.reset()
    assert loader.load("t.html").generate() == b"two"


@pytest.mark.parametrize("engine", ["mako", "jinja2"])
async def test_tornado_resets_the_loader_when_compiled_template_cache_is_off(engine, tmp_path):
    (tmp_path / "v.html").write_text("one", encoding="utf-8")
    loader = engine_loader(engine, tmp_path, filesystem_checks=False, cache_size=50)
    app = make_app(tmp_path, loader, compiled_template_cache=False)
    async with serve(app) as client:
        assert (await client.get("/value?t=v.html")).body == b"one"
        rewrite(tmp_path / "v.html", "two")
        assert (await client.get("/value?t=v.html")).body == b"two"


@pytest.mark.parametrize("engine", ["mako", "jinja2"])
def test_concurrent_renders_and_resets_from_threads(engine, tmp_path):
    (tmp_path / "n.html").write_text("${n}" if engine == "mako" else "{{ n }}", encoding="utf-8")
    loader = LOADERS[engine](str(tmp_path), cache_size=50, cache_directory=None)
    stop = threading.Event()

    def resetter() -> None:
        while not stop.is_set():
            loader.reset()

    def render(n: int) -> bytes:
        return loader.load("n.html").generate(n=n)

    thread = threading.Thread(target=resetter)
    thread.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(render, range(400)))
    finally:
        stop.set()
        thread.join(5)
    assert results == [str(n).encode() for n in range(400)]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("engine", ["mako", "jinja2"])
@pytest.mark.parametrize("name", ["missing.html", "../page.html", "../../etc/passwd"])
def test_missing_template_names_template_and_directory(engine, name):
    root = TEMPLATES / engine
    loader = LOADERS[engine](str(root), cache_directory=None)
    with pytest.raises(TemplateNotFound) as info:
        loader.load(name)
    message = str(info.value)
    assert repr(name) in message and str(root) in message
    assert isinstance(info.value, FileNotFoundError)  # as Tornado's own loader raises


@pytest.mark.parametrize("engine", ["mako", "jinja2"])
async def test_missing_template_over_http_is_a_500_not_a_hang(engine):
    loader = engine_loader(engine, TEMPLATES / engine)
    async with serve(make_app(TEMPLATES / engine, loader)) as client:
        resp = await client.get("/value?t=nope.html")
    assert resp.code == 500


def test_create_loader_returns_none_for_tornados_engine():
    assert create_loader("templates", settings.TEMPLATE_CONFIG) is None


@pytest.mark.parametrize("engine", ["mako", "jinja2"])
def test_create_loader_accepts_every_seed_option(engine, tmp_path, caplog):
    with override_settings(
        TEMPLATE_CONFIG={"template_engine": ENGINES[engine], "cache_directory": str(tmp_path / "c")}
    ):
        with caplog.at_level(logging.WARNING, logger="tornadopy.template"):
            loader = create_loader(str(TEMPLATES / engine), settings.TEMPLATE_CONFIG)
    assert isinstance(loader, LOADERS[engine])
    assert caplog.records == []  # the other engine's seed options are not warned about
    assert b"<h1>" in loader.load("page.html").generate(**PAGE_ARGS, **fake_namespace())


def fake_namespace() -> dict[str, Any]:
    class Request:
        path = "/x"

    class Handler:
        request = Request()

    return {
        "handler": Handler(),
        "reverse_url": lambda name, *a: "/page/" + "/".join(a),
        "static_url": lambda p: "/static/" + p,
        "xsrf_form_html": lambda: "<input/>",
        "_": lambda text: text,
        "locale": type("Locale", (), {"code": "en_US"})(),
        "current_user": None,
    }


@pytest.mark.parametrize(
    "path", ["no.such.module.Loader", "tornadopy.template.mako_loader.NoSuchLoader"]
)
def test_create_loader_bad_dotted_path_names_the_setting(path):
    with pytest.raises(ImproperlyConfigured) as info:
        create_loader("templates", {"template_engine": path})
    assert "TEMPLATE_CONFIG['template_engine']" in str(info.value)
    assert path in str(info.value)


def test_create_loader_refuses_a_class_that_is_not_a_loader():
    with pytest.raises(
        ImproperlyConfigured, match=r"TEMPLATE_CONFIG\['template_engine'\].*BaseLoader"
    ):
        create_loader("templates", {"template_engine": "tornadopy.conf.Settings"})


def test_create_loader_needs_a_template_path():
    with pytest.raises(ImproperlyConfigured, match=r"TORNADO_CONF\['template_path'\]"):
        create_loader(None, {"template_engine": ENGINES["jinja2"]})


@pytest.mark.parametrize("engine", ["mako", "jinja2"])
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("filesystem_checks", "yes"),
        ("collection_size", "big"),
        ("cache_size", -2),
        ("cache_size", True),
        ("format_exceptions", 1),
        ("cache_directory", 42),
    ],
)
def test_bad_option_value_names_the_key(engine, key, value, tmp_path):
    if (engine, key) in {
        ("mako", "cache_size"),
        ("jinja2", "collection_size"),
        ("jinja2", "format_exceptions"),
    }:
        # the other engine's option is tolerated whatever its value
        LOADERS[engine](str(tmp_path), cache_directory=None, **{key: value})
        return
    with pytest.raises(ImproperlyConfigured, match=re.escape(f"TEMPLATE_CONFIG[{key!r}]")):
        LOADERS[engine](str(tmp_path), **{"cache_directory": None, key: value})


def test_jinja2_bad_autoescape_value_names_the_key(tmp_path):
    with pytest.raises(ImproperlyConfigured, match=re.escape("TEMPLATE_CONFIG['autoescape']")):
        Jinja2TemplateLoader(str(tmp_path), autoescape="xhtml_escape")


def test_engine_options_pass_through(tmp_path):
    (tmp_path / "t.html").write_text("  {% if x %}\n  yes\n  {% endif %}\n", encoding="utf-8")
    loader = Jinja2TemplateLoader(
        str(tmp_path), trim_blocks=True, lstrip_blocks=True, cache_directory=None
    )
    assert loader.load("t.html").generate(x=True) == b"  yes\n"


def test_engine_refusing_an_option_is_a_configuration_error(tmp_path):
    with pytest.raises(
        ImproperlyConfigured, match=r"jinja2\.Environment refused.*no\.such\.Extension"
    ):
        Jinja2TemplateLoader(str(tmp_path), extensions=["no.such.Extension"], cache_directory=None)


@pytest.mark.parametrize(("engine", "key"), [("mako", "directories"), ("jinja2", "loader")])
def test_options_the_loader_owns_are_refused(engine, key, tmp_path):
    with pytest.raises(ImproperlyConfigured, match=re.escape(f"TEMPLATE_CONFIG[{key!r}]")):
        LOADERS[engine](str(tmp_path), **{key: object(), "cache_directory": None})


def test_unknown_option_is_ignored_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="tornadopy.template"):
        MakoTemplateLoader(str(tmp_path), cache_directory=None, colection_size=5)
    assert any("colection_size" in r.getMessage() for r in caplog.records)


def test_unwritable_cache_directory_is_a_configuration_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ImproperlyConfigured, match=r"TEMPLATE_CONFIG\['cache_directory'\]"):
        MakoTemplateLoader(str(tmp_path), cache_directory=str(blocker / "sub"))


@pytest.mark.parametrize("format_exceptions", [True, False])
def test_mako_format_exceptions(tmp_path, format_exceptions):
    (tmp_path / "boom.html").write_text("${1 // zero}", encoding="utf-8")
    loader = MakoTemplateLoader(
        str(tmp_path), format_exceptions=format_exceptions, cache_directory=None
    )
    template = loader.load("boom.html")
    if format_exceptions:
        page = template.generate(zero=0)
        assert isinstance(page, bytes) and b"ZeroDivisionError" in page
    else:
        with pytest.raises(ZeroDivisionError):
            template.generate(zero=0)


# ---------------------------------------------------------------- through tornadopy's WebHandler


class PageWebHandler(WebHandler):
    async def get(self, name: str) -> None:
        await self.render("page.html", **PAGE_ARGS)


class RenderSpy:
    """A middleware whose process_render hook makes WebHandler.render take its async path."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def process_render(self, handler, clear, template_name, **kwargs):
        self.seen.append((template_name, kwargs["title"]))


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("render_hook", [False, True], ids=["no-hook", "process_render"])
async def test_webhandler_render_with_the_engine_of_template_config(engine, render_hook):
    expected = normalize(await render_page("tornado"))
    spy = RenderSpy()
    with override_settings(
        TEMPLATE_CONFIG={"template_engine": ENGINES[engine], "cache_directory": None},
        TORNADO_CONF={"template_path": str(TEMPLATES / engine), "static_path": str(STATIC)},
        MIDDLEWARE_CLASSES=(spy,) if render_hook else (),
    ):
        app = TornadopyApplication(urls=route(Url()(r"/page/(\w+)", PageWebHandler, name="page")))
        if engine == "tornado":
            assert "template_loader" not in app.settings
        else:
            assert isinstance(app.settings["template_loader"], LOADERS[engine])
        async with serve(app) as client:
            resp = await client.get("/page/home")
    assert resp.code == 200, resp.body
    assert normalize(resp.body.decode("utf-8")) == expected
    assert spy.seen == ([("page.html", PAGE_ARGS["title"])] if render_hook else [])


# ------------------------------------------------- Tornado's engine in WebHandler: no cycles

TT_TEMPLATES = {
    "base.html": "<h1>{% block title %}base{% end %}</h1>{% block body %}{% end %}",
    "part.html": "<i>{{ who }}</i>",
    "page.html": (
        '{% extends "base.html" %}{% block title %}{{ title }}{% end %}'
        "{% block body %}{% include 'part.html' %}"
        "{% for x in items %}<li>{{ x }}</li>{% end %}"
        "{% apply linkify %}see http://example.com/a?b=1&c=2{% end %}"
        "{% raw unsafe %}|{{ unsafe }}|{% autoescape None %}{{ unsafe }}"
        "|{{ url_escape(title) }}|{{ json_encode(items) }}|{{ squeeze('a   b') }}"
        "|{{ xhtml_escape('<') }}|{{ escape('>') }}|{{ datetime.date(2026, 1, 2) }}"
        "|{% set n = len(items) %}{{ n }}{% end %}"
    ),
}


@pytest.mark.parametrize("autoescape", ["xhtml_escape", None])
def test_tornadopy_tornado_templates_render_as_tornados_own(autoescape):
    from tornado.template import DictLoader
    from tornado.template import Template as TornadoTemplate

    from tornadopy.template.tornado_template import Template

    loader = DictLoader(TT_TEMPLATES, autoescape=autoescape)
    args = {"who": "<me>", **PAGE_ARGS}
    source = TT_TEMPLATES["page.html"]
    ours = Template(source, name="page.html", loader=loader, autoescape=autoescape)
    theirs = TornadoTemplate(source, name="page.html", loader=loader, autoescape=autoescape)
    assert ours.generate(**args) == theirs.generate(**args)
    assert b"<i>&lt;me&gt;</i>" in ours.generate(**args) or autoescape is None


def test_a_tornado_template_render_leaves_no_reference_cycle():
    import gc
    import weakref

    from tornado.template import DictLoader

    from tornadopy.template.tornado_template import Template

    class Arg:
        def __str__(self) -> str:
            return "arg"

    loader = DictLoader(TT_TEMPLATES)
    gc.collect()
    gc.disable()
    try:
        arg = Arg()
        ref = weakref.ref(arg)
        out = Template(TT_TEMPLATES["page.html"], name="page.html", loader=loader).generate(
            who=arg, **PAGE_ARGS
        )
        del arg
        assert b"<i>arg</i>" in out
        assert ref() is None, "the render arguments outlived the render: a reference cycle"
        # Tornado's own Template keeps them until the cycle collector runs (what this fixes)
        from tornado.template import Template as TornadoTemplate

        arg = Arg()
        ref = weakref.ref(arg)
        TornadoTemplate(TT_TEMPLATES["page.html"], name="page.html", loader=loader).generate(
            who=arg, **PAGE_ARGS
        )
        del arg
        assert ref() is not None
    finally:
        gc.enable()


async def test_webhandler_renders_tornado_templates_with_tornadopys_loader(tmp_path):
    from tornadopy.template.tornado_template import Loader

    (tmp_path / "t.html").write_text("<p>{{ value }}</p>")
    seen: list[Any] = []

    class Render(WebHandler):
        def get(self) -> None:
            seen.append(self.create_template_loader(str(tmp_path)))
            self.render("t.html", value="<x>")

    with override_settings(TORNADO_CONF={"template_path": str(tmp_path)}, MIDDLEWARE_CLASSES=()):
        app = TornadopyApplication(urls=route(Url()("/r", Render)))
        async with serve(app) as client:
            resp = await client.get("/r")
    assert resp.code == 200 and resp.body == b"<p>&lt;x&gt;</p>"
    assert isinstance(seen[0], Loader)
