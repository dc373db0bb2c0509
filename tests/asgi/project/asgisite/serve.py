"""``python -m asgisite.serve SERVER PORT [PROCESSES] [class]``: the site through ``serve_with``.

With ``class``, the project's ``SiteApplication`` is handed over (``serve_with(application=)``).
"""

import os
import sys

os.environ.setdefault("tornadopy_APP_SETTINGS", "asgisite.settings")

from tornadopy.asgi import serve_with

if __name__ == "__main__":
    processes = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    application = None
    if len(sys.argv) > 4 and sys.argv[4] == "class":
        from asgisite.application import SiteApplication as application
    sys.exit(serve_with(sys.argv[1], "127.0.0.1", int(sys.argv[2]), processes, application))
