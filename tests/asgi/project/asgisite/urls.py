from tornadopy import Url, route

u = Url("asgisite.handlers")

urls = route(
    u(r"/ping", "Ping", name="ping"),
    u(r"/hello", "Hello", name="hello"),
    u(r"/info", "Info"),
    u(r"/path/(?P<arg>[^/]+)/tail", "PathArg"),
    u(r"/upload", "Upload"),
    u(r"/echo", "EchoUpload"),
    u(r"/stream", "Stream"),
    u(r"/release", "Release"),
    u(r"/cookies", "Cookies"),
    u(r"/redirect", "Redirect"),
    u(r"/etag", "Etag"),
    u(r"/hooks", "Hooks"),
    u(r"/wait", "Wait"),
    u(r"/state", "State"),
    u(r"/init", "Init"),
    u(r"/boom", "Boom"),
    u(r"/unavailable", "Unavailable"),
    u(r"/ticker", "Ticker"),
    u(r"/slow", "Slow"),
)
