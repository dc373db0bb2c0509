"""The helloworld site as an ASGI application, for uvicorn or granian.

From this directory::

    uvicorn asgi:application --no-server-header --no-date-header
    granian --interface asgi asgi:application

(``tornadopy runserver --server=uvicorn`` does the same with the right options.)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("tornadopy_APP_SETTINGS", "settings.setting")

from tornadopy.asgi import get_asgi_application

application = get_asgi_application()
