"""The tornadopy exception hierarchy.

Every error tornadopy raises on purpose derives from :class:`TornadopyError`:

- :class:`ImproperlyConfigured` -- a setting is wrong. The message names the setting (and its
  key, e.g. ``SESSION['secret_key']``) and says how to fix it. Raised at start-up.
  :class:`SettingMissing` is the variant raised when a setting that does not exist is read.
- :class:`ServiceUnavailable` -- a backing service (cache, session/token store, database) did not
  answer. Uncaught, it becomes a **503** response (``http_status``); the log line says which
  service. :class:`tornadopy.cache.CacheError` derives from it.

Elsewhere: :class:`tornadopy.template.TemplateNotFound` (also a ``FileNotFoundError``),
:class:`tornadopy.cache.InvalidCacheKey` (also a ``ValueError``).

Exceptions of libraries that mean "a service did not answer" (e.g. SQLAlchemy's
``OperationalError``: the database connection was lost) are registered with
:func:`register_unavailable` by the module that uses the library; uncaught, they are a 503 too.

Exceptions may carry an ``http_status`` attribute: the handler's error path uses it instead of
500 when such an exception escapes a handler (client text stays generic, operator text goes to
the log).
"""

from __future__ import annotations


class TornadopyError(Exception):
    """Base class of every error raised by tornadopy itself."""


class ImproperlyConfigured(TornadopyError):
    """A setting is missing, malformed or unsafe; the message names it and says what to do."""


class SettingMissing(ImproperlyConfigured, AttributeError):
    """A setting that is neither in the user's settings module nor in the defaults was read."""


class ServiceUnavailable(TornadopyError):
    """A backing service did not answer; an uncaught one is answered with HTTP 503."""

    http_status = 503


#: Exception classes (of other libraries) answered with 503 when uncaught; see
#: :func:`register_unavailable`.
UNAVAILABLE: tuple[type[BaseException], ...] = (ServiceUnavailable,)


def register_unavailable(*classes: type[BaseException]) -> None:
    """Answer these exception classes with 503 (not 500) when a handler lets one escape."""
    global UNAVAILABLE
    UNAVAILABLE = tuple(dict.fromkeys(UNAVAILABLE + classes))
