"""Middlewares, HTTP modules and handlers that record the hook sequence (pipeline tests)."""

import asyncio

from tornado.web import HTTPError, stream_request_body

from tornadopy.handler import WebHandler
from tornadopy.httpmodule import BaseHttpModule

LOG: list[str] = []
#: (name, phase) -> action: 'stop' (return truthy), 'raise', 'clear', 'finish' (finish + truthy),
#: 'sleep' (really suspend), 'rewrite' (process_call path rewrite), 'own' (exception: own response)
BEHAVIOUR: dict[tuple[str, str], str] = {}


#: names whose hooks are plain ``def`` functions (the pipeline tests run each sequence with
#: async hooks, plain hooks, and a mix, since every phase is sync-first)
SYNC_NAMES: set[str] = set()


def _act_now(name, phase, handler=None, clear=None, chunk=None, request=None, log=True):
    if log:
        LOG.append(f"{name}.{phase}")
    action = BEHAVIOUR.get((name, phase))
    if action == "stop":
        return True
    elif action == "raise":
        raise RuntimeError(f"{name}.{phase} failed")
    elif action == "clear":
        clear()
    elif action == "finish":
        handler.set_status(401)
        handler.finish("auth failure.")
        return True
    elif action == "rewrite":
        request.path = "/r/rewritten"
        request.uri = "/r/rewritten?from=call"
    elif action == "http403":
        raise HTTPError(403)
    elif action == "chunk":
        chunk[0] = b"[" + chunk[0] + b"]" if chunk else b""
        handler.write(b"+tail")
    elif action == "own":
        handler.set_status(418)
        handler.finish("own error page")
        return True
    return None


async def _act(name, phase, handler=None, clear=None, chunk=None, request=None, log=True):
    result = _act_now(name, phase, handler, clear, chunk, request, log)
    if BEHAVIOUR.get((name, phase)) == "sleep":
        await asyncio.sleep(0.01)  # really suspend
    return result


def _hook(name, phase, fn_async, fn_sync):
    """The async or the plain-def variant of a hook, by SYNC_NAMES."""
    return fn_sync if name in SYNC_NAMES else fn_async


def make_middleware(name, phases=("call", "request", "render", "response", "endcall")):
    ns = {}
    if "init" in phases:

        async def process_init(self, application):
            LOG.append(f"{name}.init")

        ns["process_init"] = process_init
    if "call" in phases:

        async def process_call(self, request, clear):
            return await _act(name, "call", clear=clear, request=request)

        def process_call_sync(self, request, clear):
            return _act_now(name, "call", clear=clear, request=request)

        ns["process_call"] = _hook(name, "call", process_call, process_call_sync)
    if "request" in phases:

        async def process_request(self, handler, clear):
            return await _act(name, "request", handler, clear)

        def process_request_sync(self, handler, clear):
            return _act_now(name, "request", handler, clear)

        ns["process_request"] = _hook(name, "request", process_request, process_request_sync)
    if "render" in phases:

        async def process_render(self, handler, clear, template_name, **kwargs):
            LOG.append(f"{name}.render:{template_name}:{sorted(kwargs)}")
            return await _act(name, "render", handler, clear, log=False)

        ns["process_render"] = process_render
    if "response" in phases:

        async def process_response(self, handler, clear, chunk):
            return await _act(name, "response", handler, clear, chunk=chunk)

        def process_response_sync(self, handler, clear, chunk):
            return _act_now(name, "response", handler, clear, chunk=chunk)

        ns["process_response"] = _hook(name, "response", process_response, process_response_sync)
    if "endcall" in phases:

        def process_endcall(self, handler, clear):  # a plain def hook
            LOG.append(f"{name}.endcall")

        async def process_endcall_async(self, handler, clear):
            LOG.append(f"{name}.endcall")

        ns["process_endcall"] = _hook(name, "endcall", process_endcall_async, process_endcall)
    if "exception" in phases:

        async def process_exception(self, handler, clear, typ, value, tb):
            LOG.append(f"{name}.exception:{typ.__name__}")
            action = BEHAVIOUR.get((name, "exception"))
            if action == "own":
                handler.set_status(418)
                await handler.finish("own error page")
                return True
            if action == "raise":
                raise RuntimeError("exception hook failed")
            return None

        ns["process_exception"] = process_exception
    if "shutdown" in phases:

        async def process_shutdown(self, application):
            LOG.append(f"{name}.shutdown")

        ns["process_shutdown"] = process_shutdown
    return type(f"MW{name}", (), ns)


def _module_class(name):
    async def begin_request(self, handler, clear):
        return await _act(name, "begin_request", handler, clear)

    async def begin_render(self, handler, clear, template_name, **kwargs):
        LOG.append(f"{name}.begin_render")

    async def begin_response(self, handler, clear, chunk):
        return await _act(name, "begin_response", handler, clear, chunk=chunk)

    def complete_response(self, handler, clear):
        LOG.append(f"{name}.complete_response")

    return type(
        name,
        (BaseHttpModule,),
        {
            "begin_request": begin_request,
            "begin_render": begin_render,
            "begin_response": begin_response,
            "complete_response": complete_response,
        },
    )


CM1 = _module_class("CM1")
CM2 = _module_class("CM2")
RM1 = _module_class("RM1")
RM2 = _module_class("RM2")


class NotAModule:
    pass


# ---------------------------------------------------------------------- handlers
class Sync(WebHandler):
    def get(self):
        LOG.append("get")
        self.write("sync")


class Async(WebHandler):
    async def get(self):
        await asyncio.sleep(0)
        LOG.append("get")
        self.write("async")


class FinishNoAwait(WebHandler):
    def get(self):
        LOG.append("get")
        self.finish("finished")
        LOG.append("after-finish")


class FinishAwait(WebHandler):
    async def get(self):
        LOG.append("get")
        await self.finish("finished")
        LOG.append("after-finish")


class RenderAwait(WebHandler):
    async def get(self):
        LOG.append("get")
        await self.render("page.html", title="awaited")
        LOG.append("after-render")


class RenderNoAwait(WebHandler):
    def get(self):
        LOG.append("get")
        self.render("page.html", title="plain")


class Auto(WebHandler):
    def get(self):
        LOG.append("get")


class Redirect(WebHandler):
    async def get(self):
        LOG.append("get")
        await self.redirect("/r/sync")


class Forbidden(WebHandler):
    def get(self):
        LOG.append("get")
        raise HTTPError(403)


class Boom(WebHandler):
    async def get(self):
        LOG.append("get")
        raise ValueError("boom")


class Stream(WebHandler):
    async def get(self):
        LOG.append("get")
        for i in range(3):
            self.write(f"part{i};")
            await self.flush()
        LOG.append("flushed")


class Slow(WebHandler):
    async def get(self):
        LOG.append("get")
        await asyncio.sleep(0.3)
        self.write("slow")


class Rewritten(WebHandler):
    def get(self):
        LOG.append(f"get:{self.request.path}:{self.get_argument('from', '')}")
        self.write("rewritten")


@stream_request_body
class Upload(WebHandler):
    def initialize(self, **kwargs):
        self.size = 0

    def data_received(self, chunk):
        self.size += len(chunk)

    def post(self):
        LOG.append("post")
        self.write(str(self.size))


class Hooks(WebHandler):
    async def on_prepare(self):
        LOG.append("on_prepare")

    def get(self):
        LOG.append("get")
        self.write("hooks")

    async def complete_finish(self):
        LOG.append("complete_finish")
