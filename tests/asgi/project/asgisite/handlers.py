import asyncio
import hashlib
import os

import tornado.web
from tornado.iostream import StreamClosedError

from asgisite.middleware import RecordingMiddleware
from asgisite.state import STATE, event, record
from tornadopy.exception import ServiceUnavailable
from tornadopy.handler import WebHandler


class Ping(WebHandler):
    def get(self):
        self.write("pong")


class Hello(WebHandler):
    def get(self):
        self.write("hello")

    def head(self):
        self.write("hello")  # Tornado sends the headers (Content-Length 5) and no body

    def post(self):
        self.write(
            {
                "name": self.get_body_argument("name", None),
                "body_len": len(self.request.body),
                "sha": hashlib.sha256(self.request.body).hexdigest(),
            }
        )


class Info(WebHandler):
    def get(self):
        r = self.request
        self.write(
            {
                "remote_ip": r.remote_ip,
                "protocol": r.protocol,
                "host": r.host,
                "version": r.version,
                "uri": r.uri,
                "path": r.path,
                "query": r.query,
                "pid": os.getpid(),
                "app_class": type(self.application).__name__,
            }
        )


class PathArg(WebHandler):
    def get(self, arg):
        self.write({"arg": arg, "uri": self.request.uri})


@tornado.web.stream_request_body
class Upload(WebHandler):
    """Counts and hashes the body as it streams in; raises its own size limit."""

    def prepare(self):
        self.request.connection.set_max_body_size(1024 * 1024)
        self.size = 0
        self.chunks = 0
        self.hash = hashlib.sha256()
        return super().prepare()

    async def data_received(self, chunk):
        self.size += len(chunk)
        self.chunks += 1
        self.hash.update(chunk)
        await asyncio.sleep(0)

    def post(self):
        self.write({"size": self.size, "chunks": self.chunks, "sha": self.hash.hexdigest()})

    put = post

    def on_connection_close(self):
        token = self.get_query_argument("token", None)
        if token:
            record(f"upload-closed:{token}", self.size)
        super().on_connection_close()


@tornado.web.stream_request_body
class EchoUpload(WebHandler):
    """Writes each body chunk back as it arrives, waiting for the flush (full duplex)."""

    def prepare(self):
        self.request.connection.set_max_body_size(1024 * 1024)
        self.size = 0
        return super().prepare()

    async def data_received(self, chunk):
        self.size += len(chunk)
        self.write(chunk.upper())
        await self.flush()

    def post(self):
        self.write(f"|{self.size}")


class Stream(WebHandler):
    """Sends a first chunk, then waits until /release?token=... before the rest."""

    async def get(self):
        token = self.get_query_argument("token")
        self.write("first\n")
        await self.flush()
        try:
            await asyncio.wait_for(event(token).wait(), 10)
        except TimeoutError:
            self.write("timeout\n")
        for i in range(3):
            self.write(f"chunk-{i}\n")
            await self.flush()
        self.write("last\n")


class Release(WebHandler):
    def get(self):
        event(self.get_query_argument("token")).set()
        self.write("released")


class Cookies(WebHandler):
    def get(self):
        self.set_cookie("first", "1")
        self.set_cookie("second", "2", httponly=True)
        self.set_signed_cookie("signed", "3")
        self.write("cookies")


class Redirect(WebHandler):
    def get(self):
        permanent = self.get_query_argument("permanent", "") == "1"
        self.redirect("/hello", permanent=permanent)


class Etag(WebHandler):
    def get(self):
        self.write("the same content every time")


class Hooks(WebHandler):
    def get(self):
        self.write("hooks:" + ",".join(getattr(self.request, "hooks_seen", [])))


class Wait(WebHandler):
    """Waits (up to 10 s) for /release?token=...; records a client that went away."""

    async def get(self):
        token = self.get_query_argument("token")
        try:
            await asyncio.wait_for(event(token).wait(), 10)
        except TimeoutError:
            record(f"wait-timeout:{token}", True)
        if not self._finished:
            self.write("done")

    def on_connection_close(self):
        record(f"wait-closed:{self.get_query_argument('token')}", True)
        super().on_connection_close()


class State(WebHandler):
    def get(self):
        self.write({"state": STATE, "pid": os.getpid()})


class Init(WebHandler):
    def get(self):
        mw = self.application.middleware.find(RecordingMiddleware)
        self.write({"init_pid": mw.init_pid if mw else None, "pid": os.getpid()})


class Boom(WebHandler):
    def get(self):
        raise ValueError("boom")


class Unavailable(WebHandler):
    def get(self):
        raise ServiceUnavailable("try later")


class Ticker(WebHandler):
    """Streams a tick every 50 ms (up to 10 s); records how the stream ended. No
    on_connection_close of its own: a failed flush is how it learns the client left."""

    async def get(self):
        token = self.get_query_argument("token")
        for i in range(200):
            self.write(f"tick {i}\n")
            try:
                await self.flush()
            except StreamClosedError:
                record(f"ticker-stopped:{token}", i)
                return
            await asyncio.sleep(0.05)
        record(f"ticker-stopped:{token}", "never")


class Slow(WebHandler):
    async def get(self):
        await asyncio.sleep(float(self.get_query_argument("seconds", "1")))
        self.write("slow done")
