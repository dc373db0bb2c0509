"""tornadopy: an async-native, Django-like application framework on Tornado 6.

Public names kept from the original framework::

    from tornadopy import settings, Url, route, include
"""

from tornadopy.conf import settings
from tornadopy.urls import Url, include, route

__version__ = "2.0.0.dev0"
version = __version__

__all__ = ["Url", "__version__", "include", "route", "settings"]
