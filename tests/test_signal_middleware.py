"""SignalMiddleware: the hook contract (cheap, never truthy) and the five request signals."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from tornadopy import signal as signals
from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.handler import WebHandler
from tornadopy.middleware.signal import SignalMiddleware
from tornadopy.testing import serve

ALL_SIGNALS = [
    signals.call_started,
    signals.handler_started,
    signals.handler_render,
    signals.handler_response,
    signals.call_finished,
]


@pytest.fixture(autouse=True)
def _no_receivers_left():
    """The signals are module globals: every test starts and ends without receivers."""
    saved = [list(s.receivers) for s in ALL_SIGNALS]
    for s in ALL_SIGNALS:
        s.receivers = []
    yield
    for s, rec in zip(ALL_SIGNALS, saved, strict=True):
        s.receivers = rec


def make_request(path: str) -> HTTPServerRequest:
    start_line = RequestStartLine("GET", path, "HTTP/1.1")
    return HTTPServerRequest(start_line=start_line, headers=HTTPHeaders({"Host": "127.0.0.1"}))


class FakeHandler:
    """Stands in for a handler in the direct hook tests (the HTTP tests below use real ones)."""


def _noop_clear() -> None:
    return None


def _hook_calls(mw, request, handler):
    return {
        "process_call": lambda: mw.process_call(request, _noop_clear),
        "process_request": lambda: mw.process_request(handler, _noop_clear),
        "process_render": lambda: mw.process_render(handler, _noop_clear, "t.html", a=1),
        "process_response": lambda: mw.process_response(handler, _noop_clear, [b"x"]),
        "process_endcall": lambda: mw.process_endcall(handler, _noop_clear),
    }


def test_hooks_are_plain_functions_returning_none_without_receivers():
    mw = SignalMiddleware()
    for name, call in _hook_calls(mw, make_request("/"), FakeHandler()).items():
        assert not inspect.iscoroutinefunction(getattr(mw, name)), name
        assert call() is None, name


async def test_hooks_return_an_awaitable_resolving_to_none_with_receivers():
    mw = SignalMiddleware()
    fired: list = []

    def truthy_receiver(signal, **kwargs):
        fired.append(signal)
        return "truthy responses must not stop the middleware phase"

    for s in ALL_SIGNALS:
        s.connect(truthy_receiver)
    for name, call in _hook_calls(mw, make_request("/"), FakeHandler()).items():
        result = call()
        assert inspect.isawaitable(result), name
        assert await result is None, name
    assert fired == ALL_SIGNALS


async def test_hook_sends_only_to_receivers_of_that_sender():
    mw = SignalMiddleware()

    class Other:
        pass

    got: list = []

    def on_other(**kwargs):
        got.append(kwargs)

    signals.handler_started.connect(on_other, sender=Other)
    handler = FakeHandler()
    assert mw.process_request(handler, _noop_clear) is None  # nobody listens to FakeHandler
    other = Other()
    await mw.process_request(other, _noop_clear)
    assert got == [{"signal": signals.handler_started, "sender": Other, "handler": other}]


async def test_direct_hook_arguments():
    mw = SignalMiddleware()
    got: dict = {}

    def make(name):
        def rec(**kwargs):
            got[name] = kwargs

        return rec

    recs = {
        s: make(n)
        for s, n in zip(ALL_SIGNALS, ["call", "req", "render", "resp", "end"], strict=True)
    }
    for s, r in recs.items():
        s.connect(r)
    request = make_request("/x")
    handler = FakeHandler()
    chunk = [b"body"]
    await mw.process_call(request, _noop_clear)
    await mw.process_request(handler, _noop_clear)
    await mw.process_render(handler, _noop_clear, "page.html", title="T", n=2)
    await mw.process_response(handler, _noop_clear, chunk)
    await mw.process_endcall(handler, _noop_clear)
    assert got["call"] == {
        "signal": signals.call_started,
        "sender": HTTPServerRequest,
        "request": request,
    }
    assert got["req"] == {
        "signal": signals.handler_started,
        "sender": FakeHandler,
        "handler": handler,
    }
    assert got["render"] == {
        "signal": signals.handler_render,
        "sender": FakeHandler,
        "handler": handler,
        "template_name": "page.html",
        "kwargs": {"title": "T", "n": 2},
    }
    assert got["resp"]["chunk"] is chunk
    assert got["end"] == {
        "signal": signals.call_finished,
        "sender": FakeHandler,
        "handler": handler,
    }


async def test_receiver_error_propagates_from_the_hook():
    mw = SignalMiddleware()

    class Boom(Exception):
        pass

    async def fail(**kwargs):
        raise Boom

    signals.call_finished.connect(fail)
    with pytest.raises(Boom):
        await mw.process_endcall(FakeHandler(), _noop_clear)


# -- end to end, through real HTTP --------------------------------------------------------------

SIGNAL_MW = "tornadopy.middleware.signal.SignalMiddleware"
NAMES = {
    signals.call_started: "call_started",
    signals.handler_started: "handler_started",
    signals.handler_render: "handler_render",
    signals.handler_response: "handler_response",
    signals.call_finished: "call_finished",
}


class PageHandler(WebHandler):
    async def get(self) -> None:
        await self.render("page.html", title="Hello signals")


class PlainHandler(WebHandler):
    def get(self) -> None:
        self.write("plain body")


class FailingHandler(WebHandler):
    def get(self) -> None:
        raise RuntimeError("handler failed on purpose")


class Recorder:
    """Receivers for the five signals (plain ones, and async ones for two of them)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.finished = asyncio.Event()
        self.finished_count = 0

    def plain(self, signal, **kwargs):
        self.events.append((NAMES[signal], kwargs))
        return "truthy responses are ignored by the middleware"

    async def awaited(self, signal, **kwargs):
        await asyncio.sleep(0.01)  # really awaited: the record is made after a suspension
        self.events.append((NAMES[signal], kwargs))
        if signal is signals.call_finished:
            self.finished_count += 1
            self.finished.set()
        return "async"

    def connect(self) -> None:
        signals.call_started.connect(self.plain)
        signals.handler_started.connect(self.awaited)
        signals.handler_render.connect(self.plain)
        signals.handler_response.connect(self.plain)
        signals.call_finished.connect(self.awaited)

    async def wait_finished(self, count: int) -> None:
        """call_finished runs after the response reached the client: wait (bounded) for it."""
        async with asyncio.timeout(5):
            while self.finished_count < count:
                self.finished.clear()
                await self.finished.wait()

    def named(self, name: str) -> list[dict]:
        return [kw for n, kw in self.events if n == name]


