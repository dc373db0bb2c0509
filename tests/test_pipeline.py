"""The request pipeline (SPEC §7, §8): exact hook sequences over real HTTP.

Three middlewares A, B, C with HttpModuleMiddleware between B and C, two common modules
(CM1, CM2) and two route modules (RM1, RM2, for paths under /r/).
"""

import asyncio
import os
import socket

import pytest
import recorder
from recorder import LOG

from tornadopy import Url, route
from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.exception import ImproperlyConfigured
from tornadopy.testing import serve

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "apps", "recorder_templates")

u = Url("recorder")
URLS = route(
    u(r"/r/sync", "Sync", name="SyncRoute"),
    u(r"/r/async", "Async"),
    u(r"/r/finish-noawait", "FinishNoAwait"),
    u(r"/r/finish-await", "FinishAwait"),
    u(r"/r/render-await", "RenderAwait"),
    u(r"/r/render-noawait", "RenderNoAwait"),
    u(r"/r/auto", "Auto"),
    u(r"/r/redirect", "Redirect"),
    u(r"/r/forbidden", "Forbidden"),
    u(r"/r/boom", "Boom"),
    u(r"/r/stream", "Stream"),
    u(r"/r/slow", "Slow"),
    u(r"/r/rewritten", "Rewritten"),
    u(r"/r/upload", "Upload"),
    u(r"/r/hooks", "Hooks"),
    u(r"/plain/sync", "Sync", name="Plain"),
)

MODULES = "tornadopy.httpmodule.httpmodule.HttpModuleMiddleware"


def build(middlewares=None, common=("recorder.CM1", "recorder.CM2"), route_modules=None, **conf):
    if middlewares is None:
        middlewares = [
            recorder.make_middleware("A"),
            recorder.make_middleware("B"),
            MODULES,
            recorder.make_middleware("C"),
        ]
    if route_modules is None:
        route_modules = {"^/r/": ["recorder.RM1", "recorder.RM2"]}
    with override_settings(
        MIDDLEWARE_CLASSES=middlewares, COMMON_MODULES=list(common), ROUTE_MODULES=route_modules
    ):
        return Application(urls=URLS, template_path=TEMPLATES, **conf)


# Every phase is sync-first: each sequence is checked with async hooks, with plain ``def``
# hooks (no coroutine until one returns an awaitable), and with a mix (A and C plain, B async:
# the phase switches to a coroutine in the middle and continues with plain hooks).
HOOK_STYLES = {"async": set(), "plain": {"A", "B", "C", "E"}, "mixed": {"A", "C"}}


@pytest.fixture(autouse=True, params=sorted(HOOK_STYLES))
def _reset(request):
    LOG.clear()
    recorder.BEHAVIOUR.clear()
    recorder.SYNC_NAMES = set(HOOK_STYLES[request.param])
    yield
    recorder.BEHAVIOUR.clear()
    recorder.SYNC_NAMES = set()


REQUEST = [
    "A.call",
    "B.call",
    "C.call",
    "A.request",
    "B.request",
    "CM1.begin_request",
    "CM2.begin_request",
    "RM1.begin_request",
    "RM2.begin_request",
    "C.request",
]
RESPONSE = [
    "C.response",
    "CM1.begin_response",
    "CM2.begin_response",
    "RM1.begin_response",
    "RM2.begin_response",
    "B.response",
    "A.response",
]
END = [
    "C.endcall",
    "CM1.complete_response",
    "CM2.complete_response",
    "RM1.complete_response",
    "RM2.complete_response",
    "B.endcall",
    "A.endcall",
]


async def wait_for_log(entry, timeout=2.0):
    for _ in range(int(timeout / 0.01)):
        if entry in LOG:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{entry} never logged: {LOG}")


async def fetch(path, app=None, **kw):
    app = app or build()
    async with serve(app) as client:
        resp = await client.get(path, **kw)
        await wait_for_log("A.endcall")
        return resp


@pytest.mark.parametrize("path,body", [("/r/sync", b"sync"), ("/r/async", b"async")])
async def test_normal_get_sync_and_async_handler(path, body):
    resp = await fetch(path)
    assert resp.code == 200 and resp.body == body
    assert LOG == REQUEST + ["get"] + RESPONSE + END


async def test_finish_not_awaited_runs_every_hook_once():
    resp = await fetch("/r/finish-noawait")
    assert resp.body == b"finished"
    assert [e for e in LOG if e != "after-finish"] == REQUEST + ["get"] + RESPONSE + END
    assert LOG.count("after-finish") == 1 and LOG.index("after-finish") > LOG.index("get")


