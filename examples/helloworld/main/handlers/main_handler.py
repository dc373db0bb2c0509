from tornadopy.handler import FlashMessageMixIn, WebHandler


class Index(FlashMessageMixIn, WebHandler):
    async def get(self):
        await self.render("index.html", site_name=self._url_kwargs["site_name"])


class Login(FlashMessageMixIn, WebHandler):
    async def get(self):
        await self.render("login.html")

    async def post(self):
        name = self.get_argument("username", "").strip()
        if not name:
            self.flash("Please enter a name.", "error")
            await self.redirect(self.reverse_url("Login"))
            return
        self.flash(f"Welcome, {name}!", "success")
        await self.redirect(self.reverse_url("Index"))


class Hello(WebHandler):
    def get(self, name):
        self.write(f"{self._url_kwargs['greeting']}, {name}!")
