"""The test site with a middleware path that does not exist: start-up must fail, naming it."""

from asgisite.settings import *  # noqa: F403

MIDDLEWARE_CLASSES = ("asgisite.middleware.NoSuchMiddleware",)
