"""The helloworld example site in a real Chromium: log in, flash, session data, log out.

Each step is saved as a screenshot under ``test-artifacts/browser/<test name>/`` (or
``$TORNADOPY_BROWSER_ARTIFACTS``). The site runs as its own process (see ``conftest.py``).
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

from .conftest import http_get

try:
    from playwright.sync_api import expect
except ImportError:  # the ``chromium`` fixture skips, or fails under CI, saying so
    expect = None

SESSION_COOKIE = "__TORNADOSSID"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def path_is(path):
    return lambda url: urlsplit(url).path == path


def session_cookies(context, site):
    return [c for c in context.cookies(site.base_url) if c["name"] == SESSION_COOKIE]


def test_login_flash_profile_logout_and_the_old_cookie_is_dead(browser, example_site, artifacts):
    site, page = example_site, browser.pages[0]

    # 1. the home page, anonymous
    page.goto(site.url("/"))
    expect(page.locator("h1")).to_have_text("Welcome to helloworld")
    expect(page.locator("#login-link")).to_be_visible()
    expect(page.locator("#whoami")).to_have_count(0)
    assert session_cookies(browser, site) == []  # an unused session sets no cookie
    artifacts.shot(page, "home-anonymous")

    # 2. the log-in form carries an XSRF token
    page.click("#login-link")
    page.wait_for_url(path_is("/login/"))
    expect(page.locator("h1")).to_have_text("Log in")
    xsrf = page.locator("#login-form input[name=_xsrf]")
    assert len(xsrf.get_attribute("value") or "") > 20
    artifacts.shot(page, "login-form")

    # a POST without the token is refused: the form's token is what lets the log-in through
    refused = browser.request.post(site.url("/login"), form={"username": "mallory"})
    assert refused.status == 403

    # 3. fill the form and submit it
    page.fill("#username", "alice")
    artifacts.shot(page, "login-filled")
    with page.expect_request(lambda r: r.method == "POST") as posted:
        page.click("#submit")
    form = parse_qs(posted.value.post_data or "")
    assert form["username"] == ["alice"] and form["_xsrf"][0]

    # 4. redirected home, with the flash message and the user in the navigation bar
    page.wait_for_url(path_is("/"))
    expect(page.locator("#flashed .flash-success")).to_have_text("Welcome, alice!")
    expect(page.locator("#whoami")).to_contain_text("alice")
    artifacts.shot(page, "after-login-flash")

    (cookie,) = session_cookies(browser, site)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert cookie["expires"] == -1  # no "remember me": a browser-session cookie

    # 5. another page shows the session data; the flash was shown once and is gone
    page.click("#profile-link")
    page.wait_for_url(path_is("/profile/"))
    expect(page.locator("h1")).to_have_text("Profile of alice")
    expect(page.locator("#session-user")).to_have_text("alice")
    expect(page.locator("#session-visits")).to_have_text("1")
    expect(page.locator("#session-logged_in_at")).to_have_text(TIMESTAMP)
    expect(page.locator("#flashed")).to_have_count(0)
    page.reload()
    expect(page.locator("#session-visits")).to_have_text("2")  # the session was written back
    artifacts.shot(page, "profile-session-data")
    old_cookie = session_cookies(browser, site)[0]
    assert old_cookie["value"] == cookie["value"]

    # 6. log out (a POST form with its own XSRF token), see the flash
    page.click("#logout")
    page.wait_for_url(path_is("/"))
    expect(page.locator("#flashed .flash-info")).to_have_text("You have been logged out.")
    expect(page.locator("#login-link")).to_be_visible()
    expect(page.locator("#whoami")).to_have_count(0)
    assert session_cookies(browser, site) == []  # the browser was told to drop it
    artifacts.shot(page, "after-logout-flash")

    # 7. the old cookie, put back into the browser, no longer logs anyone in
    browser.add_cookies([old_cookie])
    assert session_cookies(browser, site)[0]["value"] == old_cookie["value"]
    page.goto(site.url("/profile"))  # returns once the page the redirects lead to has loaded
    assert urlsplit(page.url).path == "/login", f"the old cookie still opened {page.url}"
    assert parse_qs(urlsplit(page.url).query) == {"next": ["/profile"]}
    expect(page.locator("h1")).to_have_text("Log in")
    expect(page.locator("#whoami")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("alice")
    artifacts.shot(page, "old-cookie-refused")

    # ... and the same through a plain HTTP client: a redirect to the log-in page
    resp = http_get(site.port, "/profile", {"Cookie": f"{SESSION_COOKIE}={old_cookie['value']}"})
    assert resp.status == 302
    assert resp.getheader("Location") == "/login?next=%2Fprofile"


def test_profile_sends_anonymous_users_to_login_and_back_remembered(
    browser, example_site, artifacts
):
    site, page = example_site, browser.pages[0]

    page.goto(site.url("/profile"))
    page.wait_for_url(path_is("/login"))
    expect(page.locator("#login-form input[name=next]")).to_have_value("/profile")
    artifacts.shot(page, "login-with-next")

    page.fill("#username", "bob")
    page.check("#remember")
    page.click("#submit")
    page.wait_for_url(path_is("/profile"))
    expect(page.locator("#flashed .flash-success")).to_have_text("Welcome, bob!")
    expect(page.locator("#session-user")).to_have_text("bob")
    artifacts.shot(page, "profile-after-login")

    (cookie,) = session_cookies(browser, site)
    thirty_days = 30 * 24 * 60 * 60
    assert abs(cookie["expires"] - (time.time() + thirty_days)) < 120  # "remember me"


def test_login_refuses_an_off_site_next(browser, example_site, artifacts):
    site, page = example_site, browser.pages[0]

    page.goto(site.url("/login?next=//evil.example/steal"))
    page.fill("#username", "carol")
    page.click("#submit")
    page.wait_for_url(path_is("/"))
    assert urlsplit(page.url).netloc == f"127.0.0.1:{site.port}"
    expect(page.locator("#flashed .flash-success")).to_have_text("Welcome, carol!")
    artifacts.shot(page, "offsite-next-refused")
