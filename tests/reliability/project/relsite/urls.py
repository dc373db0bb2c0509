from tornadopy import Url, route

u = Url("relsite.handlers")
urls = route(
    u(r"/plain", "Plain"),
    u(r"/pid", "Pid"),
    u(r"/s/(\w+)", "SessionOps"),
    u(r"/t/(\w+)", "TokenOps"),
    u(r"/slow", "Slow"),
    u(r"/blocking", "Blocking"),
    u(r"/db/read", "DbRead"),
    u(r"/api/echo", "Echo"),
    u(r"/session/echo", "SessionEcho"),
    u(r"/token/echo", "TokenEcho"),
)
