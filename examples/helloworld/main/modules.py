"""HTTP modules of the example app."""

from tornadopy.httpmodule import BaseHttpModule


class PoweredBy(BaseHttpModule):
    """Adds an ``X-Powered-By`` header to every page (switched off for /api/ in settings)."""

    def begin_request(self, handler, clear):
        handler.set_header("X-Powered-By", "tornadopy")
