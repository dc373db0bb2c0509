from tornadopy import Url, route

u = Url("coreproj.badurls.handlers")
urls = route(u(r"/x", "missing.Handler"))
