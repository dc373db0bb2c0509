"""Pages of the example site: a home page, log-in / profile / log-out on a session, and hello.

The session lives in the ``default`` cache alias (local memory here; point
``SESSION['session_cache_alias']`` at a Redis or memcached alias when several processes serve
the site). Every session call is awaited.
"""

import time

from tornado.httputil import url_concat
from tornado.web import authenticated

from tornadopy.handler import FlashMessageMixIn, WebHandler

REMEMBER_ME = 30 * 24 * 60 * 60  # seconds the "remember me" box keeps a session


class SiteHandler(FlashMessageMixIn, WebHandler):
    """Base of the site's pages: ``current_user`` is the name stored in the session."""

    async def on_prepare(self):
        # No cookie, no store call: anonymous visitors cost nothing here.
        self.current_user = await self.session.get("user")


class Index(SiteHandler):
    async def get(self):
        await self.render("index.html", site_name=self._url_kwargs["site_name"])


class Login(SiteHandler):
    async def get(self):
        await self.render("login.html", next_url=self.get_argument("next", ""))

    async def post(self):
        name = self.get_argument("username", "").strip()
        next_url = self.get_safe_redirect(self.get_argument("next", None), "/")
        if not name:
            self.flash("Please enter a name.", "error")
            await self.redirect(url_concat(self.reverse_url("Login"), {"next": next_url}))
            return
        if self.current_user not in (None, name):
            await self.session.flush()  # another user's data must not carry over
        await self.session.cycle_key()  # a new id at log-in defeats session fixation
        await self.session.set("user", name)
        await self.session.set("logged_in_at", time.strftime("%Y-%m-%d %H:%M:%S"))
        if self.get_argument("remember", ""):
            await self.session.set_expire(REMEMBER_ME)
        self.flash(f"Welcome, {name}!", "success")
        await self.redirect(next_url)


class Profile(SiteHandler):
    @authenticated  # anonymous: redirect to TORNADO_CONF['login_url']?next=/profile
    async def get(self):
        visits = await self.session.get("visits", 0) + 1
        await self.session.set("visits", visits)
        await self.render("profile.html", data=sorted(await self.session.items()))


class Logout(SiteHandler):
    async def post(self):
        await self.session.flush()  # data, stored session and cookie: all gone
        self.flash("You have been logged out.", "info")
        await self.redirect(self.reverse_url("Index"))


class Hello(WebHandler):
    def get(self, name):
        self.write(f"{self._url_kwargs['greeting']}, {name}!")
