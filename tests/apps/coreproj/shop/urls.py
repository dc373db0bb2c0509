from coreproj.shop.handlers import Plain
from tornadopy import Url, include, route

u = Url("coreproj.shop.handlers", shared="url", both="url")
urls = route(
    u(name="KwA", pattern=r"/kw/a", handler="Kwargs", kwargs={"both": "routeA"}),
    u(r"/kw/b", "Kwargs", {"own": "b"}, "KwB"),
    u(r"/item/(\d+)", "Reverse", name="Item"),
    Url()(r"/plain", Plain),
    u(r"/slow", "Slow"),
    u(r"/api", "Api"),
    u(r"/flash", "Flash"),
    u(r"/secret", "Secret"),
    u(r"/secret-list", "SecretList"),
    u(r"/boom", "Boom"),
    include("/sub/", "coreproj.shop.suburls.URLS"),
)
