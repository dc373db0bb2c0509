"""SignalMiddleware: the hook contract (cheap, never truthy) and the five request signals."""

from __future__ import annotations

import inspect

import pytest
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from tornadopy import signal as signals
from tornadopy.middleware.signal import SignalMiddleware

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