async def test_finish_not_awaited_with_plain_hooks_sends_before_finish_returns():
    """Plain ``def`` hooks run synchronously: the response is out, and the end hooks ran,
    before finish() returns. From the first hook returning an awaitable on, the rest of the
    phase runs in a Task of its own (so after finish() returned)."""
    recorder.SYNC_NAMES = {"A", "B", "C"}
    plain = [recorder.make_middleware(n) for n in "ABC"]
    resp = await fetch("/r/finish-noawait", build(plain, common=(), route_modules={}))
    assert resp.body == b"finished"
    requests = ["A.call", "B.call", "C.call", "A.request", "B.request", "C.request"]
    responses = ["C.response", "B.response", "A.response"]
    ends = ["C.endcall", "B.endcall", "A.endcall"]
    assert LOG == requests + ["get"] + responses + ends + ["after-finish"]


async def test_finish_not_awaited_with_a_suspending_hook_still_runs_everything_once():
    recorder.BEHAVIOUR[("B", "response")] = "sleep"
    resp = await fetch("/r/finish-noawait")
    assert resp.body == b"finished"
    assert [e for e in LOG if e != "after-finish"] == REQUEST + ["get"] + RESPONSE + END
    assert LOG.count("after-finish") == 1


async def test_finish_awaited():
    recorder.BEHAVIOUR[("B", "response")] = "sleep"
    resp = await fetch("/r/finish-await")
    assert resp.body == b"finished"
    assert LOG == REQUEST + ["get"] + RESPONSE + END + ["after-finish"]


@pytest.mark.parametrize(
    "path,title", [("/r/render-await", "awaited"), ("/r/render-noawait", "plain")]
)
async def test_render_with_and_without_await(path, title):
    recorder.BEHAVIOUR[("C", "render")] = "sleep"
    resp = await fetch(path)
    assert resp.body.strip() == f"<h1>{title}</h1>".encode()
    render = [
        "C.render:page.html:['title']",
        "CM1.begin_render",
        "CM2.begin_render",
        "RM1.begin_render",
        "RM2.begin_render",
        "B.render:page.html:['title']",
        "A.render:page.html:['title']",
    ]
    tail = ["after-render"] if path.endswith("render-await") else []
    assert LOG == REQUEST + ["get"] + render + RESPONSE + END + tail


async def test_auto_finish():
    resp = await fetch("/r/auto")
    assert resp.code == 200 and resp.body == b""
    assert LOG == REQUEST + ["get"] + RESPONSE + END


async def test_redirect():
    resp = await fetch("/r/redirect")
    assert resp.code == 302 and resp.headers["Location"] == "/r/sync"
    assert LOG == REQUEST + ["get"] + RESPONSE + END


async def test_http_error_without_exception_hooks():
    resp = await fetch("/r/forbidden")
    assert resp.code == 403
    assert LOG == REQUEST + ["get"] + RESPONSE + END


async def test_uncaught_exception_without_process_exception_is_a_plain_500():
    resp = await fetch("/r/boom")
    assert resp.code == 500
    assert b"boom" not in resp.body and b"Traceback" not in resp.body
    assert LOG == REQUEST + ["get"] + RESPONSE + END


def exc_build():
    return build(
        [
            recorder.make_middleware("A", ("call", "request", "response", "endcall", "exception")),
            recorder.make_middleware("B", ("call", "request", "response", "endcall", "exception")),
            MODULES,
            recorder.make_middleware("C"),
        ]
    )


async def test_uncaught_exception_goes_to_process_exception_in_reverse_order():
    resp = await fetch("/r/boom", app=exc_build())
    assert resp.code == 500
    assert (
        LOG
        == REQUEST + ["get", "B.exception:ValueError", "A.exception:ValueError"] + RESPONSE + END
    )


async def test_process_exception_may_send_its_own_response():
    recorder.BEHAVIOUR[("B", "exception")] = "own"
    resp = await fetch("/r/boom", app=exc_build())
    assert resp.code == 418 and resp.body == b"own error page"
    # B returned truthy: A's exception hook is skipped; the response hooks run once
    assert LOG == REQUEST + ["get", "B.exception:ValueError"] + RESPONSE + END


async def test_debug_error_page_shows_the_traceback():
    resp = await fetch("/r/boom", app=build(debug=True))
    assert resp.code == 500 and b"Traceback" in resp.body and b"ValueError: boom" in resp.body


