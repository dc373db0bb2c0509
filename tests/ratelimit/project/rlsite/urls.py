import os

from tornadopy import Url, route
from tornadopy.handler import WebHandler
from tornadopy.ratelimit import RateLimitModule


class FivePerMinute(RateLimitModule):
    rate = "5/minute"
    cache_alias = "rl"


class Hit(WebHandler):
    def get(self) -> None:
        self.set_header("X-Served-By", str(os.getpid()))
        self.write("ok")


urls = route(Url("")(r"/hit", Hit, name="Hit"))