def make_app(tmp_path: Path) -> Application:
    (tmp_path / "page.html").write_text("<h1>{{ title }}</h1>")
    with override_settings(MIDDLEWARE_CLASSES=[SIGNAL_MW]):
        return Application(
            urls=[("/page", PageHandler), ("/plain", PlainHandler), ("/fail", FailingHandler)],
            template_path=str(tmp_path),
        )


async def test_every_signal_fires_once_per_request_with_documented_arguments(tmp_path):
    rec = Recorder()
    rec.connect()
    async with serve(make_app(tmp_path)) as client:
        resp = await client.get("/page?x=1")
        assert resp.code == 200
        assert resp.body == b"<h1>Hello signals</h1>"
        await rec.wait_finished(1)

    assert [name for name, _ in rec.events] == [
        "call_started",
        "handler_started",
        "handler_render",
        "handler_response",
        "call_finished",
    ]
    (call,) = rec.named("call_started")
    assert call["sender"] is HTTPServerRequest
    assert isinstance(call["request"], HTTPServerRequest)
    assert call["request"].uri == "/page?x=1"

    (started,) = rec.named("handler_started")
    handler = started["handler"]
    assert started["sender"] is PageHandler
    assert isinstance(handler, PageHandler)
    assert handler.request is call["request"]

    (render,) = rec.named("handler_render")
    assert render == {
        "sender": PageHandler,
        "handler": handler,
        "template_name": "page.html",
        "kwargs": {"title": "Hello signals"},
    }

    (response,) = rec.named("handler_response")
    assert response["sender"] is PageHandler
    assert response["handler"] is handler
    assert isinstance(response["chunk"], list)
    assert b"".join(response["chunk"]) == b"<h1>Hello signals</h1>"

    (finished,) = rec.named("call_finished")
    assert finished == {"sender": PageHandler, "handler": handler}


async def test_signals_per_request_without_render(tmp_path):
    rec = Recorder()
    rec.connect()
    async with serve(make_app(tmp_path)) as client:
        for n in (1, 2):
            resp = await client.get("/plain")
            assert resp.code == 200
            assert resp.body == b"plain body"
            await rec.wait_finished(n)
    counts = {name: len(rec.named(name)) for name in NAMES.values()}
    assert counts == {
        "call_started": 2,
        "handler_started": 2,
        "handler_render": 0,
        "handler_response": 2,
        "call_finished": 2,
    }
    handlers = [kw["handler"] for kw in rec.named("call_finished")]
    assert handlers[0] is not handlers[1]
    assert all(type(h) is PlainHandler for h in handlers)


async def test_response_receiver_may_replace_chunks_and_sender_filter_applies(tmp_path):
    seen: list = []

    def replace_body(handler, chunk, **kwargs):
        seen.append(type(handler))
        chunk[:] = [b"replaced by a receiver"]

    signals.handler_response.connect(replace_body, sender=PlainHandler)
    async with serve(make_app(tmp_path)) as client:
        plain = await client.get("/plain")
        page = await client.get("/page")
    assert plain.body == b"replaced by a receiver"
    assert page.body == b"<h1>Hello signals</h1>"
    assert seen == [PlainHandler]


async def test_failing_request_still_sends_response_and_finished_signals(tmp_path):
    rec = Recorder()
    rec.connect()
    async with serve(make_app(tmp_path)) as client:
        resp = await client.get("/fail")
        assert resp.code == 500
        await rec.wait_finished(1)
    names = [name for name, _ in rec.events]
    assert names == ["call_started", "handler_started", "handler_response", "call_finished"]
    assert rec.named("call_finished")[0]["sender"] is FailingHandler


async def test_receiver_error_is_a_500_like_a_hook_error(tmp_path):
    async def broken(**kwargs):
        raise RuntimeError("receiver failed on purpose")

    signals.handler_started.connect(broken)
    async with serve(make_app(tmp_path)) as client:
        resp = await client.get("/plain")
    assert resp.code == 500
    assert b"plain body" not in resp.body
