"""A middleware that records each hook: into a response header, the site's STATE and files."""

import os

from asgisite.state import STATE, record


class RecordingMiddleware:
    def __init__(self):
        self.init_pid = None

    async def process_init(self, application):
        self.init_pid = os.getpid()

    def process_call(self, request, clear):
        request.hooks_seen = ["call"]

    async def process_request(self, handler, clear):
        getattr(handler.request, "hooks_seen", []).append("request")

    def process_response(self, handler, clear, chunk):
        seen = getattr(handler.request, "hooks_seen", [])
        if not handler._headers_written:  # a streamed response has sent its headers already
            handler.set_header("X-Hooks", ",".join([*seen, "response"]))

    async def process_endcall(self, handler, clear):
        token = handler.get_query_argument("token", None)
        if token:
            record(f"endcall:{token}", handler.get_status())

    def process_shutdown(self, application):  # a plain def hook: allowed too
        path = os.environ.get("TP_ASGI_SHUTDOWN_FILE")
        if path:
            with open(path, "a") as fh:
                fh.write(f"shutdown {os.getpid()} init={self.init_pid} state={len(STATE)}\n")
