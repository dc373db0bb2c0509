from tornadopy import Url, route

u = Url("main.handlers", site_name="helloworld")

urls = route(
    u(name="Index", pattern=r"/?", handler="main_handler.Index"),
    u(name="Login", pattern=r"/login/?", handler="main_handler.Login"),
    u(name="Profile", pattern=r"/profile/?", handler="main_handler.Profile"),
    u(name="Logout", pattern=r"/logout/?", handler="main_handler.Logout"),
    u(
        name="Hello",
        pattern=r"/hello/(?P<name>\w+)/?",
        handler="main_handler.Hello",
        kwargs={"greeting": "Hello"},
    ),
    u(r"/api/time/?", "api_handler.Time", name="ApiTime"),
)