@pytest.mark.parametrize("phase", ["request", "render", "response"])
async def test_a_hook_that_raises_gives_a_500_and_end_hooks_still_run(phase):
    recorder.BEHAVIOUR[("B", phase)] = "raise"
    path = "/r/render-await" if phase == "render" else "/r/sync"
    resp = await fetch(path)
    assert resp.code == 500
    assert b"failed" not in resp.body
    # the rest of that phase did not run (A comes after B in request, before... reverse order)
    if phase == "request":
        assert "CM1.begin_request" not in LOG and "get" not in LOG
    if phase == "response":
        assert "A.response" not in LOG
    log = [e for e in LOG if e != "after-render"]
    assert log[-len(END) :] == END
    assert LOG.count("A.endcall") == 1
    assert LOG.count("C.response") == 1


async def test_a_raising_endcall_hook_is_only_logged(caplog):
    recorder.BEHAVIOUR[("C", "response")] = "chunk"
    app = build(
        [recorder.make_middleware("A"), _RaisingEnd(), recorder.make_middleware("C")], common=()
    )
    async with serve(app) as client:
        resp = await client.get("/r/sync")
        await wait_for_log("X.endcall")
        await asyncio.sleep(0.02)
    assert resp.code == 200 and resp.body == b"[sync]+tail"
    assert "Uncaught exception in process_endcall" in caplog.text
    # the raising hook ended its phase: A's end hook (after it in reverse order) did not run
    assert LOG[-2:] == ["C.endcall", "X.endcall"]
    assert app.inflight == 0


class _RaisingEnd:
    def process_endcall(self, handler, clear):
        LOG.append("X.endcall")
        raise RuntimeError("end hook failed")


async def test_short_circuit_in_process_request():
    recorder.BEHAVIOUR[("B", "request")] = "finish"
    resp = await fetch("/r/sync")
    assert resp.code == 401 and resp.body == b"auth failure."
    assert LOG == ["A.call", "B.call", "C.call", "A.request", "B.request"] + RESPONSE + END


async def test_truthy_return_stops_only_that_phase():
    recorder.BEHAVIOUR[("A", "request")] = "stop"
    resp = await fetch("/r/sync")
    assert resp.code == 200
    assert LOG == ["A.call", "B.call", "C.call", "A.request", "get"] + RESPONSE + END


async def test_truthy_module_return_stops_only_the_remaining_modules():
    recorder.BEHAVIOUR[("CM2", "begin_request")] = "stop"
    resp = await fetch("/r/sync")
    assert resp.code == 200
    expected = [e for e in REQUEST if e not in ("RM1.begin_request", "RM2.begin_request")]
    assert LOG == expected + ["get"] + RESPONSE + END


@pytest.mark.parametrize(
    "phase,expected",
    [
        ("call", ["A.call", "B.call", "get"]),
        ("request", ["A.call", "B.call", "C.call", "A.request", "B.request", "get"]),
        (
            "response",
            REQUEST
            + [
                "get",
                "C.response",
                "CM1.begin_response",
                "CM2.begin_response",
                "RM1.begin_response",
                "RM2.begin_response",
                "B.response",
            ],
        ),
    ],
)
async def test_clear_drops_every_remaining_hook(phase, expected):
    recorder.BEHAVIOUR[("B", phase)] = "clear"
    app = build()
    async with serve(app) as client:
        resp = await client.get("/r/sync")
        await asyncio.sleep(0.05)
    assert resp.code == 200 and resp.body == b"sync"
    assert LOG == expected


async def test_process_call_rewrites_the_path_and_routing_follows():
    recorder.BEHAVIOUR[("A", "call")] = "rewrite"
    resp = await fetch("/r/sync")
    assert resp.body == b"rewritten"
    assert "get:/r/rewritten:call" in LOG


async def test_process_call_http_error_answers_at_once():
    recorder.BEHAVIOUR[("A", "call")] = "http403"
    resp = await fetch("/r/sync")
    assert resp.code == 403
    assert "B.call" not in LOG and "get" not in LOG
    assert (
        LOG[-len(["A.response", "A.endcall"]) :] == ["A.response", "A.endcall"]
        or "A.endcall" in LOG
    )


async def test_process_call_runs_for_unknown_urls_and_modules_do_not():
    resp = await fetch("/nowhere")
    assert resp.code == 404
    assert LOG == [
        "A.call",
        "B.call",
        "C.call",
        "C.response",
        "B.response",
        "A.response",
        "C.endcall",
        "B.endcall",
        "A.endcall",
    ]


async def test_process_response_rewrites_chunks_and_may_write():
    recorder.BEHAVIOUR[("C", "response")] = "chunk"
    resp = await fetch("/r/sync")
    assert resp.body == b"[sync]+tail"
    assert resp.headers["Content-Length"] == str(len(b"[sync]+tail"))


async def test_streamed_response_hooks_run_once_at_the_end():
    resp = await fetch("/r/stream")
    assert resp.body == b"part0;part1;part2;"
    assert LOG == REQUEST + ["get", "flushed"] + RESPONSE + END


