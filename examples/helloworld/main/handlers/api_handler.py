import time

from tornadopy.handler import ApiHandler


class Time(ApiHandler):
    """GET /api/time?format=json|jsonp&callback=cb"""

    def get(self):
        self.write_api({"time": time.time(), "server": "tornadopy"})
