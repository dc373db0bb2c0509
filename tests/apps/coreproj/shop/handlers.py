import asyncio

from tornado.web import RequestHandler

from tornadopy.decorators.whitelist import whitelisted
from tornadopy.handler import ApiHandler, FlashMessageMixIn, WebHandler


class Kwargs(WebHandler):
    def get(self):
        self._url_kwargs["touched"] = True  # must not leak into other handlers
        self.write(dict(self._url_kwargs))


class Reverse(WebHandler):
    def get(self, item_id):
        self.write(self.reverse_url("Item", item_id))


class Plain(RequestHandler):
    def get(self):
        self.write("plain tornado")


class Slow(WebHandler):
    async def get(self):
        await asyncio.sleep(float(self.get_argument("s", "1")))
        self.write("slow done")


class Api(ApiHandler):
    def get(self):
        self.write_api(
            {"ok": True, "items": [1, 2], "text": "é"}, nofail=bool(self.get_argument("nofail", ""))
        )


class Flash(FlashMessageMixIn, WebHandler):
    def get(self):
        self.write({"messages": self.get_flashed_messages()})

    def post(self):
        self.flash("first", "info")
        self.flash("second", "success")
        self.redirect("/flash")


class Secret(WebHandler):
    @whitelisted
    def get(self):
        self.write("secret")


class SecretList(WebHandler):
    @whitelisted(["10.0.0.0/8"])
    async def get(self):
        self.write("secret")


class Boom(WebHandler):
    def get(self):
        raise KeyError("internal detail")