async def test_stream_request_body_still_works_with_process_call():
    app = build()
    async with serve(app) as client:
        resp = await client.post("/r/upload", body=b"x" * 100_000)
        await wait_for_log("A.endcall")
    assert resp.body == b"100000"
    assert LOG == REQUEST + ["post"] + RESPONSE + END


async def test_client_disconnect_mid_request_runs_response_and_end_hooks_once():
    app = build()
    async with serve(app) as client:
        sock = socket.create_connection(("127.0.0.1", client.port))
        sock.sendall(b"GET /r/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await wait_for_log("get")
        sock.close()
        await wait_for_log("A.endcall")
        await asyncio.sleep(0.05)
    assert LOG == REQUEST + ["get"] + RESPONSE + END
    assert app.inflight == 0


async def test_on_prepare_and_complete_finish():
    resp = await fetch("/r/hooks")
    assert resp.body == b"hooks"
    await asyncio.sleep(0.02)
    assert LOG == REQUEST + ["on_prepare", "get"] + RESPONSE + END + ["complete_finish"]


async def test_plain_def_and_sync_hooks_run_and_missing_hooks_cost_nothing():
    only_end = recorder.make_middleware("E", ("endcall",))
    app = build([only_end], common=())
    mw = app.middleware
    assert mw.call == () and mw.request == () and mw.response == () and len(mw.endcall) == 1
    async with serve(app) as client:
        resp = await client.get("/r/sync")
        await wait_for_log("E.endcall")
    assert resp.code == 200 and LOG == ["get", "E.endcall"]


async def test_init_and_shutdown_order():
    mws = [recorder.make_middleware(n, ("init", "shutdown")) for n in "ABC"]
    app = build(mws, common=())
    async with serve(app):
        assert LOG == ["A.init", "B.init", "C.init"]
    assert LOG == ["A.init", "B.init", "C.init", "C.shutdown", "B.shutdown", "A.shutdown"]


# ---------------------------------------------------------------------- HTTP module configuration


async def test_route_modules_by_name_and_not_all():
    app = build(
        route_modules={
            "SyncRoute": ["!recorder.CM1", "recorder.RM2"],
            "Plain": ["!all", "recorder.RM1"],
        }
    )
    async with serve(app) as client:
        await client.get("/r/sync")
        await wait_for_log("A.endcall")
        first = list(LOG)
        LOG.clear()
        await client.get("/plain/sync")
        await wait_for_log("A.endcall")
    mods = [e for e in first if e.endswith("begin_request")]
    assert mods == ["CM2.begin_request", "RM2.begin_request"]
    assert [e for e in LOG if e.endswith("begin_request")] == ["RM1.begin_request"]


def test_bang_entry_not_in_common_modules_is_a_startup_error():
    with pytest.raises(ImproperlyConfigured, match=r"recorder\.RM1.*not in COMMON_MODULES"):
        build(route_modules={"^/r/": ["!recorder.RM1"]})


def test_module_that_is_not_a_base_http_module_is_a_startup_error():
    with pytest.raises(ImproperlyConfigured, match="NotAModule.*BaseHttpModule"):
        build(common=("recorder.NotAModule",))


def test_unknown_middleware_path_is_a_startup_error():
    with pytest.raises(ImproperlyConfigured, match="MIDDLEWARE_CLASSES names 'nowhere.Middleware'"):
        build(["nowhere.Middleware"])


async def test_module_chain_is_computed_once_per_route_and_regex_set():
    app = build()
    mw = app.middleware.find(
        __import__("tornadopy.httpmodule.httpmodule", fromlist=["x"]).HttpModuleMiddleware
    )
    async with serve(app) as client:
        for _ in range(3):
            await client.get("/r/sync")
            await client.get("/r/async")
    assert len(mw._chains) == 2  # (SyncRoute, (0,)) and (None, (0,))


class _Resource:
    def process_request(self, handler, clear):
        async def release():
            LOG.append("released")

        handler.add_cleanup(release)
        handler.add_cleanup(lambda: LOG.append("released-first"))


async def test_cleanups_run_even_after_clear_and_in_reverse_order():
    recorder.BEHAVIOUR[("B", "request")] = "clear"
    app = build(
        [_Resource(), recorder.make_middleware("B"), recorder.make_middleware("C")], common=()
    )
    async with serve(app) as client:
        resp = await client.get("/r/sync")
        await wait_for_log("released")
    assert resp.code == 200
    assert "B.endcall" not in LOG  # clear() dropped the end hooks...
    assert LOG[-2:] == ["released-first", "released"]  # ...but not the cleanups
    assert app.inflight == 0
