"""Handlers of the reliability test project; every response names the process that served it
(``X-Served-By: <pid>``)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from tornado.escape import json_decode
from tornado.web import HTTPError

from tornadopy.decorators.async_execute import async_execute
from tornadopy.handler import ApiHandler, WebHandler

PID = str(os.getpid())


class Base(WebHandler):
    """Names the serving process in every response; test endpoints change state on GET."""

    def set_default_headers(self) -> None:
        self.set_header("X-Served-By", str(os.getpid()))

    def check_xsrf_cookie(self) -> None:
        pass

    def reply(self, **values: Any) -> None:
        values["pid"] = os.getpid()
        self.write(values)


class Plain(Base):
    def get(self) -> None:
        self.write("ok")


class Pid(Base):
    def get(self) -> None:
        self.reply(ip=self.request.remote_ip, scheme=self.request.protocol)


class SessionOps(Base):
    """``/s/login?user=``, ``/s/whoami``, ``/s/put?i=``, ``/s/logout``."""

    async def get(self, op: str) -> None:
        s = self.session
        if op == "login":
            await s.cycle_key()
            await s.set("user", self.get_argument("user"))
            await s.set("last", 0)
        elif op == "put":
            await s.set("last", int(self.get_argument("i")))
        elif op == "logout":
            await s.flush()
        elif op != "whoami":
            raise HTTPError(404)
        self.reply(user=await s.get("user"), last=await s.get("last"))


class TokenOps(Base):
    """``/t/login?uid=``, ``/t/whoami`` (401 without a valid token), ``/t/revoke``."""

    async def get(self, op: str) -> None:
        t = self.token
        if op == "login":
            self.reply(token=await t.save({"userID": self.get_argument("uid")}))
            return
        if op == "revoke":
            self.reply(revoked=await t.expire())
            return
        if op != "whoami":
            raise HTTPError(404)
        user = await t.get_current_user()
        if user is None:
            raise HTTPError(401)
        self.reply(user=user)


class Slow(Base):
    async def get(self) -> None:
        await asyncio.sleep(float(self.get_argument("s", "2")))
        self.write("slow done")


class Blocking(Base):
    """Blocks a thread of the shared pool for ``s`` seconds."""

    async def get(self) -> None:
        self.reply(thread=await self.sleep_in_thread(float(self.get_argument("s", "0.5"))))

    @async_execute
    def sleep_in_thread(self, seconds: float) -> str:
        import threading

        time.sleep(seconds)
        return threading.current_thread().name


class DbRead(Base):
    """A read through the request's database session (replica first, master fallback)."""

    async def get(self) -> None:
        from sqlalchemy import text

        from relsite.models import Probe

        row = (await Probe.session.execute(text("SELECT @@server_id, SLEEP(0.01)"))).one()
        self.reply(server_id=row[0])


class Echo(ApiHandler):
    """An API that parses what the client sends: query arguments on GET, a JSON body on POST;
    answers with ``write_api`` in the requested ``format`` (``callback`` for JSONP)."""

    def set_default_headers(self) -> None:
        self.set_header("X-Served-By", str(os.getpid()))

    def get(self) -> None:
        args = {k: self.get_argument(k) for k in self.request.arguments}
        self.write_api({"args": args}, ensure_ascii=self.get_argument("ascii", "1") == "1")

    def post(self) -> None:
        try:
            value = json_decode(self.request.body)
        except (ValueError, RecursionError) as exc:
            raise HTTPError(400, "body is not JSON", reason="Bad JSON") from exc
        ascii_only = self.get_argument("ascii", "1") == "1"
        self.write_api({"echo": value}, ensure_ascii=ascii_only)


class SessionEcho(Base):
    """Loads the session the cookie names (whatever it holds) and reports it."""

    async def get(self) -> None:
        self.reply(user=await self.session.get("user"), new=self.session.is_new)


class TokenEcho(Base):
    """Checks the token the client sent (Bearer or tokenID), whatever it holds."""

    async def get(self) -> None:
        self.reply(user=await self.token.get_current_user())
